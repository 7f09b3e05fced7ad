#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/stage_weights.h"

#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/block_quant.h"
#include "weights/tensor_parallel_slice.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

namespace distgpt {
namespace {

at::ScalarType scalar_type(const TensorView& v) {
    switch (v.dtype) {
        case DType::F32: return at::kFloat;
        case DType::F16: return at::kHalf;
        case DType::BF16: return at::kBFloat16;
        default:
            throw Error(v.origin + ": tensor '" + v.name + "' has dtype " + std::string(dtype_name(v.dtype)) +
                        "; weights must be F32, F16 or BF16");
    }
}

// Takes a shard's part of each stored tensor, in [out, in] rows: matrices in
// the chosen format, everything else (norms, biases, positions) in fp32.
class ShardReader {
public:
    ShardReader(const TensorSource& source, const ModelConfig& config, const ShardSpec& shard, WeightFormat format)
        : source_(source), layout_(config, source), shard_(shard), format_(format) {}

    bool has(TensorRole role, int layer = -1) const { return layout_.find(role, layer) != nullptr; }

    // One tensor: this shard's slice of it (a streamed source holds just that), in fp32.
    at::Tensor take(TensorRole role, int layer = -1) const { return rows_of({role}, layer, at::kFloat); }
    HeldMatrix matrix(TensorRole role, int layer = -1) const { return matrix_of({role}, layer); }

    // Several matrices' slices stacked along their first (output) dimension,
    // in the stage's format; a row-parallel one in a segment per rank held.
    HeldMatrix matrix_of(std::initializer_list<TensorRole> roles, int layer) const {
        const TensorRole role = *roles.begin();
        const int segments = split_by_input_columns(role) ? shard_.tp_ranks : 1;
        if (is_block_format(format_)) return hold_matrix(rows_of(roles, layer, at::kFloat), format_, segments);
        at::Tensor values = rows_of(roles, layer, scalar_type_of(format_));  // fp32 or 16-bit: no fp32 copy of a 16-bit matrix
        if (is_held_in_tiles(format_)) return hold_matrix(values, format_, segments);
        const int64_t columns = values.size(1);
        return {std::move(values), format_, columns, segments};
    }

    // Several tensors' slices stacked along their first (output) dimension, as `type_held`.
    at::Tensor rows_of(std::initializer_list<TensorRole> roles, int layer, at::ScalarType type_held) const {
        std::vector<at::Tensor> parts;  // views of the stored bytes, or of slices
        std::vector<TensorView> views;
        std::vector<TensorSlice> slices;
        slices.reserve(roles.size());
        int64_t rows = 0;
        for (TensorRole role : roles) {
            const CheckpointTensor* t = layout_.find(role, layer);
            if (!t) throw Error(source_.describe() + ": the model's layout has no tensor for this role in layer " + std::to_string(layer));
            const TensorView view = source_.get(t->name);
            const at::ScalarType type = scalar_type(view);
            check_shape(view, *t);
            at::Tensor stored;
            if (cut_here(*t)) {
                slices.push_back(slice_for_ranks(view, t->cut, shard_.tp_rank, shard_.tp_ranks, shard_.tp_size));
                stored = at::from_blob(slices.back().bytes.data(), slices.back().shape, at::TensorOptions().dtype(type));
            } else {
                stored = at::from_blob(const_cast<std::byte*>(view.data), view.shape, at::TensorOptions().dtype(type));
            }
            if (t->in_out) stored = stored.t();  // Conv1D [in, out] -> [out, in]
            rows += stored.size(0);
            parts.push_back(stored);
            views.push_back(view);
        }
        std::vector<int64_t> sizes = parts[0].sizes().vec();
        sizes[0] = rows;
        at::Tensor out = empty_weight(sizes, type_held);
        int64_t row = 0;
        for (const auto& p : parts) {
            out.narrow(0, row, p.size(0)).copy_(p);
            row += p.size(0);
        }
        for (const auto& v : views) source_.release(v);
        return out;
    }

private:
    // A sliced source was cut by slice_for_ranks already: take its tensors as they are.
    bool cut_here(const CheckpointTensor& t) const {
        return !shard_.sliced_source && shard_.tp_size > 1 && t.cut != TensorParallelCut::Whole && t.cut != TensorParallelCut::RankZeroOnly;
    }

