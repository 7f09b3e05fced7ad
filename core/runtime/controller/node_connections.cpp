#include "runtime/controller/node_connections.h"

#include "net/endpoint.h"
#include "runtime/controller/cluster.h"
#include "util/boot_id.h"
#include "util/duration_text.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace distgpt {

NodeConnections::NodeConnections(const Topology& topology, const ClusterOptions& options) : topology_(topology) {
    const int n = static_cast<int>(topology.nodes.size());
    keys_ = options.key_file.empty() ? net::generate_key_pair() : net::read_key_pair(options.key_file);
    for (int i = 0; i < n; ++i) start_or_attach(i, options);
    for (int i = 0; i < n; ++i) watched_.push_back(i);
    for (int i = 0; i < n; ++i) send(i, proto::encode(proto::Hello{options.controller_name}));
    const std::chrono::milliseconds timeout(options.hello_timeout_ms);
    for (int i = 0; i < n; ++i) {
        hellos_.push_back(expect(i, proto::HelloReply::kType, timeout).as<proto::HelloReply>());
        TraceNode identity;
        identity.name = topology.nodes[i].name;
        identities_.push_back(identity);
    }
    measure_clocks(timeout);
    std::vector<std::string> beat_endpoints, server_keys;
    for (int i = 0; i < n; ++i) {
        beat_endpoints.push_back(peer_endpoint(i, hellos_[i].heartbeat_endpoint));
        server_keys.push_back(topology.nodes[i].server_key);
    }
    heartbeats_ = std::make_unique<ClusterHeartbeats>(beat_endpoints, server_keys, keys_, options.controller_name, options.liveness_ms);
}

NodeConnections::~NodeConnections() {
    for (auto& socket : sockets_) {
        try {
            net::send(socket, proto::encode(proto::Stop{}));
        } catch (const zmq::error_t&) {}
    }
}

void NodeConnections::start_or_attach(int node, const ClusterOptions& options) {
    const auto& spec = topology_.nodes[node];
    if (spec.endpoint == "local") {
        if (options.on_status) options.on_status("starting local worker '" + spec.name + "'");
        launched_.push_back(std::make_unique<LocalWorker>(spec.name, spec.threads, spec.memory_limit));
        endpoints_.push_back(launched_.back()->endpoint());
    } else {
        launched_.push_back(nullptr);
        endpoints_.push_back(spec.endpoint);
    }
    zmq::socket_t s = net::make_socket(context_, zmq::socket_type::dealer);
    net::make_curve_client(s, keys_, spec.server_key);
    s.connect(endpoints_.back());
    sockets_.push_back(std::move(s));
}

// Offset of each worker's clock, from the ping with the smallest round
// trip: off by up to half of it (tens of µs on loopback). A worker on this
// machine reads the same monotonic clock: its offset is exactly 0.
void NodeConnections::measure_clocks(std::chrono::milliseconds timeout) {
    offset_ns_.assign(sockets_.size(), 0);
    const std::string own_boot = boot_id();
    for (int i = 0; i < size(); ++i) {
        double best_rtt = 1e18;
        for (int k = 0; k < 8; ++k) {
            const int64_t sent = net::now_ns();
            send(i, proto::encode(proto::Ping{sent}));
            const auto pong = expect(i, proto::Pong::kType, timeout).as<proto::Pong>();
            const int64_t back = net::now_ns();
            if (back - sent < best_rtt) {
                best_rtt = static_cast<double>(back - sent);
                offset_ns_[i] = static_cast<double>(pong.worker_ns) - (sent + back) / 2.0;
            }
        }
        // (A time namespace could still shift it: then 0 lies outside the estimate's bounds.)
        if (!own_boot.empty() && hellos_[i].boot_id == own_boot && std::abs(offset_ns_[i]) <= best_rtt / 2) offset_ns_[i] = 0;
        identities_[i].clock_offset_us = offset_ns_[i] / 1e3;
        identities_[i].rtt_us = best_rtt / 1e3;
    }
}

std::string NodeConnections::peer_endpoint(int node, const std::string& reported) const {
    // A remote worker bound to 0.0.0.0 is reached at the host its topology names.
    const std::string host = net::host_of(topology_.nodes[node].endpoint == "local" ? endpoints_[node] : topology_.nodes[node].endpoint);
    const auto port = net::parse_endpoint(reported);
    if (!port)
        throw Error("node '" + name(node) + "' reported '" + reported + "', not an endpoint: run the same distgpt version everywhere");
    return "tcp://" + host + ":" + port->port;
}

int NodeConnections::node_of_endpoint(const std::string& endpoint) const {
    const auto it = std::find(endpoints_.begin(), endpoints_.end(), endpoint);
    return it == endpoints_.end() ? -1 : static_cast<int>(it - endpoints_.begin());
}

void NodeConnections::send(int node, proto::Parts parts) { net::send(sockets_[node], std::move(parts)); }

std::optional<proto::Message> NodeConnections::receive_from(int node, std::chrono::milliseconds timeout) {
    auto parts = net::receive(sockets_[node], timeout);
    if (!parts) return std::nullopt;
    return proto::decode(std::move(*parts));
}

std::optional<std::pair<int, proto::Message>> NodeConnections::receive_any(std::chrono::milliseconds timeout) {
    std::vector<zmq::pollitem_t> items;
    for (auto& s : sockets_) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
    if (zmq::poll(items.data(), items.size(), timeout) <= 0) return std::nullopt;
    for (std::size_t i = 0; i < items.size(); ++i)
        if (items[i].revents & ZMQ_POLLIN)
            if (auto m = receive_from(static_cast<int>(i), std::chrono::milliseconds(0)))
                return std::pair{static_cast<int>(i), std::move(*m)};
    return std::nullopt;
}

proto::Message NodeConnections::expect(int node, const std::string& type, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto m = receive_from(node, std::min(left, std::chrono::milliseconds(200)));
        if (!m) {
            if (auto dead = dead_node()) throw NodeError(dead->node, dead->why);
            if (auto why = why_dead(node)) throw NodeError(node, *why);
            continue;
        }
        if (m->type == type) return std::move(*m);
        if (m->type == proto::ErrorReply::kType) throw NodeError(node, "node '" + name(node) + "': " + m->as<proto::ErrorReply>().message);
    }
    throw NodeError(
        node, "node '" + name(node) + "' at " + endpoints_[node] + " did not answer within " + seconds_text(timeout.count() / 1000.0) +
                  " (waiting for " + type + "): is distgpt-worker running there" +
                  (topology_.nodes[node].server_key.empty() ? "?" : ", and is this controller's public key in its --authorized-keys?"));
}

std::optional<std::string> NodeConnections::why_dead(int node) {
    if (launched_[node])
        if (auto why = launched_[node]->exited()) return "node '" + name(node) + "' is gone: " + *why;
    if (heartbeats_ && heartbeats_->silent(node))
        return "node '" + name(node) + "' at " + endpoints_[node] + " stopped answering: no heartbeat for " +
               seconds_text(heartbeats_->timeout_ms() / 1000.0) + " (process killed, machine down, or network cut)";
    return std::nullopt;
}

std::optional<DeadNode> NodeConnections::dead_node() {
    for (int node : watched_)
        if (auto why = why_dead(node)) return DeadNode{node, *why};
    return std::nullopt;
}

}  // namespace distgpt
