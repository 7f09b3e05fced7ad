#pragma once
#include "net/curve_keys.h"
#include "net/endpoint.h"
#include "runtime/controller/launched_worker.h"
#include "util/child_process.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

// What to start on a host reached by ssh.
struct SshLaunch {
    net::SshTarget target;
    std::string name;
    int threads = 1;
    int64_t memory_limit = 0;
    std::string program = "distgpt-worker";  // on that host: a path, or a name on its PATH
    std::string model_dir;                   // a model folder on that host, if it has one
};

// A distgpt-worker this controller started on another host through the
// system's OpenSSH client (batch mode: the user's own keys, agent and
// ~/.ssh/config; $DISTGPT_SSH replaces the `ssh` command, e.g. "ssh -F
// my_config"). The worker gets a fresh CURVE key pair for this run and this
// controller's public key over the ssh channel, binds the address ssh
// reached, and exits when the ssh session ends: when this is destroyed, or
// when this process dies however it dies.
class SshWorker : public LaunchedWorker {
public:
    // Throws Error for what the user must fix (authentication refused, the
    // host key unknown, distgpt-worker not installed there, another
    // version), WorkerGone when the host cannot be reached or the worker
    // ended as it started.
    SshWorker(const SshLaunch& launch, const net::KeyPair& controller_keys);
    ~SshWorker() override = default;

    const std::string& endpoint() const override { return endpoint_; }
    const std::string& server_key() const override { return keys_.public_key; }
    std::optional<std::string> exited() override;

    // The ssh command and its arguments, up to and including the host.
    static std::vector<std::string> ssh_command(const net::SshTarget& target);
    // The line the remote shell runs.
    static std::string remote_command(const SshLaunch& launch);

private:
    [[noreturn]] void fail(const SshLaunch& launch, const std::string& seen);

    net::KeyPair keys_;
    std::unique_ptr<ChildProcess> ssh_;
    std::string endpoint_;
};

}  // namespace distgpt
