#include "runtime/controller/heartbeats.h"

#include "net/curve_keys.h"
#include "net/sockets.h"

#include <mutex>
#include <thread>
#include <utility>

namespace distgpt {

struct ClusterHeartbeats::Impl {
    zmq::context_t context{1};
    std::vector<zmq::socket_t> sockets;  // the thread's alone once it runs
    std::vector<bool> connected;         // the thread's
    std::unique_ptr<std::atomic<int64_t>[]> last_seen;
    std::unique_ptr<std::atomic<bool>[]> attached;
    std::mutex pending_lock;
    std::vector<std::pair<int, std::string>> pending;  // attached, not yet connected by the thread
    std::string controller;
    int timeout_ms = 3000;
    std::atomic<bool> stop{false};
    std::thread thread;

    // Connects what attach() queued: sockets are used by this thread alone.
    void connect_pending() {
        std::vector<std::pair<int, std::string>> now;
        {
            const std::lock_guard lock(pending_lock);
            now.swap(pending);
        }
        for (auto& [i, endpoint] : now) {
            sockets[i].connect(endpoint);
            connected[i] = true;
        }
    }

    void loop() {
        int64_t next_beat = 0;
        std::vector<zmq::pollitem_t> items;
        for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        while (!stop.load()) {
            connect_pending();
            if (net::now_ns() >= next_beat) {
                for (std::size_t i = 0; i < sockets.size(); ++i)
                    if (connected[i]) net::send(sockets[i], proto::encode(proto::Heartbeat{controller, net::now_ns()}));
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

ClusterHeartbeats::ClusterHeartbeats(std::vector<std::string> server_keys, const net::KeyPair& own, std::string controller, int timeout_ms)
    : impl_(std::make_unique<Impl>()) {
    impl_->controller = std::move(controller);
    impl_->timeout_ms = timeout_ms;
    const std::size_t n = server_keys.size();
    impl_->last_seen.reset(new std::atomic<int64_t>[n]);
    impl_->attached.reset(new std::atomic<bool>[n]);
    impl_->connected.assign(n, false);
    for (std::size_t i = 0; i < n; ++i) {
        zmq::socket_t s = net::make_socket(impl_->context, zmq::socket_type::dealer);
        net::make_curve_client(s, own, server_keys[i]);
        impl_->sockets.push_back(std::move(s));
        impl_->last_seen[i] = net::now_ns();
        impl_->attached[i] = false;
    }
    impl_->thread = std::thread([this] { impl_->loop(); });
}

void ClusterHeartbeats::attach(int i, const std::string& endpoint) {
    impl_->last_seen[i] = net::now_ns();  // silent from now, not from when the cluster started
    impl_->attached[i] = true;
    const std::lock_guard lock(impl_->pending_lock);
    impl_->pending.emplace_back(i, endpoint);
}

ClusterHeartbeats::~ClusterHeartbeats() {
    impl_->stop = true;
    impl_->thread.join();
}

bool ClusterHeartbeats::silent(int i) const {
    return impl_->attached[i].load() && net::now_ns() - impl_->last_seen[i].load() > int64_t(impl_->timeout_ms) * 1000000;
}

int ClusterHeartbeats::timeout_ms() const { return impl_->timeout_ms; }

}  // namespace distgpt
