#pragma once
#include <filesystem>
#include <set>
#include <string>

namespace distgpt::net {

// A CURVE key pair, Z85-encoded (40 characters each), as libzmq uses them.
struct KeyPair {
    std::string public_key, secret_key;
    bool empty() const { return public_key.empty(); }
};

KeyPair generate_key_pair();
// NAME.key: "public <z85>\nsecret <z85>\n", mode 0600; NAME.pub: "<z85>\n".
void write_key_pair(const KeyPair& keys, const std::filesystem::path& stem);
KeyPair read_key_pair(const std::filesystem::path& key_file);                   // throws Error naming the file
std::set<std::string> read_authorized_keys(const std::filesystem::path& file);  // one Z85 key per line; lines starting with # are comments

}  // namespace distgpt::net
