#pragma once
#include "weights/tensor_source.h"

#include <cstddef>
#include <string>
#include <vector>

namespace distgpt {

// How rank r of a tensor-parallel group of k keeps a GPT-2 checkpoint tensor
// (Megatron split), in the checkpoint's own layout (Conv1D: [in, out]):
enum class TensorParallelCut {
    Whole,         // norms, embeddings: every rank keeps all of it
    QkvColumns,    // attn.c_attn: its heads' columns of q, of k and of v
    Columns,       // mlp.c_fc: its share of the hidden columns
    Rows,          // attn.c_proj, mlp.c_proj weights: the rows its columns feed
    RankZeroOnly,  // the biases added after an all-reduce: rank 0 adds them once
};

TensorParallelCut tensor_parallel_cut(const std::string& name);

struct TensorSlice {
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
};

// The part of `v` that ranks [first, first + count) of `k` keep, as one
// tensor (each cut piece covers their shares side by side): what the
// controller streams to a worker without the model, so it receives exactly
// its shard. Throws Error when the tensor does not divide by k.
TensorSlice slice_for_ranks(const TensorView& v, TensorParallelCut cut, int first, int count, int k);

}  // namespace distgpt
