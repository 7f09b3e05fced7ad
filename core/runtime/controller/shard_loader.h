#pragma once
#include "engine/model_source.h"
#include "plan/planner.h"
#include "plan/topology.h"
#include "proto/messages.h"

#include <string>
#include <vector>

namespace distgpt {

class NodeConnections;
struct ClusterOptions;

// A plan to load: plan node p runs on cluster node `nodes[p]`.
struct ShardLoad {
    const Plan& plan;
    const std::vector<int>& nodes;
    const ModelSource& source;
    const OpenedModel& model;
    int slots = 1;
    int context = 0;
    std::string run_id;
};

// What one node loaded.
struct LoadedShard {
    int node = -1;  // the cluster node
    int stage = 0, rank = 0;
    proto::Configured configured;
    int64_t streamed_bytes = 0;  // weights sent from here (0: it read or drew its own)
};

// Puts a plan's shards on the nodes that run it: admits the run's peers to
// one another, tells each node its shard and its neighbours, streams weights
// to a node that has none, and waits until every node has loaded.
class ShardLoader {
public:
    ShardLoader(NodeConnections& connections, const Topology& topology, const ClusterOptions& options);

    // By plan node. Throws NodeError naming a node that refused, failed or died.
    std::vector<LoadedShard> load(const ShardLoad& load);

private:
    void admit_peers(const std::vector<int>& nodes);
    proto::Configure configure_message(const ShardLoad& load, int plan_node) const;
    proto::ShardWeights weights_for(int node, const ModelSource& source) const;
    int64_t stream_weights(int node, const StagePlan& stage, const ShardSpec& shard, const OpenedModel& model);
    void status(const std::string& text) const;

    NodeConnections& connections_;
    const Topology& topology_;
    const ClusterOptions& options_;
};

}  // namespace distgpt
