#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>

#include <zmq.hpp>

namespace distgpt {

// The worker's side of the heartbeat: its own thread and ROUTER socket answer
// every heartbeat at once, even while the main loop computes a long prefill.
// When heartbeats stop for `timeout_ms` after having started, the controller
// is gone: `controller_lost()` turns true (and, with exit_with_controller,
// the process exits: a local worker never outlives its controller).
class WorkerLiveness {
public:
    // `secure` prepares the heartbeat socket before it binds (CURVE, when the worker uses it).
    WorkerLiveness(const std::string& host, int timeout_ms, bool exit_with_controller, zmq::context_t& context,
                   const std::function<void(zmq::socket_t&)>& secure);
    ~WorkerLiveness();
    const std::string& endpoint() const;
    bool controller_lost();  // true once per loss
    void reset();            // a new controller said hello

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
