#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

namespace net {
struct KeyPair;
}

// The controller's side of the heartbeat: its own thread sends one to every
// worker each 500 ms on their heartbeat sockets and notes each answer. A
// worker silent for `timeout_ms` is dead.
class ClusterHeartbeats {
public:
    // server_keys[i]: node i's CURVE public key, "" when it does not authenticate.
    ClusterHeartbeats(std::vector<std::string> endpoints, std::vector<std::string> server_keys, const net::KeyPair& own,
                      std::string controller, int timeout_ms);
    ~ClusterHeartbeats();
    // Whether node `i` has been silent for longer than the timeout.
    bool silent(int i) const;
    int timeout_ms() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
