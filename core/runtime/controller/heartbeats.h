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
// attached worker each 500 ms on their heartbeat sockets and notes each
// answer. A worker silent for `timeout_ms` is dead.
// A worker is attached as soon as it has answered its hello: from then on it
// watches for this controller's heartbeats, and a node that takes longer to
// answer (or never does) must not leave it without them.
class ClusterHeartbeats {
public:
    // server_keys[i]: node i's CURVE public key, "" when it does not authenticate.
    ClusterHeartbeats(std::vector<std::string> server_keys, const net::KeyPair& own, std::string controller, int timeout_ms);
    ~ClusterHeartbeats();
    // Node `i`'s heartbeat socket is at `endpoint`: beat it from now on.
    void attach(int i, const std::string& endpoint);
    // Whether node `i`, attached, has been silent for longer than the timeout.
    bool silent(int i) const;
    int timeout_ms() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
