// Any bytes as tokenizer files (vocab.json + merges.txt, split by the first
// newline-newline), then as text to encode: never a crash, and a successful
// encode decodes back to the text.
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::filesystem::path dir = "/tmp/distgpt-fuzz-tok-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const std::string all(reinterpret_cast<const char*>(data), size);
    const auto split = all.find("\n\n");
    const std::string vocab = all.substr(0, split), rest = split == std::string::npos ? "" : all.substr(split + 2);
    const auto split2 = rest.find("\n\n");
    const std::string merges = rest.substr(0, split2), text = split2 == std::string::npos ? "hello" : rest.substr(split2 + 2);
    std::ofstream(dir / "vocab.json", std::ios::trunc) << vocab;
    std::ofstream(dir / "merges.txt", std::ios::trunc) << merges;
    std::filesystem::remove(dir / "tokenizer_config.json");
    try {
        const auto tok = distgpt::load_tokenizer(dir);
        const auto ids = tok->encode(text);
        if (tok->decode(ids) != text) __builtin_trap();
    } catch (const distgpt::Error&) {}
    return 0;
}
