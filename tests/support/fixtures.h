#pragma once
#include "weights/model_config.h"

#include <QTemporaryDir>

#include <filesystem>
#include <string>

namespace distgpt::test {

// A small GPT-2 shape for tests: fast, but with every feature of the real one.
ModelConfig small_config(int layers = 4, int heads = 4, int embd = 64, int vocab = 257, int positions = 128);

// Writes a seeded random model of `config` as a Hugging Face folder in `dir`
// with the byte-level tokenizer; returns dir.
std::filesystem::path write_random_model(const std::filesystem::path& dir, const ModelConfig& config, uint64_t seed = 1);

std::filesystem::path path_of(const QTemporaryDir& dir);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);

// A TCP port on the loopback nothing listens on now (a worker told to bind it soon).
int free_tcp_port();
// Something listens on the loopback at `port`.
bool listening_on(int port);

}  // namespace distgpt::test
