#pragma once
#include "weights/model_config.h"
#include "weights/tensor_parallel_slice.h"
#include "weights/tensor_source.h"

#include <cstdint>
#include <string>
#include <vector>

namespace distgpt {

// What a stored tensor is in the model, whichever family names it. Loaders,
// writers, random models and the weight streamer work by role; only the
// layout knows Hugging Face's names.
enum class TensorRole {
    TokenEmbedding,     // [V, C]
    PositionEmbedding,  // [T, C]  learned positions only
    AttnNorm,           // [C]     the norm before attention (its weight)
    AttnNormBias,       //         LayerNorm only
    Qkv,                // GPT-2's fused c_attn, Conv1D [C, 3C]
    QkvBias,
    Q,  // [H·D, C]
    K,  // [KV·D, C]
    V,  // [KV·D, C]
    QBias,
    KBias,
    VBias,
    AttnOut,  // [C, H·D] (GPT-2's c_proj: Conv1D [C, C])
    AttnOutBias,
    MlpNorm,
    MlpNormBias,
    Gate,  // [F, C]  gated MLPs only
    GateBias,
    Up,  // [F, C] (GPT-2's c_fc: Conv1D [C, F])
    UpBias,
    Down,  // [C, F] (GPT-2's c_proj: Conv1D [F, C])
    DownBias,
    FinalNorm,
    FinalNormBias,
    Head,  // [V, C]  lm_head, when not tied to the embedding
};

// The tensors a stage holds in its weight format (WeightFormat): the
// matrices and the embedding tables. Norms and biases stay fp32.
bool held_as_matrix(TensorRole role);
// The matrices tensor parallelism splits by their input columns (Megatron's
// row-parallel output projections): each rank computes a partial sum.
bool split_by_input_columns(TensorRole role);

// How a role's tensor starts in a fresh model: norms' weights at 1, biases
// at 0, others N(0, 0.02), the projections into the residual stream scaled
// by 1/sqrt(2·n_layer) (as GPT-2 was initialised).
enum class InitRule { Ones, Zeros, Normal, NormalResidual };
InitRule init_rule(TensorRole role);

struct CheckpointTensor {
    std::string name;
    std::vector<int64_t> shape;  // as stored
    TensorRole role;
    int layer = -1;  // -1: not in a block
    TensorParallelCut cut = TensorParallelCut::Whole;
    bool in_out = false;  // a projection stored [in, out] (GPT-2's Conv1D), not nn.Linear's [out, in]
};

// Every tensor of a family's Hugging Face checkpoint, in the order
// save_pretrained writes them. GPT-2 stores its projections as Conv1D
// [in, out] (`in_out`); the LLaMA family as nn.Linear [out, in].
class CheckpointLayout {
public:
    // `prefix`: GPT-2 checkpoints saved from GPT2LMHeadModel say
    // "transformer.", the hub's gpt2 files nothing. LLaMA-family names are fixed.
    CheckpointLayout(const ModelConfig& config, std::string prefix);
    CheckpointLayout(const ModelConfig& config, const TensorSource& source);  // detects GPT-2's prefix
    explicit CheckpointLayout(const ModelConfig& config);                     // as distgpt writes it

    const std::vector<CheckpointTensor>& tensors() const { return tensors_; }
    const std::string& prefix() const { return prefix_; }

    // The tensor with `role` in `layer` (-1 outside blocks); nullptr if the family has none.
    const CheckpointTensor* find(TensorRole role, int layer = -1) const;
    const CheckpointTensor* find(const std::string& name) const;
    // The tensors a stage of layers [begin, end), with the embedding and/or
    // the head, needs: what a worker without the model is sent.
    std::vector<CheckpointTensor> shard(int layer_begin, int layer_end, bool embedding, bool head) const;

private:
    ModelFamily family_;
    std::string prefix_;
    std::vector<CheckpointTensor> tensors_;
};

}  // namespace distgpt
