#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/stage_weights.h"

#include "util/error.h"
#include "util/huge_pages.h"
#include "weights/gpt2_names.h"

#include <ATen/ops/cat.h>
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
at::Tensor empty_weight(at::IntArrayRef sizes) {
    int64_t numel = 1;
    for (int64_t d : sizes) numel *= d;
    const std::size_t bytes = static_cast<std::size_t>(numel) * sizeof(float);
    if (bytes < (1u << 20)) return at::empty(sizes, at::TensorOptions().dtype(at::kFloat));
    void* p = allocate_streamed(bytes);
    if (!p) throw Error("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of weights");
    return at::from_blob(
        p, sizes, [](void* q) { std::free(q); }, at::TensorOptions().dtype(at::kFloat));
}

// Copies what `pick` selects of a stored tensor into a new fp32 tensor.
template <typename Pick>
at::Tensor copy_out(const TensorSource& source, const std::string& name, std::vector<int64_t> expected, Pick pick) {
    const TensorView view = source.get(name);
    const at::ScalarType stored_type = scalar_type(view);
    if (view.shape != expected) {
        TensorView want;
        want.shape = expected;
        throw Error(view.origin + ": tensor '" + name + "' has shape " + view.shape_string() + " but config.json implies " +
                    want.shape_string() + " (config and weights do not match)");
    }
    const at::Tensor stored = at::from_blob(const_cast<std::byte*>(view.data), view.shape, at::TensorOptions().dtype(stored_type));
    const at::Tensor picked = pick(stored);
    at::Tensor out = empty_weight(picked.sizes());
    out.copy_(picked);
    source.release(view);
    return out;
}

at::Tensor whole(const TensorSource& s, const std::string& name, std::vector<int64_t> shape) {
    return copy_out(s, name, std::move(shape), [](const at::Tensor& t) { return t; });
}

}  // namespace

int64_t StageWeights::bytes() const {
    int64_t n = 0;
    auto add = [&](const at::Tensor& t) {
        if (t.defined()) n += t.numel() * static_cast<int64_t>(t.element_size());
    };
    for (const auto* t : {&wte, &wpe, &lnf_w, &lnf_b}) add(*t);
    for (const auto& l : layers)
        for (const auto* t : {&l.ln1_w, &l.ln1_b, &l.qkv_w, &l.qkv_b, &l.attn_out_w, &l.attn_out_b, &l.ln2_w, &l.ln2_b, &l.fc_w, &l.fc_b,
                              &l.mlp_out_w, &l.mlp_out_b})
            add(*t);
    return n;
}

StageWeights load_stage_weights(const TensorSource& source, const Gpt2Config& config, const ShardSpec& shard) {
    shard.validate(config);
    const Gpt2Names names(source);
    const int64_t C = config.n_embd, k = shard.tp_size, r = shard.tp_rank, n = shard.tp_ranks;
    const int64_t Cs = C / k * n, Fs = 4 * C / k * n;             // this shard's attention width and MLP width
    const int64_t from = C / k * r, from_hidden = 4 * C / k * r;  // where its share starts
    // A sliced source was cut by slice_for_ranks already: take its tensors as they are.
    const bool cut = !shard.sliced_source;

    StageWeights w;
    w.config = config;
    w.shard = shard;
    if (shard.embedding || shard.head) w.wte = whole(source, names.wte(), {config.vocab_size, C});
    if (shard.embedding) w.wpe = whole(source, names.wpe(), {config.n_positions, C});
    if (shard.head) {
        w.lnf_w = whole(source, names.ln_f("weight"), {C});
        w.lnf_b = whole(source, names.ln_f("bias"), {C});
    }
    // Conv1D weights are stored [in, out]: columns are outputs.
    auto qkv_rows = [&](const at::Tensor& t) {  // t: [C, 3C] or [3C]; keep this shard's heads of q, k and v
        if (!cut) return t;
        const int64_t dim = t.dim() - 1;
        return at::cat({t.narrow(dim, from, Cs), t.narrow(dim, C + from, Cs), t.narrow(dim, 2 * C + from, Cs)}, dim);
    };
    for (int i = shard.layer_begin; i < shard.layer_end; ++i) {
        LayerWeights l;
        auto name = [&](const char* what) { return names.layer(i, what); };
        l.ln1_w = whole(source, name("ln_1.weight"), {C});
        l.ln1_b = whole(source, name("ln_1.bias"), {C});
        const int64_t qkv = cut ? 3 * C : 3 * Cs, attn_in = cut ? C : Cs, hidden = cut ? 4 * C : Fs;
        l.qkv_w = copy_out(source, name("attn.c_attn.weight"), {C, qkv}, [&](const at::Tensor& t) { return qkv_rows(t).t(); });
        l.qkv_b = copy_out(source, name("attn.c_attn.bias"), {qkv}, qkv_rows);
        l.attn_out_w = copy_out(source, name("attn.c_proj.weight"), {attn_in, C},
                                [&](const at::Tensor& t) { return (cut ? t.narrow(0, from, Cs) : t).t(); });
        if (shard.holds_rank_zero()) l.attn_out_b = whole(source, name("attn.c_proj.bias"), {C});
        l.ln2_w = whole(source, name("ln_2.weight"), {C});
        l.ln2_b = whole(source, name("ln_2.bias"), {C});
        l.fc_w = copy_out(source, name("mlp.c_fc.weight"), {C, hidden},
                          [&](const at::Tensor& t) { return (cut ? t.narrow(1, from_hidden, Fs) : t).t(); });
        l.fc_b =
            copy_out(source, name("mlp.c_fc.bias"), {hidden}, [&](const at::Tensor& t) { return cut ? t.narrow(0, from_hidden, Fs) : t; });
        l.mlp_out_w = copy_out(source, name("mlp.c_proj.weight"), {hidden, C},
                               [&](const at::Tensor& t) { return (cut ? t.narrow(0, from_hidden, Fs) : t).t(); });
        if (shard.holds_rank_zero()) l.mlp_out_b = whole(source, name("mlp.c_proj.bias"), {C});
        w.layers.push_back(std::move(l));
    }
    return w;
}

}  // namespace distgpt
