#pragma once
#include "net/link_model.h"
#include "proto/wire_format.h"
#include "weights/weight_format.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distgpt {

// How the nodes split the model. Auto: the one the cost model predicts the
// most tokens/s for (plan/strategy_choice), chosen before any plan is made.
enum class Strategy { Pipeline, Tensor, Hybrid, Auto };

// Where a node's shard comes from.
enum class WeightSource {
    Auto,    // its own disk when it has the model (or is local), else streamed
    Disk,    // its own copy, always (--model-dir)
    Stream,  // sent by the controller, exactly its shard
};
// How workers reach each other.
enum class TransportChoice {
    Auto,    // shared memory between workers on one machine, ZeroMQ between machines
    ZeroMQ,  // ZeroMQ everywhere (to compare, or to debug)
};
std::string weight_source_name(WeightSource w);  // "auto", "disk", "stream": as the topology file spells it
std::optional<WeightSource> parse_weight_source(const std::string& name);

struct NodeSpec {
    std::string name;
    // "local": the controller starts the worker here; ssh://[user@]host[:port]:
    // it starts it there through ssh; tcp://host:port: a worker started by hand.
    std::string endpoint = "local";
    int threads = 1;
    int64_t memory_limit = 0;  // bytes; 0 = no limit
    WeightSource weights = WeightSource::Auto;
    std::string server_key;  // the worker's CURVE public key (its .pub file), when it authenticates
    // ssh nodes: distgpt-worker on that host (a path, or a name on its PATH),
    // and the model folder there, if it has one.
    std::string program = "distgpt-worker";
    std::string model_dir;
    // Its network, emulated by distgpt's own send path (all zero: as it is).
    NodeNetwork network;
    // How fast it computes against the machine distgpt measured (1: alike;
    // 0.25: a Raspberry Pi beside a laptop). The planner gives a faster node
    // more layers and the cost model predicts with it; a node the controller
    // starts on this machine and declares slower is slowed to match (each
    // step stretched), so one laptop can stand in for mixed hardware.
    double speed = 1;
    // The controller starts its worker on this machine (endpoint "local").
    bool started_here() const { return endpoint == "local"; }
    bool operator==(const NodeSpec&) const = default;
};

// One direction of one link, set apart from what the two nodes' networks make of it.
struct LinkOverride {
    std::string from, to;  // node names
    LinkModel model;
    bool operator==(const LinkOverride&) const = default;
};

// What is wrong with a node's endpoint ("local", ssh://[user@]host[:port] or
// tcp://host:port), or nullopt: the topology file's rule, and the app's.
std::optional<std::string> endpoint_problem(const std::string& endpoint);

// The cluster a run uses, as the topology JSON file and the app's editor
// describe it (docs/topology.md).
struct Topology {
    Strategy strategy = Strategy::Pipeline;
    int tensor_parallel = 1;  // ranks per stage for "hybrid"
    std::vector<NodeSpec> nodes;
    std::vector<std::pair<int, int>> layers;  // optional manual [begin, end) per stage
    TransportChoice transport = TransportChoice::Auto;
    std::optional<WeightFormat> weights_dtype;  // how every node holds the matrices; unset: as the checkpoint stores them
    WireFormat wire = WireFormat::F32;          // how activations and partial sums travel between nodes
    std::vector<LinkOverride> links;            // links set by hand, over the nodes' networks

    // What the link from node `from` to node `to` does to a message: its
    // override, else the sender's uplink and the receiver's downlink; none
    // from a node to itself.
    LinkModel link(int from, int to) const;

    int stage_count() const;
    int ranks_per_stage() const;
    // Every one of these nodes is started on this machine (they can share memory).
    bool all_started_here(const std::vector<int>& nodes) const;
};

// Throws Error naming the file (or "topology") and the field at fault.
Topology parse_topology(const std::string& json_text, const std::string& origin = "topology");
Topology read_topology(const std::filesystem::path& file);
// The topology file's document for `t`, and as text.
nlohmann::json topology_json(const Topology& t);
std::string topology_to_json(const Topology& t);
std::string strategy_name(Strategy s);

}  // namespace distgpt
