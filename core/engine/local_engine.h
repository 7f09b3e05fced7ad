#pragma once
#include "engine/model_source.h"
#include "model/shard_spec.h"
#include "sample/sampler.h"
#include "sample/stop_rule.h"

#include <functional>
#include <memory>
#include <vector>

namespace distgpt {

struct GenerateOptions {
    int max_new_tokens = 64;
    SamplingParams sampling;  // sequence i uses seed + i
    bool stop_at_eos = true;
    bool keep_logits = false;  // SequenceResult::logits gets each sampled position's logits
    int keep = 0;              // tokens a sequence keeps when its context fills and the window slides; 0: half the context
};

struct TokenEvent {
    int sequence = 0;
    int step = 0;  // 0 = the token sampled from the prompt's prefill
    int token = 0;
    double at_ms = 0;           // since generation started
    double latency_ms = 0;      // of the step that made it
    bool window_shift = false;  // its step shifted the sequence's full context first
};

struct SequenceResult {
    std::vector<int> prompt_ids;
    std::vector<int> generated_ids;
    FinishReason finish = FinishReason::Length;
    std::vector<std::vector<float>> logits;  // with keep_logits: one row per generated token
};

struct GenerationResult {
    std::vector<SequenceResult> sequences;
    double prefill_ms = 0;  // all prompts, one pass each
    double decode_ms = 0;   // all decode steps
    int decode_steps = 0;
    int decode_tokens = 0;       // tokens made by decode steps
    int window_shifts = 0;       // full contexts shifted, all sequences
    double window_shift_ms = 0;  // the decode steps that held one
    double ms_per_decode_step() const { return decode_steps ? decode_ms / decode_steps : 0; }
    double tokens_per_second() const { return decode_ms > 0 ? decode_tokens * 1000.0 / decode_ms : 0; }
};

struct EvalResult {
    double mean_cross_entropy = 0;  // nats per predicted token
    double perplexity = 0;
    int64_t tokens = 0;  // predicted tokens
    int windows = 0;
};

// The whole model in this process: the single-process reference every
// distributed run is compared with.
class LocalEngine {
public:
    // `slots`: sequences generated at once; `context` 0 = the model's n_positions.
    LocalEngine(const OpenedModel& model, int threads, int slots = 1, int context = 0);
    ~LocalEngine();

    // Prefill every prompt, then decode all of them together one token per
    // step, a sequence that fills the context sliding on (ContextWindow);
    // `on_token` sees each token as it is made.
    GenerationResult generate(const std::vector<std::vector<int>>& prompts, const GenerateOptions& options,
                              const std::function<void(const TokenEvent&)>& on_token = {});

    // Mean cross-entropy of `ids` under the model, over consecutive windows of
    // `context` tokens (each predicts its tokens from the ones before it).
    EvalResult evaluate(const std::vector<int>& ids, int context);

    int64_t weight_bytes() const;
    int context() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
