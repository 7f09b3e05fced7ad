#pragma once
#include "proto/messages.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"

#include <functional>
#include <span>
#include <map>
#include <memory>
#include <vector>

namespace distgpt {

// What one step of a shard produced, for the worker to send on.
struct StepOutput {
    bool empty = true;
    bool is_tokens = false;  // last stage: sampled tokens; else hidden states
    proto::Forward forward;
    std::vector<float> hidden;  // [rows, C]
    proto::Tokens tokens;
    std::vector<float> logits;  // [tokens, V], only with return_logits
    int64_t compute_t0 = 0, compute_t1 = 0, sample_t0 = 0, sample_t1 = 0;
    std::vector<int64_t> sequences;
    bool window_shift = false;  // a row shifted a full context first (re-prefilled from position 0, or slid)
};

// The part of a model this worker runs, and the state of the micro-batches
// passing through it: on stage 0 the sequences to feed, on the last stage
// each sequence's sampler and length. Torch stays behind this interface.
class ShardRunner {
public:
    // Sums a tensor-parallel group's partials: this shard's (one per rank it
    // holds, in rank order) and its peers', into `sum`; `exact`: in f32
    // whatever the run's wire format (a head's logits).
    using AllReduce = std::function<void(std::span<const float* const> partials, std::size_t count, float* sum, bool exact)>;

    ShardRunner(const proto::Configure& configure, const ModelConfig& config, const TensorSource& weights, AllReduce all_reduce);
    ~ShardRunner();

    StepOutput start(const proto::Start& start, const int32_t* ids, std::size_t count);         // stage 0
    StepOutput forward(const proto::Forward& forward, const float* hidden, std::size_t count);  // stages 1..
    StepOutput next_step(const proto::Tokens& tokens);                                          // stage 0
    // Stage 0: the sequences' next rows tell the last stage to end them.
    void cancel(const std::vector<int64_t>& ids);

    int64_t weight_bytes() const;
    int64_t kv_cache_bytes() const;
    std::string describe() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
