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
// From a controller's hello, when no heartbeat comes for `timeout_ms`, the
// controller is gone: `controller_lost()` turns true (and, with exit_with_controller,
// the process exits). A local worker also watches its lifeline, a pipe its
// controller holds open: when the controller dies, from the first instant,
// the pipe closes and the worker exits.
class WorkerLiveness {
public:
    // `secure` prepares the heartbeat socket before it binds (CURVE, when the worker uses it).
    WorkerLiveness(const std::string& host, int timeout_ms, bool exit_with_controller, zmq::context_t& context,
                   const std::function<void(zmq::socket_t&)>& secure, int lifeline_fd = -1);
    ~WorkerLiveness();
    const std::string& endpoint() const;
    bool controller_lost();  // true once per loss
    void watch();            // a controller said hello: it is lost if no heartbeat comes within the timeout from now
    void stop_watching();    // it let this worker go: its silence from now on is no loss

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