    void check_shape(const TensorView& view, const CheckpointTensor& t) const {
        const std::vector<int64_t> expected =
            shard_.sliced_source ? sliced_shape(t.shape, t.cut, shard_.tp_ranks, shard_.tp_size) : t.shape;
        if (view.shape == expected) return;
        TensorView want;
        want.shape = expected;
        throw Error(view.origin + ": tensor '" + t.name + "' has shape " + view.shape_string() + " but config.json implies " +
                    want.shape_string() + " (config and weights do not match)");
    }

    const TensorSource& source_;
    CheckpointLayout layout_;
    ShardSpec shard_;
    WeightFormat format_;
};

}  // namespace

int64_t StageWeights::bytes() const {
    int64_t n = 0;
    auto add = [&](const at::Tensor& t) {
        if (t.defined()) n += t.numel() * static_cast<int64_t>(t.element_size());
    };
    n += wte.bytes() + wpe.bytes();
    for (const auto* t : {&final_norm_w, &final_norm_b}) add(*t);
    if (head_w.defined() && !(wte.defined() && head_w.is_same(wte))) n += head_w.bytes();
    for (const auto& l : layers) {
        for (const auto* t : {&l.attn_norm_w, &l.attn_norm_b, &l.qkv_b, &l.attn_out_b, &l.mlp_norm_w, &l.mlp_norm_b, &l.up_b, &l.down_b})
            add(*t);
        for (const auto* m : {&l.qkv_w, &l.attn_out_w, &l.up_w, &l.down_w}) n += m->bytes();
    }
    return n;
}

StageWeights load_stage_weights(const TensorSource& source, const ModelConfig& config, const ShardSpec& shard, WeightFormat format) {
    shard.validate(config);
    const ShardReader read(source, config, shard, format);
    using R = TensorRole;
    auto optional = [&](R role, int layer) { return read.has(role, layer) ? read.take(role, layer) : at::Tensor(); };

    StageWeights w;
    w.config = config;
    w.shard = shard;
    const bool tied = !read.has(R::Head);
    if (shard.embedding || (shard.head && tied)) w.wte = read.matrix(R::TokenEmbedding);
    if (shard.embedding && config.positions() == Positions::Learned) w.wpe = read.matrix(R::PositionEmbedding);
    if (shard.head) {
        w.final_norm_w = read.take(R::FinalNorm);
        w.final_norm_b = optional(R::FinalNormBias, -1);
        w.head_w = tied ? w.wte : read.matrix(R::Head);
    }
    const bool fused_qkv = read.has(R::Qkv, shard.layer_begin);
    for (int i = shard.layer_begin; i < shard.layer_end; ++i) {
        LayerWeights l;
        l.attn_norm_w = read.take(R::AttnNorm, i);
        l.attn_norm_b = optional(R::AttnNormBias, i);
        l.qkv_w = fused_qkv ? read.matrix(R::Qkv, i) : read.matrix_of({R::Q, R::K, R::V}, i);
        if (fused_qkv)
            l.qkv_b = read.take(R::QkvBias, i);
        else if (read.has(R::QBias, i))
            l.qkv_b = read.rows_of({R::QBias, R::KBias, R::VBias}, i, at::kFloat);
        l.attn_out_w = read.matrix(R::AttnOut, i);
        if (shard.holds_rank_zero()) l.attn_out_b = optional(R::AttnOutBias, i);
        l.mlp_norm_w = read.take(R::MlpNorm, i);
        l.mlp_norm_b = optional(R::MlpNormBias, i);
        l.up_w = config.gated_mlp() ? read.matrix_of({R::Gate, R::Up}, i) : read.matrix(R::Up, i);
        if (read.has(R::UpBias, i))
            l.up_b = config.gated_mlp() ? read.rows_of({R::GateBias, R::UpBias}, i, at::kFloat) : read.take(R::UpBias, i);
        l.down_w = read.matrix(R::Down, i);
        if (shard.holds_rank_zero()) l.down_b = optional(R::DownBias, i);
        w.layers.push_back(std::move(l));
    }
    return w;
}

}  // namespace distgpt
