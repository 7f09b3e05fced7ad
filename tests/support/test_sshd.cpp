#include "support/test_sshd.h"

#include "support/test_network.h"
#include "util/error.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace distgpt::test {
namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";

void write(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file);
    out << text;
    if (!out) throw Error("cannot write " + file.string());
}

std::string read(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void make_key(const std::filesystem::path& file) {
    std::filesystem::remove(file);
    std::filesystem::remove(file.string() + ".pub");
    if (std::system(("ssh-keygen -q -t ed25519 -N '' -f " + file.string() + " >/dev/null").c_str()) != 0)
        throw Error("ssh-keygen could not make " + file.string());
}

}  // namespace

std::optional<std::string> TestSshd::unavailable() {
    if (!std::filesystem::exists(kSshd))
        return std::string(kSshd) + " is not installed (apt install openssh-server; scripts/setup.sh does)";
    if (std::system("command -v ssh >/dev/null && command -v ssh-keygen >/dev/null") != 0) return "the OpenSSH client is not installed";
    return std::nullopt;
}

TestSshd::TestSshd(const TestNetwork& network, int host, const std::filesystem::path& dir) {
    // One user key and one client config for every test host in `dir`.
    std::filesystem::create_directories(dir);
    std::filesystem::create_directories("/run/sshd");  // its privilege separation directory
    const std::string address = network.address(host);
    const auto host_key = dir / ("host_key_" + address);
    user_key_ = dir / "user_key";
    make_key(host_key);
    if (!std::filesystem::exists(user_key_)) make_key(user_key_);
    write(dir / "authorized_keys_root", read(user_key_.string() + ".pub"));
    const auto config = dir / ("sshd_config_" + address);
    write(config, "ListenAddress " + address + ":22\nHostKey " + host_key.string() + "\nAuthorizedKeysFile " +
                      (dir / "authorized_keys_%u").string() +
                      "\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                      "StrictModes no\nUsePAM no\nPidFile none\nLogLevel ERROR\n");
    known_hosts_ = dir / "known_hosts";
    std::ofstream(known_hosts_, std::ios::app) << address << " " << read(host_key.string() + ".pub");
    client_config_ = dir / "ssh_config";
    write(client_config_, "Host *\n  IdentityFile " + user_key_.string() + "\n  IdentitiesOnly yes\n  UserKnownHostsFile " +
                              known_hosts_.string() + "\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n");
    auto argv = network.launcher(host);
    argv.insert(argv.end(), {kSshd, "-D", "-e", "-f", config.string()});
    sshd_ = std::make_unique<ChildProcess>(argv, ChildProcess::Stderr::Capture);
    // Listening once a connection is accepted (or refused by a key, never by the port).
    for (int i = 0; i < 100; ++i) {
        if (sshd_->exited()) throw Error("sshd on test host " + address + " " + *sshd_->exited() + ": " + sshd_->captured_stderr());
        const std::string check = "ip netns exec " + network.name(host) + " sh -c 'ss -Hltn \"sport = :22\" | grep -q .'";
        if (std::system(check.c_str()) == 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw Error("sshd on test host " + address + " did not listen within 5 s: " + sshd_->captured_stderr());
}

TestSshd::~TestSshd() = default;

std::string TestSshd::client_command() const { return "ssh -F " + client_config_.string(); }

std::string TestSshd::log() const { return sshd_ ? sshd_->captured_stderr() : std::string(); }

}  // namespace distgpt::test
