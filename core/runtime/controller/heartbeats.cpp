#include "runtime/controller/heartbeats.h"

#include "net/curve_keys.h"
#include "net/sockets.h"

#include <thread>

namespace distgpt {

struct ClusterHeartbeats::Impl {
    zmq::context_t context{1};
    std::vector<zmq::socket_t> sockets;
    std::vector<std::string> endpoints;
    std::unique_ptr<std::atomic<int64_t>[]> last_seen;
    std::string controller;
    int timeout_ms = 3000;
    std::atomic<bool> stop{false};
    std::thread thread;

    void loop() {
        int64_t next_beat = 0;
        std::vector<zmq::pollitem_t> items;
        for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        while (!stop.load()) {
            if (net::now_ns() >= next_beat) {
                for (std::size_t i = 0; i < sockets.size(); ++i)
                    if (!endpoints[i].empty()) net::send(sockets[i], proto::encode(proto::Heartbeat{controller, net::now_ns()}));
                next_beat = net::now_ns() + 500'000'000;
            }
            try {
                if (zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100)) <= 0) continue;
            } catch (const zmq::error_t&) {
                continue;
            }
            for (std::size_t i = 0; i < items.size(); ++i)
                if (items[i].revents & ZMQ_POLLIN)
                    while (net::receive(sockets[i], std::chrono::milliseconds(0))) last_seen[i] = net::now_ns();
        }
    }
};

ClusterHeartbeats::ClusterHeartbeats(std::vector<std::string> endpoints, std::vector<std::string> server_keys, const net::KeyPair& own,
                                     std::string controller, int timeout_ms)
    : impl_(std::make_unique<Impl>()) {
    impl_->controller = std::move(controller);
    impl_->timeout_ms = timeout_ms;
    impl_->endpoints = endpoints;
    impl_->last_seen.reset(new std::atomic<int64_t>[endpoints.size()]);
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
        zmq::socket_t s = net::make_socket(impl_->context, zmq::socket_type::dealer);
        net::make_curve_client(s, own, server_keys[i]);
        if (!endpoints[i].empty()) s.connect(endpoints[i]);  // else a node lost before it was greeted
        impl_->sockets.push_back(std::move(s));
        impl_->last_seen[i] = net::now_ns();
    }
    impl_->thread = std::thread([this] { impl_->loop(); });
}

ClusterHeartbeats::~ClusterHeartbeats() {
    impl_->stop = true;
    impl_->thread.join();
}

bool ClusterHeartbeats::silent(int i) const { return net::now_ns() - impl_->last_seen[i].load() > int64_t(impl_->timeout_ms) * 1000000; }

int ClusterHeartbeats::timeout_ms() const { return impl_->timeout_ms; }

}  // namespace distgpt
