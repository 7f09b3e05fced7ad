#include "net/curve_keys.h"

#include "util/error.h"

#include <zmq.h>

#include <fstream>
#include <sstream>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace distgpt::net {

namespace {

bool valid_z85_key(const std::string& key) {
    uint8_t raw[32];
    return key.size() == 40 && zmq_z85_decode(raw, key.c_str()) != nullptr;
}

}  // namespace

KeyPair generate_key_pair() {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) throw Error("this libzmq was built without CURVE support (libsodium); keys are unavailable");
    return {pub, sec};
}

void write_key_pair(const KeyPair& keys, const std::filesystem::path& stem) {
    const auto key = stem.string() + ".key", pub = stem.string() + ".pub";
    // The secret half is private from its first byte: created 0600, and an
    // older file of that name is made 0600 before it is overwritten.
    const int fd = ::open(key.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw Error("cannot write " + key + ": " + std::strerror(errno));
    const std::string text = "public " + keys.public_key + "\nsecret " + keys.secret_key + "\n";
    const bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int err = errno;
    ::close(fd);
    if (!ok) throw Error("cannot write " + key + ": " + std::strerror(err));
    std::ofstream out(pub, std::ios::trunc);
    out << keys.public_key << "\n";
    if (!out) throw Error("cannot write " + pub);
}

KeyPair read_key_pair(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw Error("cannot open key file " + file.string());
    KeyPair k;
    for (std::string word, value; in >> word >> value;) {
        if (word == "public")
            k.public_key = value;
        else if (word == "secret")
            k.secret_key = value;
    }
    if (!valid_z85_key(k.public_key) || !valid_z85_key(k.secret_key))
        throw Error(file.string() + ": not a key pair written by `distgpt-cli keygen` (\"public <z85>\" and \"secret <z85>\" lines)");
    return k;
}

std::string handed_keys_text(const HandedKeys& keys) {
    return "public " + keys.worker.public_key + "\nsecret " + keys.worker.secret_key + "\nauthorized " + keys.controller + "\n";
}

HandedKeys parse_handed_keys(const std::string& text, const std::string& origin) {
    std::istringstream in(text);
    HandedKeys k;
    for (std::string word, value; in >> word >> value;) {
        if (word == "public")
            k.worker.public_key = value;
        else if (word == "secret")
            k.worker.secret_key = value;
        else if (word == "authorized")
            k.controller = value;
    }
    if (!valid_z85_key(k.worker.public_key) || !valid_z85_key(k.worker.secret_key) || !valid_z85_key(k.controller))
        throw Error(origin + ": expected \"public <z85>\", \"secret <z85>\" and \"authorized <z85>\" lines from the controller");
    return k;
}

std::set<std::string> read_authorized_keys(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw Error("cannot open authorized keys file " + file.string());
    std::set<std::string> keys;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.erase(0, 1);
        if (line.empty() || line[0] == '#') continue;  // a comment is a whole line: Z85 keys may contain '#'
        if (!valid_z85_key(line))
            throw Error(file.string() + ":" + std::to_string(n) + ": not a public key (40 Z85 characters, as in a .pub file)");
        keys.insert(line);
    }
    return keys;
}

}  // namespace distgpt::net
