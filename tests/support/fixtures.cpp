#include "support/fixtures.h"

#include "model/random_model.h"
#include "tokenizer/byte_level_bpe.h"
#include "weights/hf_model_writer.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
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

int free_tcp_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t n = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
    ::close(s);
    return ntohs(a.sin_port);
}

bool listening_on(int port) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

}  // namespace distgpt::test
