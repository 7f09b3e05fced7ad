#pragma once
#include "model/shard_spec.h"
#include "plan/topology.h"
#include "weights/model_config.h"
#include "weights/weight_format.h"

#include <string>
#include <vector>

namespace distgpt {

struct StagePlan {
    int layer_begin = 0, layer_end = 0;
    std::vector<int> nodes;  // indices into Topology::nodes, in tensor-parallel rank order
    int tp_size = 1;         // the stage's tensor-parallel ranks, spread evenly over its nodes
    bool embedding() const;
    bool head = false;
};

struct NodeMemory {
    int64_t weights = 0, kv_cache = 0, runtime = 0;
    int64_t total() const { return weights + kv_cache + runtime; }
    // The one rule for a node's memory limit (0: none).
    bool fits(int64_t limit) const { return limit <= 0 || total() <= limit; }
};

// The one estimate of what a shard holds, used by the planner and by the
// worker that loads it: its weights in `format` (bytes_of_weights; the
// embedding's table on the first stage, the tied head on the last), the KV cache for
// `slots` sequences of `context` tokens, and the runtime every worker carries.
NodeMemory shard_memory(const ModelConfig& config, const ShardSpec& shard, int slots, int context, WeightFormat format = WeightFormat::F32);

struct Plan {
    std::vector<StagePlan> stages;
    std::vector<NodeMemory> memory;                // per node
    std::vector<int> stage_of_node, rank_of_node;  // rank_of_node: the first rank the node holds
    int ranks_per_node = 1;
    std::string describe(const Topology& t) const;  // one line per stage
};

// Sequences each stage keeps a KV cache for: as asked, else one per stage
// (recurrent pipelining keeps every stage busy), never more than there are.
int sequence_slots(int prompts, int in_flight, int stages);
// The requests a served topology generates at once: `in_flight`, or 0: one
// per stage and at least 4 (a class's several users).
inline int serving_slots(int in_flight, int stages) { return in_flight > 0 ? in_flight : (stages > 4 ? stages : 4); }

// Turns a topology and a model into stages: contiguous layer ranges
// balanced by each stage's time per token, the bytes it reads (the head
// counts on the last) over its slowest node's declared speed, among the
// splits that fit every node's memory; each stage run by its tensor-parallel
// ranks. Then checks every node's memory (weights + KV cache for `slots`
// sequences of `context` tokens).
// An impossible plan throws Error saying which node lacks how much.
// `ranks_per_node` > 1 gives each node several tensor-parallel ranks (a
// re-plan that keeps a run's numerics on fewer nodes).
Plan make_plan(const Topology& topology, const ModelConfig& config, int slots, int context, int ranks_per_node = 1,
               WeightFormat format = WeightFormat::F32);

// The same plan without the memory check, for an editor that marks the
// nodes that do not fit; throws only when no plan can be made at all
// (heads or nodes that do not divide, more stages than layers).
Plan plan_stages(const Topology& topology, const ModelConfig& config, int slots, int context, int ranks_per_node = 1,
                 WeightFormat format = WeightFormat::F32);

// After a loss, the plan over `survivors` nodes that computes exactly what a
// run with `tp_size` tensor-parallel ranks per stage computed: every stage
// keeps tp_size ranks, spread over as many nodes as the largest divisor of
// tp_size that divides the survivors (one node per stage, holding them all,
// when no other does). Fills `rest`'s strategy; returns the ranks per node.
int keep_tensor_parallel_ranks(Topology& rest, int tp_size);
// Why `plan` does not fit the nodes' memory limits, one line per node short
// of memory and a line on what to do; empty when it fits.
std::string memory_shortfalls(const Plan& plan, const Topology& topology);

}  // namespace distgpt
