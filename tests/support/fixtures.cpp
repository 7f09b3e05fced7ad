#include "support/fixtures.h"

#include "model/random_gpt2.h"
#include "tokenizer/byte_level_bpe.h"
#include "weights/hf_model_writer.h"

#include <fstream>
#include <sstream>

namespace distgpt::test {

Gpt2Config small_config(int layers, int heads, int embd, int vocab, int positions) {
    Gpt2Config c;
    c.n_layer = layers;
    c.n_head = heads;
    c.n_embd = embd;
    c.vocab_size = vocab;
    c.n_positions = positions;
    c.eos_token_id = vocab - 1;
    return c;
}

std::filesystem::path write_random_model(const std::filesystem::path& dir, const Gpt2Config& config, uint64_t seed) {
    RandomGpt2Source source(config, seed);
    auto tokenizer = ByteLevelBpe::bytes_only(config.vocab_size - 1);
    write_hf_gpt2_folder(dir, config, source, *tokenizer);
    return dir;
}

std::filesystem::path path_of(const QTemporaryDir& dir) { return dir.path().toStdString(); }

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace distgpt::test
