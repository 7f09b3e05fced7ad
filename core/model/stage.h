#pragma once
#include "model/rotary.h"
#include "model/stage_weights.h"

#include <ATen/core/Tensor.h>

#include <functional>
#include <span>
#include <vector>

namespace distgpt {

// `len` consecutive rows of a batch are positions pos .. pos+len-1 of the
// sequence in KV-cache slot `slot`. A prefill is one segment with the whole
// prompt; a decode step is one segment of length 1 per sequence.
// `slide` > 0 (rotary models): first the cached positions slide .. slide+pos-1
// move down to 0 .. pos-1, their keys turned back by `slide` positions: a
// full context's window shifted without recomputing it.
struct Segment {
    int slot = 0;
    int pos = 0;
    int len = 1;
    int slide = 0;
};

enum class LogitRows { Last, All };  // the last row of each segment, or every row

// Where tensor-parallel rank `rank` of `ranks` starts its share of the head's
// `vocab` rows (a multiple of 16; rank `ranks` is the end).
int64_t vocabulary_share_begin(int64_t vocab, int rank, int ranks);

// Runs one shard of a decoder-only transformer of either family: optionally
// the embedding, layers [begin, end), optionally the final norm and head. The
// block is what the config says it is made of: LayerNorm or RMSNorm, learned
// or rotary positions, multi-head or grouped-query attention, a plain or a
// gated (SwiGLU) MLP. It keeps a KV cache of
// `slots` sequences of up to `max_context` positions for its layers, so a
// decode step needs only the new row of each sequence.
class Stage {
public:
    Stage(StageWeights weights, int slots, int max_context, int threads);

    // input: token ids, int64 [N], if this stage holds the embedding, else
    // hidden states, fp32 [N, C]. Returns hidden states [N, C], or, with the
    // head, logits [segments, V] (LogitRows::Last) or [N, V] (All).
    at::Tensor forward(const at::Tensor& input, std::span<const Segment> segments, LogitRows rows = LogitRows::Last);

    // A tensor-parallel shard's partial sums, one [N, C] for each rank it
    // holds, in rank order, are summed across its group before each residual
    // add: `all_reduce` returns the group's sum. A shard without one (no peers)
    // sums its own ranks' partials. A tensor-parallel head's shares of the
    // logits [S, V] are summed the same way (PartialSums::Logits: they must
    // travel exactly, whatever the wire format of activations).
    enum class PartialSums { Activations, Logits };
    using AllReduce = std::function<at::Tensor(std::span<const at::Tensor> partials, PartialSums kind)>;
    void set_all_reduce(AllReduce all_reduce) { all_reduce_ = std::move(all_reduce); }
    // Each rank multiplies only its share of the head's rows, and the logits
    // meet in the all-reduce (for a group on one machine: see shard_loader).
    void split_head_by_vocabulary(bool split) { split_head_ = split; }

    const ModelConfig& config() const { return w_.config; }
    const ShardSpec& shard() const { return w_.shard; }
    int slots() const { return slots_; }
    int max_context() const { return max_context_; }
    int64_t weight_bytes() const { return w_.bytes(); }
    int64_t kv_cache_bytes() const;

    // Exposed for tests that check a shard's pieces against the whole: the
    // sum of the partials of the ranks this shard holds.
    at::Tensor attention_partial(int layer, const at::Tensor& x, std::span<const Segment> segments);  // [N, C]
    at::Tensor mlp_partial(int layer, const at::Tensor& x);                                           // [N, C]

private:
    at::Tensor embed(const at::Tensor& ids, std::span<const Segment> segments);
    at::Tensor block(int layer, at::Tensor x, std::span<const Segment> segments);
    std::vector<at::Tensor> attention_partials(int layer, const at::Tensor& x, std::span<const Segment> segments);
    std::vector<at::Tensor> mlp_partials(int layer, const at::Tensor& x);
    at::Tensor attend(int layer, at::Tensor qkv, std::span<const Segment> segments);
    at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
    at::Tensor activate(at::Tensor u) const;
    at::Tensor linear(const at::Tensor& x, const HeldMatrix& w, const at::Tensor& b) const;
    std::vector<at::Tensor> row_parallel(const at::Tensor& x, const HeldMatrix& w, const at::Tensor& b) const;
    at::Tensor reduce(const std::vector<at::Tensor>& partials) const;
    at::Tensor head(const at::Tensor& x, std::span<const Segment> segments, LogitRows rows);
    void check(const at::Tensor& input, std::span<const Segment> segments) const;
    void slide_window(const Segment& s);

    StageWeights w_;
    int slots_, max_context_, threads_;
    int heads_, kv_heads_;                       // query and key/value heads held by this shard
    RotaryTable rotary_;                         // rotary positions only
    std::vector<at::Tensor> k_cache_, v_cache_;  // per layer [slots, KV', max_context, D]
    AllReduce all_reduce_;
    bool split_head_ = false;
};

}  // namespace distgpt
