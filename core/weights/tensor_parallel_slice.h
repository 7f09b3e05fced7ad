#pragma once
#include "weights/tensor_source.h"

#include <cstddef>
#include <string>
#include <vector>

namespace distgpt {

// How rank r of a tensor-parallel group of k keeps a checkpoint tensor
// (Megatron split), in the checkpoint's own layout. The checkpoint layout
// says which cut each tensor takes.
enum class TensorParallelCut {
    Whole,         // norms, embeddings: every rank keeps all of it
    QkvLastDim,    // GPT-2's fused c_attn [C, 3C]: its heads' columns of q, of k and of v
    LastDim,       // its share of the last dimension (GPT-2's c_fc; LLaMA's o_proj, down_proj, q/k/v biases)
    FirstDim,      // its share of the first dimension (GPT-2's c_proj; LLaMA's q/k/v/gate/up)
    RankZeroOnly,  // the biases added after an all-reduce: rank 0 adds them once
};

struct TensorSlice {
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
};

// The part of `v` that ranks [first, first + count) of `k` keep, as one
// tensor (each cut piece covers their shares side by side): what the
// controller streams to a worker without the model, so it receives exactly
// its shard. Throws Error when the tensor does not divide by k.
TensorSlice slice_for_ranks(const TensorView& v, TensorParallelCut cut, int first, int count, int k);

// The shape slice_for_ranks gives `count` ranks of k of a tensor of `shape`.
std::vector<int64_t> sliced_shape(std::vector<int64_t> shape, TensorParallelCut cut, int count, int k);

}  // namespace distgpt
