#pragma once
#include "util/child_process.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace distgpt::test {

class TestNetwork;

// A real OpenSSH server (Debian's openssh-server) on a test host, port 22,
// with a host key and one user key made for the test; root may log in with
// that key, nobody else can. client_command() is the ssh command, with a
// config naming the key and the host key, that reaches it.
class TestSshd {
public:
    TestSshd(const TestNetwork& network, int host, const std::filesystem::path& dir);
    ~TestSshd();

    // Why no sshd can run here (not installed), or nullopt.
    static std::optional<std::string> unavailable();

    // "ssh -F <config>": for $DISTGPT_SSH.
    std::string client_command() const;
    const std::filesystem::path& client_config() const { return client_config_; }
    const std::filesystem::path& user_key() const { return user_key_; }
    const std::filesystem::path& known_hosts() const { return known_hosts_; }
    // What sshd reported (its errors), for a failing test's message.
    std::string log() const;

private:
    std::filesystem::path client_config_, user_key_, known_hosts_;
    std::unique_ptr<ChildProcess> sshd_;
};

}  // namespace distgpt::test
