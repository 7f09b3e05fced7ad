#pragma once
#include <zmq.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace distgpt::net {

// ZeroMQ's authentication hook (ZAP, RFC 27) for a context: every CURVE
// handshake on a socket of it asks here, and only a permanent set of keys
// (the authorized controllers) and the keys of the current run (its peers)
// pass. Answers on its own thread from construction to destruction.
class KeyAuthenticator {
public:
    KeyAuthenticator(zmq::context_t& context, std::set<std::string> permanent_keys);
    ~KeyAuthenticator();
    KeyAuthenticator(const KeyAuthenticator&) = delete;
    KeyAuthenticator& operator=(const KeyAuthenticator&) = delete;

    // The keys admitted besides the permanent ones, replacing the last run's.
    void admit_run(std::set<std::string> keys);
    bool admits(const std::string& z85_key) const;

private:
    void serve();
    zmq::socket_t handler_;
    mutable std::mutex mutex_;
    std::set<std::string> permanent_, run_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace distgpt::net
