#pragma once
#include "net/curve_keys.h"
#include "net/sockets.h"
#include "plan/topology.h"
#include "proto/messages.h"
#include "runtime/controller/heartbeats.h"
#include "runtime/controller/launched_worker.h"
#include "trace/run_trace.h"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

struct ClusterOptions;

// A node the controller is no longer able to use, and why.
struct DeadNode {
    int node = -1;
    std::string why;  // "node 'b' is gone: killed by signal 9"
};

// The controller's line to every node of a topology: the worker started
// (here, or over ssh) or attached (started by hand), greeted, its clock measured, its
// heartbeats watched. It knows nothing of plans or runs; it carries messages
// and says which node is gone.
class NodeConnections {
public:
    NodeConnections(const Topology& topology, const ClusterOptions& options);
    ~NodeConnections();  // sends stop to every node; the workers it started are stopped

    int size() const { return static_cast<int>(sockets_.size()); }
    const std::string& name(int node) const { return topology_.nodes[node].name; }
    const std::string& endpoint(int node) const { return endpoints_[node]; }  // the node's inbox
    const proto::HelloReply& hello(int node) const { return hellos_[node]; }
    double clock_offset_ns(int node) const { return offset_ns_[node]; }  // worker clock - controller clock
    // Name, clock offset and round trip of each node, for a trace.
    const std::vector<TraceNode>& identities() const { return identities_; }
    // The endpoint a node reported for another of its sockets, as peers reach it.
    std::string peer_endpoint(int node, const std::string& reported) const;
    // The node whose inbox is `endpoint`, or -1.
    int node_of_endpoint(const std::string& endpoint) const;

    // The nodes whose death ends a wait (those of the current plan); all at first.
    void watch(std::vector<int> nodes) { watched_ = std::move(nodes); }
    const std::vector<int>& watched() const { return watched_; }

    void send(int node, proto::Parts parts);
    std::optional<proto::Message> receive_from(int node, std::chrono::milliseconds timeout);
    // Polls every node; returns (node, message), or nullopt after `timeout`
    // or as soon as `wake_fd` (if not -1) is readable.
    std::optional<std::pair<int, proto::Message>> receive_any(std::chrono::milliseconds timeout, int wake_fd = -1);
    // The next message of `type` from `node`. Throws NodeError when a watched
    // node dies meanwhile, when `node` answers with an error, or (NodeSilent) after `timeout`.
    proto::Message expect(int node, const std::string& type, std::chrono::milliseconds timeout);

    // Why a node is gone: its process ended, or it stopped answering heartbeats.
    std::optional<std::string> why_dead(int node);
    // The first watched node that is gone.
    std::optional<DeadNode> dead_node();
    // The nodes that died while being started or greeted: never watched.
    const std::vector<DeadNode>& lost_at_start() const { return lost_at_start_; }

private:
    void stop_all() noexcept;  // a stop to every node; each lets its run go
    // The node's worker as started (or none: started by hand), connected to; a start that failed loses the node.
    void attach(int node, std::future<std::unique_ptr<LaunchedWorker>>& started);
    void greet(int node, const ClusterOptions& options);
    void measure_clock(int node, const ClusterOptions& options, const std::string& own_boot);
    void lose(int node, const std::string& why);
    // Runs `step` for a node; when a node dies meanwhile (this one or another
    // watched one), loses it and, if it was another, tries again.
    template <class Step>
    void unless_dead(int node, Step step);

    Topology topology_;
    zmq::context_t context_{1};
    net::KeyPair keys_;                                      // ours, as a CURVE client
    std::vector<std::unique_ptr<LaunchedWorker>> launched_;  // by node, null for workers started by hand
    std::vector<std::string> server_keys_;                   // by node: the key each serves with (empty: none)
    std::vector<zmq::socket_t> sockets_;                     // DEALER per node
    std::vector<std::string> endpoints_;
    std::vector<proto::HelloReply> hellos_;
    std::vector<double> offset_ns_;
    std::vector<TraceNode> identities_;
    std::unique_ptr<ClusterHeartbeats> heartbeats_;
    std::vector<int> watched_;
    std::vector<std::optional<std::string>> gone_;  // by node: why it was lost while starting
    std::vector<DeadNode> lost_at_start_;
};

}  // namespace distgpt
