#include "support/fixtures.h"

#include "model/random_model.h"
#include "tokenizer/byte_level_bpe.h"
#include "weights/hf_model_writer.h"

#include <fstream>
#include <sstream>

namespace distgpt::test {

ModelConfig small_config(int layers, int heads, int embd, int vocab, int positions) {
    ModelConfig c;
    c.n_layer = layers;
    c.n_head = heads;
    c.n_embd = embd;
    c.vocab_size = vocab;
    c.n_positions = positions;
    c.eos_token_id = vocab - 1;
    return c;
}

std::filesystem::path write_random_model(const std::filesystem::path& dir, const ModelConfig& config, uint64_t seed) {
    RandomModelSource source(config, seed);
    auto tokenizer = ByteLevelBpe::bytes_only(config.vocab_size - 1);
    write_hf_model_folder(dir, config, source, *tokenizer);
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
