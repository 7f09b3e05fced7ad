#include "runtime/worker/liveness.h"

#include "net/sockets.h"

#include <cstdlib>
#include <poll.h>
#include <unistd.h>
#include <iostream>
#include <thread>

namespace distgpt {

struct WorkerLiveness::Impl {
    explicit Impl(zmq::context_t& context) : socket(net::make_socket(context, zmq::socket_type::router)) {}
    zmq::socket_t socket;
    std::string endpoint;
    int timeout_ms;
    bool exit_with_controller;
    int lifeline_fd = -1;
    std::atomic<int64_t> last_heartbeat{0};  // 0: none yet
    std::atomic<bool> lost{false}, stop{false};
    std::thread thread;

    // The pipe's write end closes when the controller's process ends, however it ends.
    void check_lifeline() const {
        if (lifeline_fd < 0) return;
        pollfd p{lifeline_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLIN))) {
            char byte;
            if ((p.revents & POLLIN) && ::read(lifeline_fd, &byte, 1) > 0) return;  // nothing is ever written; ignore it
            std::cerr << "distgpt-worker: the controller that started it is gone; exiting" << std::endl;
            std::_Exit(3);
        }
    }

    void loop() {
        while (!stop.load()) {
            check_lifeline();
            auto parts = net::receive(socket, std::chrono::milliseconds(100));
            if (parts && parts->size() >= 2) {
                const std::string from = (*parts)[0].to_string();
                parts->erase(parts->begin());
                try {
                    const auto m = proto::decode(std::move(*parts));
                    const auto beat = m.as<proto::Heartbeat>();
                    last_heartbeat = net::now_ns();
                    net::send_to(socket, from, proto::encode(proto::Heartbeat{beat.controller, net::now_ns()}));
                } catch (const std::exception&) {
                    // not a heartbeat: ignore it here, the inbox reports bad messages
                }
            }
            const int64_t last = last_heartbeat.load();
            if (last && net::now_ns() - last > int64_t(timeout_ms) * 1000000) {
                last_heartbeat = 0;
                if (exit_with_controller) {
                    std::cerr << "distgpt-worker: no heartbeat from the controller for " << timeout_ms << " ms; exiting" << std::endl;
                    std::_Exit(3);
                }
                lost = true;
            }
        }
    }
};

WorkerLiveness::WorkerLiveness(const std::string& host, int timeout_ms, bool exit_with_controller, zmq::context_t& context,
                               const std::function<void(zmq::socket_t&)>& secure, int lifeline_fd)
    : impl_(std::make_unique<Impl>(context)) {
    impl_->lifeline_fd = lifeline_fd;
    secure(impl_->socket);
    impl_->socket.bind("tcp://" + host + ":0");
    impl_->endpoint = net::bound_endpoint(impl_->socket);
    impl_->timeout_ms = timeout_ms;
    impl_->exit_with_controller = exit_with_controller;
    impl_->thread = std::thread([this] { impl_->loop(); });
}

WorkerLiveness::~WorkerLiveness() {
    impl_->stop = true;
    impl_->thread.join();
}

const std::string& WorkerLiveness::endpoint() const { return impl_->endpoint; }
bool WorkerLiveness::controller_lost() { return impl_->lost.exchange(false); }
void WorkerLiveness::stop_watching() {
    impl_->last_heartbeat = 0;
    impl_->lost = false;
}

void WorkerLiveness::watch() {
    impl_->lost = false;
    impl_->last_heartbeat = net::now_ns();
}

}  // namespace distgpt
