#pragma once
#include "engine/local_engine.h"
#include "engine/model_source.h"
#include "net/curve_keys.h"
#include "plan/cost_model.h"
#include "plan/planner.h"
#include "plan/topology.h"
#include "proto/messages.h"
#include "runtime/controller/sequence_feed.h"
#include "trace/run_trace.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

struct RunRequest {
    std::vector<std::vector<int>> prompts;                          // token ids, one per sequence
    GenerateOptions options;                                        // sequence i samples with seed + i
    int in_flight = 0;                                              // sequences in the pipeline at once; 0 = one per stage
    int micro_batch = 1;                                            // sequences per message
    std::function<void(const TokenMark&)> on_token;                 // each token as it arrives, on the calling thread
    std::function<void(int64_t sequence, FinishReason)> on_finish;  // each sequence as it ends, however it ends
    std::function<void(const std::vector<TraceSpan>&)> on_spans;    // spans as they arrive (the live view)
    std::function<bool()> should_stop;                              // polled every 200 ms at most; true ends the run early
    // Serving: sequences join from the feed as they come (after `prompts`,
    // if any), each with its own options; the run ends only when should_stop
    // says so, or when a lost node leaves no plan. The result then keeps no
    // trace and no finished sequence's tokens: the callbacks carry them.
    SequenceFeed* feed = nullptr;
};

struct DistributedSequence {
    std::vector<int> prompt_ids, generated_ids;
    std::optional<FinishReason> finish;      // none while it runs
    std::vector<std::vector<float>> logits;  // per generated token, with return_logits
};

// A node a run lost, and what became of the run.
struct NodeLoss {
    int node = -1;         // index into the topology's nodes
    std::string why;       // "node 'b' is gone: killed by signal 9"
    std::string recovery;  // how the run went on without it ("re-planned over 2 node(s): …"); empty: it stopped
};

struct RunResult {
    std::vector<DistributedSequence> sequences;  // unfinished ones end Stopped or Interrupted
    RunTrace trace;
    std::string error;             // why the run stopped early; every token made before is kept
    int node_at_fault = -1;        // the node whose failure or error stopped it, if one did
    std::vector<NodeLoss> losses;  // every node lost during the run, recovered from or not
    double tokens_per_second() const { return trace.wall_us > 0 ? trace.tokens.size() / (trace.wall_us / 1e6) : 0; }
};

struct ClusterOptions {
    std::string controller_name = "distgpt";
    int hello_timeout_ms = 5000;
    int liveness_ms = 3000;        // a node silent this long is dead
    bool recover = true;           // when a node dies, re-plan over the others and continue
    net::KeyPair keys;             // this controller's CURVE key pair, for workers that authenticate; empty: a fresh one
    bool return_logits = false;    // the last stage sends logits with each token (tests)
    int stall_timeout_ms = 60000;  // a run with no message for this long stops, keeping its tokens
    std::function<void(const std::string&)> on_status;  // "node b: streaming weights 40%"
    std::function<void(const NodeLoss&)> on_node_lost;  // as it happens, recovered from or not
};

// The workers of a topology, started (local nodes) or attached (remote),
// greeted, their clocks measured; then configured with a plan's shards and
// driven through runs. Destroying it stops the workers it started.
class Cluster {
public:
    Cluster(const Topology& topology, ClusterOptions options = {});
    ~Cluster();

    // Loads each node's shard: from its disk, from a seed, or streamed from here.
    void configure(const Plan& plan, const ModelSource& source, const OpenedModel& model, int slots, int context);
    RunResult run(const RunRequest& request);

    // Asks each node with a key in `keys` (one per topology node; none:
    // not asked) how fast its machine computes that shard of a model of
    // `config` in `format`: its worker measures the first time a shape is
    // asked (seconds) and keeps it. Sent to all at once, then collected.
    // Throws NodeError naming a node that refuses or sends nonsense.
    std::vector<std::optional<NodeRates>> measure_rates(const ModelConfig& config, WeightFormat format,
                                                        const std::vector<std::optional<RatesKey>>& keys);

    const std::vector<TraceNode>& nodes() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
