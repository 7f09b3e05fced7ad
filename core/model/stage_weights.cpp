#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/stage_weights.h"

#include "util/error.h"
#include "util/huge_pages.h"
#include "weights/checkpoint_layout.h"
#include "weights/tensor_parallel_slice.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstdlib>

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

// Decode streams every weight once per token; in huge pages it runs ~10%
// faster here (docs/performance.md).
at::Tensor empty_weight(at::IntArrayRef sizes, at::ScalarType type) {
    int64_t numel = 1;
    for (int64_t d : sizes) numel *= d;
    const std::size_t bytes = static_cast<std::size_t>(numel) * at::elementSize(type);
    if (bytes < (1u << 20)) return at::empty(sizes, at::TensorOptions().dtype(type));
    void* p = allocate_streamed(bytes);
    if (!p) throw Error("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of weights");
    return at::from_blob(
        p, sizes, [](void* q) { std::free(q); }, at::TensorOptions().dtype(type));
}

// Takes a shard's part of each stored tensor, in [out, in] rows: matrices in
// the chosen format, everything else (norms, biases, positions) in fp32.
class ShardReader {
public:
    ShardReader(const TensorSource& source, const ModelConfig& config, const ShardSpec& shard, WeightFormat format)
        : source_(source), layout_(config, source), shard_(shard), matrix_type_(scalar_type_of(format)) {}

    bool has(TensorRole role, int layer = -1) const { return layout_.find(role, layer) != nullptr; }

    // One tensor: this shard's slice of it (a streamed source holds just that).
    at::Tensor take(TensorRole role, int layer = -1) const { return rows_of({role}, layer); }

    // Several tensors' slices stacked along their first (output) dimension,
    // matrices in the stage's format, the rest in fp32.
    at::Tensor rows_of(std::initializer_list<TensorRole> roles, int layer) const {
        const at::ScalarType type_held = held_as_matrix(*roles.begin()) ? matrix_type_ : at::kFloat;
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
    at::ScalarType matrix_type_;
};

}  // namespace

int64_t StageWeights::bytes() const {
    int64_t n = 0;
    auto add = [&](const at::Tensor& t) {
        if (t.defined()) n += t.numel() * static_cast<int64_t>(t.element_size());
    };
    for (const auto* t : {&wte, &wpe, &final_norm_w, &final_norm_b}) add(*t);
    if (head_w.defined() && !(wte.defined() && head_w.is_same(wte))) add(head_w);
    for (const auto& l : layers)
        for (const auto* t : {&l.attn_norm_w, &l.attn_norm_b, &l.qkv_w, &l.qkv_b, &l.attn_out_w, &l.attn_out_b, &l.mlp_norm_w,
                              &l.mlp_norm_b, &l.up_w, &l.up_b, &l.down_w, &l.down_b})
            add(*t);
    return n;
}

at::ScalarType scalar_type_of(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return at::kFloat;
        case WeightFormat::BF16: return at::kBFloat16;
        case WeightFormat::F16: return at::kHalf;
    }
    return at::kFloat;
}

WeightFormat weight_format_of(const at::Tensor& matrix) {
    switch (matrix.scalar_type()) {
        case at::kBFloat16: return WeightFormat::BF16;
        case at::kHalf: return WeightFormat::F16;
        default: return WeightFormat::F32;
    }
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
    if (shard.embedding || (shard.head && tied)) w.wte = read.take(R::TokenEmbedding);
    if (shard.embedding && config.positions() == Positions::Learned) w.wpe = read.take(R::PositionEmbedding);
    if (shard.head) {
        w.final_norm_w = read.take(R::FinalNorm);
        w.final_norm_b = optional(R::FinalNormBias, -1);
        w.head_w = tied ? w.wte : read.take(R::Head);
    }
    const bool fused_qkv = read.has(R::Qkv, shard.layer_begin);
    for (int i = shard.layer_begin; i < shard.layer_end; ++i) {
        LayerWeights l;
        l.attn_norm_w = read.take(R::AttnNorm, i);
        l.attn_norm_b = optional(R::AttnNormBias, i);
        l.qkv_w = fused_qkv ? read.take(R::Qkv, i) : read.rows_of({R::Q, R::K, R::V}, i);
        if (fused_qkv)
            l.qkv_b = read.take(R::QkvBias, i);
        else if (read.has(R::QBias, i))
            l.qkv_b = read.rows_of({R::QBias, R::KBias, R::VBias}, i);
        l.attn_out_w = read.take(R::AttnOut, i);
        if (shard.holds_rank_zero()) l.attn_out_b = optional(R::AttnOutBias, i);
        l.mlp_norm_w = read.take(R::MlpNorm, i);
        l.mlp_norm_b = optional(R::MlpNormBias, i);
        l.up_w = config.gated_mlp() ? read.rows_of({R::Gate, R::Up}, i) : read.take(R::Up, i);
        if (read.has(R::UpBias, i)) l.up_b = config.gated_mlp() ? read.rows_of({R::GateBias, R::UpBias}, i) : read.take(R::UpBias, i);
        l.down_w = read.take(R::Down, i);
        if (shard.holds_rank_zero()) l.down_b = optional(R::DownBias, i);
        w.layers.push_back(std::move(l));
    }
    return w;
}

}  // namespace distgpt
