#pragma once
#include "engine/local_engine.h"
#include "engine/model_source.h"
#include "plan/planner.h"
#include "plan/topology.h"
#include "proto/messages.h"
#include "trace/run_trace.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

struct RunRequest {
    std::vector<std::vector<int>> prompts;  // token ids, one per sequence
    GenerateOptions options;                // sequence i samples with seed + i
    int in_flight = 0;                      // sequences in the pipeline at once; 0 = one per stage
    int micro_batch = 1;                    // sequences per message
    std::function<void(const TokenMark&)> on_token;  // each token as it arrives, on the calling thread
    std::function<void(const std::vector<TraceSpan>&)> on_spans;  // spans as they arrive (the live view)
    std::function<bool()> should_stop;               // polled every 200 ms at most; true ends the run early
};

struct DistributedSequence {
    std::vector<int> prompt_ids, generated_ids;
    std::string finish;
    std::vector<std::vector<float>> logits;  // per generated token, with return_logits
};

struct RunResult {
    std::vector<DistributedSequence> sequences;  // unfinished ones end with finish "interrupted"
    RunTrace trace;
    std::string error;  // why the run stopped early (a node died); every token made before is kept
    std::vector<std::string> recoveries;  // each node lost and how the run went on without it
    double tokens_per_second() const { return trace.wall_us > 0 ? trace.tokens.size() / (trace.wall_us / 1e6) : 0; }
};

struct ClusterOptions {
    std::string controller_name = "distgpt";
    int hello_timeout_ms = 5000;
    int liveness_ms = 3000;  // a node silent this long is dead
    bool recover = true;     // when a node dies, re-plan over the others and continue
    std::string key_file;    // this controller's CURVE key pair, for workers that authenticate
    bool return_logits = false;  // the last stage sends logits with each token (tests)
    std::function<void(const std::string&)> on_status;  // "node b: streaming weights 40%"
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

    const std::vector<TraceNode>& nodes() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
