#pragma once
#include "weights/model_config.h"

#include <string>

namespace distgpt {

// The part of a model one process runs: layers [layer_begin, layer_end), the
// embedding (first pipeline stage), the final norm and head (last stage), and
// its place in a tensor-parallel group of k = tp_size: it holds ranks
// [tp_rank, tp_rank + tp_ranks), rank r being query heads [H·r/k, H·(r+1)/k),
// the key/value heads they read, and the same share of the MLP's columns. One process holds several ranks
// when a re-plan gives a survivor its lost peer's too: it still computes each
// rank's partial sum apart, so the run keeps its numbers.
struct ShardSpec {
    int layer_begin = 0;
    int layer_end = 0;
    bool embedding = true;
    bool head = true;
    int tp_rank = 0;
    int tp_size = 1;
    int tp_ranks = 1;
    // The source holds only this shard's slices (a streamed shard), not whole tensors.
    bool sliced_source = false;

    bool holds_rank_zero() const { return tp_rank == 0; }

    static ShardSpec whole(const ModelConfig& config);
    void validate(const ModelConfig& config) const;  // throws Error saying what does not fit
    std::string describe() const;                    // "layers 0-3, embedding, tp 1/2" or "…, tp 1-2/2"
    bool operator==(const ShardSpec&) const = default;
};

// Why a model cannot be split across `tp_size` tensor-parallel ranks, or
// empty when it can.
std::string tensor_parallel_refusal(const ModelConfig& config, int tp_size);

}  // namespace distgpt
