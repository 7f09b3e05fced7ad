#pragma once
#include "model/shard_spec.h"
#include "weights/gpt2_config.h"
#include "weights/tensor_source.h"

#include <ATen/core/Tensor.h>

#include <vector>

namespace distgpt {

// One transformer block's weights, fp32, linear weights as [out, in] rows.
// In a tensor-parallel shard holding n ranks of k: C' = C·n/k, H' = H·n/k,
// its ranks' shares side by side. The output projections' biases are held by
// rank 0 only, so the partial sums add up to the whole layer with each bias
// counted once.
struct LayerWeights {
    at::Tensor ln1_w, ln1_b;  // [C]
    at::Tensor qkv_w, qkv_b;  // [3C', C], [3C']  (q | k | v of this shard's heads)
    at::Tensor attn_out_w;    // [C, C']
    at::Tensor attn_out_b;    // [C] on rank 0, undefined elsewhere
    at::Tensor ln2_w, ln2_b;  // [C]
    at::Tensor fc_w, fc_b;    // [4C', C], [4C']
    at::Tensor mlp_out_w;     // [C, 4C']
    at::Tensor mlp_out_b;     // [C] on rank 0, undefined elsewhere
};

struct StageWeights {
    Gpt2Config config;
    ShardSpec shard;
    at::Tensor wte;  // [V, C]  embedding, and the tied head
    at::Tensor wpe;  // [T, C]  only with the embedding
    std::vector<LayerWeights> layers;
    at::Tensor lnf_w, lnf_b;  // [C]     only with the head

    int64_t bytes() const;
};

// Reads exactly the tensors `shard` owns from `source`, converting F16/BF16 to
// fp32, and releases each source tensor once copied.
StageWeights load_stage_weights(const TensorSource& source, const Gpt2Config& config, const ShardSpec& shard);

}  // namespace distgpt
