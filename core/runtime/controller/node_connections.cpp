#include "runtime/controller/node_connections.h"

#include "net/endpoint.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "runtime/controller/ssh_worker.h"
#include "util/boot_id.h"
#include "util/duration_text.h"
#include "util/error.h"

#include <algorithm>
#include <future>
#include <cmath>

namespace distgpt {

namespace {

// The worker of a node this controller starts (here, or over ssh); null for
// one started by hand. Throws LaunchedWorker::WorkerGone, or Error for what
// the user must fix.
std::unique_ptr<LaunchedWorker> launch(const NodeSpec& spec, const net::KeyPair& controller_keys) {
    if (spec.started_here()) return std::make_unique<LocalWorker>(spec.name, spec.threads, spec.memory_limit);
    if (const auto target = net::parse_ssh_endpoint(spec.endpoint))
        return std::make_unique<SshWorker>(SshLaunch{*target, spec.name, spec.threads, spec.memory_limit, spec.program, spec.model_dir},
                                           controller_keys);
    return nullptr;
}

}  // namespace

NodeConnections::NodeConnections(const Topology& topology, const ClusterOptions& options) : topology_(topology) {
    const int n = static_cast<int>(topology.nodes.size());
    keys_ = options.keys.empty() ? net::generate_key_pair() : options.keys;
    gone_.resize(n);
    hellos_.resize(n);
    offset_ns_.assign(n, 0);
    for (int i = 0; i < n; ++i) {
        TraceNode identity;
        identity.name = topology.nodes[i].name;
        identities_.push_back(identity);
    }
    // Every worker this controller starts, started at once: each takes a
    // fraction of a second (loading libtorch, an ssh login), and a cluster
    // of eight should not take eight of them.
    std::vector<std::future<std::unique_ptr<LaunchedWorker>>> starting;
    for (int i = 0; i < n; ++i) {
        const auto& spec = topology.nodes[i];
        if (options.on_status && spec.started_here()) options.on_status("starting local worker '" + spec.name + "'");
        if (const auto target = net::parse_ssh_endpoint(spec.endpoint); options.on_status && target)
            options.on_status("starting worker '" + spec.name + "' on " + target->host + " by ssh");
        starting.push_back(std::async(std::launch::async, [&spec, this] { return launch(spec, keys_); }));
    }
    for (int i = 0; i < n; ++i) attach(i, starting[i]);
    for (int i = 0; i < n; ++i)
        if (!gone_[i]) watched_.push_back(i);
    // Beating each node from its hello on (greet attaches it).
    heartbeats_ = std::make_unique<ClusterHeartbeats>(server_keys_, keys_, options.controller_name, options.liveness_ms);
    try {
        for (int i : std::vector<int>(watched_)) greet(i, options);
        const std::string own_boot = boot_id();
        for (int i : std::vector<int>(watched_)) measure_clock(i, options, own_boot);
        if (watched_.empty()) throw Error("no worker could be started: " + lost_at_start_.front().why);
    } catch (...) {
        stop_all();  // no destructor runs for a constructor that throws: free the workers greeted so far
        throw;
    }
}

NodeConnections::~NodeConnections() { stop_all(); }

void NodeConnections::stop_all() noexcept {
    for (std::size_t i = 0; i < sockets_.size(); ++i) {
        if (endpoints_[i].empty()) continue;  // never connected
        try {
            // Without waiting: a node that never completed its handshake (it
            // refused our key) has no pipe, and a blocking send would wait forever.
            proto::Parts parts = proto::encode(proto::Stop{});
            bool queued = true;
            for (std::size_t k = 0; k < parts.size() && queued; ++k)
                queued = sockets_[i]
                             .send(parts[k],
                                   (k + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none) | zmq::send_flags::dontwait)
                             .has_value();
            // Let the stop leave before the context closes: a worker greeted
            // by a controller that then failed is free at once, not after its
            // liveness window.
            if (queued) sockets_[i].set(zmq::sockopt::linger, 200);
        } catch (...) {  // best effort: the node is let go as it is
        }
    }
}

void NodeConnections::attach(int node, std::future<std::unique_ptr<LaunchedWorker>>& started) {
    const auto& spec = topology_.nodes[node];
    launched_.push_back(nullptr);
    endpoints_.push_back(spec.endpoint);
    server_keys_.push_back(spec.server_key);
    try {
        launched_.back() = started.get();
        if (launched_.back()) {
            endpoints_.back() = launched_.back()->endpoint();
            server_keys_.back() = launched_.back()->server_key();
        }
    } catch (const LaunchedWorker::WorkerGone& e) {
        endpoints_.back().clear();
        lose(node, "node '" + spec.name + "' is gone: " + e.what());
    }
    zmq::socket_t s = net::make_socket(context_, zmq::socket_type::dealer);
    net::make_curve_client(s, keys_, server_keys_.back());
    if (!endpoints_.back().empty()) s.connect(endpoints_.back());
    sockets_.push_back(std::move(s));
}

void NodeConnections::lose(int node, const std::string& why) {
    gone_[node] = why;
    lost_at_start_.push_back({node, why});
    std::erase(watched_, node);
}

template <class Step>
void NodeConnections::unless_dead(int node, Step step) {
    while (!gone_[node]) {
        try {
            step();
            return;
        } catch (const NodeError& e) {
            const auto why = e.node >= 0 ? why_dead(e.node) : std::nullopt;
            if (!why) throw;
            lose(e.node, *why);
        }
    }
}

// A node that does not answer its hello is lost like a dead one: the run
// goes on without it if the others can hold the model, and says so.
void NodeConnections::greet(int node, const ClusterOptions& options) {
    if (options.on_status) options.on_status("greeting node '" + name(node) + "'");
    try {
        unless_dead(node, [&] {
            send(node, proto::encode(proto::Hello{options.controller_name}));
            hellos_[node] =
                expect(node, proto::HelloReply::kType, std::chrono::milliseconds(options.hello_timeout_ms)).as<proto::HelloReply>();
            // It watches for heartbeats from now on, however long the other nodes take to answer.
            heartbeats_->attach(node, peer_endpoint(node, hellos_[node].heartbeat_endpoint));
        });
    } catch (const NodeSilent& e) {
        lose(e.node, e.what());
    }
}

// Offset of a worker's clock, from the ping with the smallest round trip:
// off by up to half of it (tens of µs on loopback). A worker on this machine
// reads the same monotonic clock: its offset is exactly 0.
// A node that stops answering meanwhile is lost, as at its hello.
void NodeConnections::measure_clock(int node, const ClusterOptions& options, const std::string& own_boot) try {
    if (options.on_status) options.on_status("reading the clock of node '" + name(node) + "'");
    const std::chrono::milliseconds timeout(options.hello_timeout_ms);
    unless_dead(node, [&] {
        double best_rtt = 1e18;
        for (int k = 0; k < 8; ++k) {
            const int64_t sent = net::now_ns();
            send(node, proto::encode(proto::Ping{sent}));
            const auto pong = expect(node, proto::Pong::kType, timeout).as<proto::Pong>();
            const int64_t back = net::now_ns();
            if (back - sent < best_rtt) {
                best_rtt = static_cast<double>(back - sent);
                offset_ns_[node] = static_cast<double>(pong.worker_ns) - (sent + back) / 2.0;
            }
        }
        // (A time namespace could still shift it: then 0 lies outside the estimate's bounds.)
        if (!own_boot.empty() && hellos_[node].boot_id == own_boot && std::abs(offset_ns_[node]) <= best_rtt / 2) offset_ns_[node] = 0;
        identities_[node].clock_offset_us = offset_ns_[node] / 1e3;
        identities_[node].rtt_us = best_rtt / 1e3;
    });
} catch (const NodeSilent& e) {
    lose(e.node, e.what());
}

std::string NodeConnections::peer_endpoint(int node, const std::string& reported) const {
    // A remote worker bound to 0.0.0.0 is reached at the host its topology names.
    const std::string host = net::host_of(launched_[node] ? endpoints_[node] : topology_.nodes[node].endpoint);
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

std::optional<std::pair<int, proto::Message>> NodeConnections::receive_any(std::chrono::milliseconds timeout, int wake_fd) {
    // Only the watched: a node left behind may still talk, and is no longer heard.
    std::vector<zmq::pollitem_t> items;
    for (int node : watched_) items.push_back({sockets_[node].handle(), 0, ZMQ_POLLIN, 0});
    const std::size_t nodes = items.size();
    if (wake_fd >= 0) items.push_back({nullptr, wake_fd, ZMQ_POLLIN, 0});
    if (items.empty() || zmq::poll(items.data(), items.size(), timeout) <= 0) return std::nullopt;
    for (std::size_t i = 0; i < nodes; ++i)
        if (items[i].revents & ZMQ_POLLIN)
            if (auto m = receive_from(watched_[i], std::chrono::milliseconds(0))) return std::pair{watched_[i], std::move(*m)};
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
    throw NodeSilent(node, "node '" + name(node) + "' at " + endpoints_[node] + " did not answer within " +
                               seconds_text(timeout.count() / 1000.0) + " (waiting for " + type + "): is distgpt-worker running there" +
                               (server_keys_[node].empty() ? "?" : ", and is this controller's public key in its --authorized-keys?"));
}

std::optional<std::string> NodeConnections::why_dead(int node) {
    if (gone_[node]) return gone_[node];
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
