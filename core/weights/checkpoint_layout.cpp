#include "weights/checkpoint_layout.h"

#include "util/error.h"

namespace distgpt {
namespace {

using Cut = TensorParallelCut;
using Role = TensorRole;

std::vector<CheckpointTensor> gpt2_tensors(const ModelConfig& c, const std::string& p) {
    const int64_t C = c.n_embd, F = c.hidden();
    std::vector<CheckpointTensor> out = {{p + "wte.weight", {c.vocab_size, C}, Role::TokenEmbedding},
                                         {p + "wpe.weight", {c.n_positions, C}, Role::PositionEmbedding}};
    for (int i = 0; i < c.n_layer; ++i) {
        const std::string h = p + "h." + std::to_string(i) + ".";
        const std::vector<CheckpointTensor> layer = {
            {h + "ln_1.weight", {C}, Role::AttnNorm, i},
            {h + "ln_1.bias", {C}, Role::AttnNormBias, i},
            {h + "attn.c_attn.weight", {C, 3 * C}, Role::Qkv, i, Cut::QkvLastDim, true},
            {h + "attn.c_attn.bias", {3 * C}, Role::QkvBias, i, Cut::QkvLastDim},
            {h + "attn.c_proj.weight", {C, C}, Role::AttnOut, i, Cut::FirstDim, true},
            {h + "attn.c_proj.bias", {C}, Role::AttnOutBias, i, Cut::RankZeroOnly},
            {h + "ln_2.weight", {C}, Role::MlpNorm, i},
            {h + "ln_2.bias", {C}, Role::MlpNormBias, i},
            {h + "mlp.c_fc.weight", {C, F}, Role::Up, i, Cut::LastDim, true},
            {h + "mlp.c_fc.bias", {F}, Role::UpBias, i, Cut::LastDim},
            {h + "mlp.c_proj.weight", {F, C}, Role::Down, i, Cut::FirstDim, true},
            {h + "mlp.c_proj.bias", {C}, Role::DownBias, i, Cut::RankZeroOnly},
        };
        out.insert(out.end(), layer.begin(), layer.end());
    }
    out.push_back({p + "ln_f.weight", {C}, Role::FinalNorm});
    out.push_back({p + "ln_f.bias", {C}, Role::FinalNormBias});
    return out;
}

// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM: nn.Linear [out, in].
// A rank keeps its query heads' rows of q and its key/value heads' rows of k
// and v, its share of gate and up rows, and the matching columns of o and down.
std::vector<CheckpointTensor> llama_tensors(const ModelConfig& c) {
    const int64_t C = c.n_embd, Q = c.q_width(), KV = c.kv_width(), F = c.hidden();
    std::vector<CheckpointTensor> out = {{"model.embed_tokens.weight", {c.vocab_size, C}, Role::TokenEmbedding}};
    for (int i = 0; i < c.n_layer; ++i) {
        const std::string l = "model.layers." + std::to_string(i) + ".";
        auto add = [&](const std::string& name, std::vector<int64_t> shape, Role role, Cut cut = Cut::Whole) {
            out.push_back({l + name, std::move(shape), role, i, cut});
        };
        add("input_layernorm.weight", {C}, Role::AttnNorm);
        add("self_attn.q_proj.weight", {Q, C}, Role::Q, Cut::FirstDim);
        if (c.qkv_bias) add("self_attn.q_proj.bias", {Q}, Role::QBias, Cut::LastDim);
        add("self_attn.k_proj.weight", {KV, C}, Role::K, Cut::FirstDim);
        if (c.qkv_bias) add("self_attn.k_proj.bias", {KV}, Role::KBias, Cut::LastDim);
        add("self_attn.v_proj.weight", {KV, C}, Role::V, Cut::FirstDim);
        if (c.qkv_bias) add("self_attn.v_proj.bias", {KV}, Role::VBias, Cut::LastDim);
        add("self_attn.o_proj.weight", {C, Q}, Role::AttnOut, Cut::LastDim);
        if (c.out_bias) add("self_attn.o_proj.bias", {C}, Role::AttnOutBias, Cut::RankZeroOnly);
        add("post_attention_layernorm.weight", {C}, Role::MlpNorm);
        add("mlp.gate_proj.weight", {F, C}, Role::Gate, Cut::FirstDim);
        add("mlp.up_proj.weight", {F, C}, Role::Up, Cut::FirstDim);
        add("mlp.down_proj.weight", {C, F}, Role::Down, Cut::LastDim);
        if (c.mlp_bias) {  // HF's LlamaMLP then biases each of its three projections
            add("mlp.gate_proj.bias", {F}, Role::GateBias, Cut::LastDim);
            add("mlp.up_proj.bias", {F}, Role::UpBias, Cut::LastDim);
            add("mlp.down_proj.bias", {C}, Role::DownBias, Cut::RankZeroOnly);
        }
    }
    out.push_back({"model.norm.weight", {C}, Role::FinalNorm});
    if (!c.tied_head) out.push_back({"lm_head.weight", {c.vocab_size, C}, Role::Head});
    return out;
}

}  // namespace

InitRule init_rule(TensorRole role) {
    switch (role) {
        case Role::AttnNorm:
        case Role::MlpNorm:
        case Role::FinalNorm: return InitRule::Ones;
        case Role::AttnNormBias:
        case Role::MlpNormBias:
        case Role::FinalNormBias:
        case Role::QkvBias:
        case Role::QBias:
        case Role::KBias:
        case Role::VBias:
        case Role::AttnOutBias:
        case Role::GateBias:
        case Role::UpBias:
        case Role::DownBias: return InitRule::Zeros;
        case Role::AttnOut:
        case Role::Down: return InitRule::NormalResidual;
        default: return InitRule::Normal;
    }
}

CheckpointLayout::CheckpointLayout(const ModelConfig& config, std::string prefix) : family_(config.family), prefix_(std::move(prefix)) {
    tensors_ = family_ == ModelFamily::Gpt2 ? gpt2_tensors(config, prefix_) : llama_tensors(config);
}

CheckpointLayout::CheckpointLayout(const ModelConfig& config)
    : CheckpointLayout(config, config.family == ModelFamily::Gpt2 ? "transformer." : "") {}

namespace {

// A middle stage's shard has no wte: any tensor tells GPT-2's layout.
std::string gpt2_prefix(const TensorSource& source) {
    for (const auto& name : source.names()) {
        if (name.starts_with("transformer.")) return "transformer.";
        if (name == "wte.weight" || name == "wpe.weight" || name.starts_with("h.") || name.starts_with("ln_f.")) return "";
    }
    throw Error(source.describe() + ": holds neither 'wte.weight' nor 'transformer.wte.weight': not a GPT-2 checkpoint");
}

}  // namespace

CheckpointLayout::CheckpointLayout(const ModelConfig& config, const TensorSource& source)
    : CheckpointLayout(config, config.family == ModelFamily::Gpt2 ? gpt2_prefix(source) : "") {}

const CheckpointTensor* CheckpointLayout::find(TensorRole role, int layer) const {
    for (const auto& t : tensors_)
        if (t.role == role && t.layer == layer) return &t;
    return nullptr;
}

const CheckpointTensor* CheckpointLayout::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

std::vector<CheckpointTensor> CheckpointLayout::shard(int layer_begin, int layer_end, bool embedding, bool head) const {
    const bool tied = find(Role::Head) == nullptr;
    std::vector<CheckpointTensor> out;
    for (const auto& t : tensors_) {
        bool wanted = false;
        switch (t.role) {
            case Role::TokenEmbedding: wanted = embedding || (head && tied); break;
            case Role::PositionEmbedding: wanted = embedding; break;
            case Role::FinalNorm:
            case Role::FinalNormBias:
            case Role::Head: wanted = head; break;
            default: wanted = t.layer >= layer_begin && t.layer < layer_end;
        }
        if (wanted) out.push_back(t);
    }
    return out;
}

bool split_by_input_columns(TensorRole role) { return role == TensorRole::AttnOut || role == TensorRole::Down; }

bool held_as_matrix(TensorRole role) {
    using R = TensorRole;
    switch (role) {
        case R::TokenEmbedding:
        case R::PositionEmbedding:
        case R::Qkv:
        case R::Q:
        case R::K:
        case R::V:
        case R::AttnOut:
        case R::Gate:
        case R::Up:
        case R::Down:
        case R::Head: return true;
        default: return false;
    }
}

}  // namespace distgpt
