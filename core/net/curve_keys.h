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

// What a controller that starts a worker (over ssh) hands it through the
// starting channel, never a file or a command line: the worker's key pair
// for this run and the one controller key it admits. Three lines,
// "public <z85>", "secret <z85>", "authorized <z85>".
struct HandedKeys {
    KeyPair worker;
    std::string controller;  // public key
};
std::string handed_keys_text(const HandedKeys& keys);
HandedKeys parse_handed_keys(const std::string& text, const std::string& origin);  // throws Error naming `origin`

}  // namespace distgpt::net
