#pragma once
#include "model/held_matrix.h"
#include "model/shard_spec.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"
#include "weights/weight_format.h"

#include <ATen/core/Tensor.h>

#include <vector>

namespace distgpt {

// One transformer block's weights: matrices as [out, in] rows in the stage's
// WeightFormat (the row-parallel ones in segments, one per rank held), norms
// and biases fp32,
// the same for every family (a tensor the family lacks stays undefined).
// In a tensor-parallel shard holding n ranks of k: H' = H·n/k query heads,
// KV' = KV·n/k key/value heads (Q' = H'·D, K' = KV'·D), F' = F·n/k MLP
// columns, its ranks' shares side by side. The output projections' biases
// are held by rank 0 only, so the partial sums add up to the whole layer
// with each bias counted once.
struct LayerWeights {
    at::Tensor attn_norm_w, attn_norm_b;  // [C]      (b: LayerNorm only)
    HeldMatrix qkv_w;                     // [Q'+2K', C]  (q | k | v of this shard's heads)
    at::Tensor qkv_b;                     // [Q'+2K']
    HeldMatrix attn_out_w;                // [C, Q']
    at::Tensor attn_out_b;                // [C] on rank 0, if the family has it
    at::Tensor mlp_norm_w, mlp_norm_b;    // [C]
    HeldMatrix up_w;                      // [F', C], or gated: [2F', C] (gate rows, then up rows)
    at::Tensor up_b;                      // [F'] or [2F']
    HeldMatrix down_w;                    // [C, F']
    at::Tensor down_b;                    // [C] on rank 0, if the family has it
};

struct StageWeights {
    ModelConfig config;
    ShardSpec shard;
    HeldMatrix wte;  // [V, C]  with the embedding (and with a tied head)
    HeldMatrix wpe;  // [T, C]  with the embedding, learned positions only
    std::vector<LayerWeights> layers;
    at::Tensor final_norm_w, final_norm_b;  // [C]     with the head
    HeldMatrix head_w;                      // [V, C]  with the head: wte itself when tied

    int64_t bytes() const;
};

// Reads exactly the tensors `shard` owns from `source`, its matrices converted
// to `format` (fp32 → 16-bit rounds to nearest even; q8 and q4 as
// block_quant.h rounds) and the rest to fp32,
// and releases each source tensor once copied.
StageWeights load_stage_weights(const TensorSource& source, const ModelConfig& config, const ShardSpec& shard,
                                WeightFormat format = WeightFormat::F32);

}  // namespace distgpt
