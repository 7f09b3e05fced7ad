#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/stage.h"

#include "model/cached_attention.h"
#include "model/rank_order_sum.h"
#include "model/row_kernels.h"
#include "model/rows_times_weight.h"
#include "util/error.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstring>
#include <cmath>

namespace distgpt {
namespace {

at::Tensor tensor_of(std::vector<int64_t>& values) {
    return at::from_blob(values.data(), {static_cast<int64_t>(values.size())}, at::TensorOptions().dtype(at::kLong));
}

// The partials of the ranks one shard holds, added as a group adds them.
at::Tensor sum_of(const std::vector<at::Tensor>& partials) {
    if (partials.size() == 1) return partials[0];
    std::vector<const float*> parts;
    for (const auto& p : partials) parts.push_back(p.data_ptr<float>());
    at::Tensor sum = at::empty(partials[0].sizes());  // [N, C]
    sum_in_rank_order(parts, static_cast<std::size_t>(sum.numel()), sum.data_ptr<float>());
    return sum;
}

}  // namespace

Stage::Stage(StageWeights weights, int slots, int max_context, int threads)
    : w_(std::move(weights)), slots_(slots), max_context_(max_context), threads_(std::max(1, threads)) {
    const auto& c = w_.config;
    if (slots_ < 1) throw Error("a stage needs at least one sequence slot");
    if (max_context_ < 1 || max_context_ > c.n_positions)
        throw Error("context " + std::to_string(max_context_) + " is outside 1.." + std::to_string(c.n_positions) +
                    " (the model's n_positions)");
    heads_ = c.n_head / w_.shard.tp_size * w_.shard.tp_ranks;
    kv_heads_ = c.kv_heads() / w_.shard.tp_size * w_.shard.tp_ranks;
    if (c.positions() == Positions::Rotary && !w_.layers.empty()) rotary_ = RotaryTable(c, max_context_);
    // Untouched pages cost nothing: the cache grows in RSS as positions are written.
    for (std::size_t l = 0; l < w_.layers.size(); ++l) {
        k_cache_.push_back(at::empty({slots_, kv_heads_, max_context_, c.head_dim()}));
        v_cache_.push_back(at::empty({slots_, kv_heads_, max_context_, c.head_dim()}));
    }
}

int64_t Stage::kv_cache_bytes() const {
    return 2 * static_cast<int64_t>(w_.layers.size()) * slots_ * kv_heads_ * max_context_ * w_.config.head_dim() * 4;
}

void Stage::check(const at::Tensor& input, std::span<const Segment> segments) const {
    int64_t rows = 0;
    for (const auto& s : segments) {
        if (s.slot < 0 || s.slot >= slots_)
            throw Error("sequence slot " + std::to_string(s.slot) + " is outside 0.." + std::to_string(slots_ - 1));
        if (s.len < 1 || s.pos < 0 || s.pos + s.len > max_context_)
            throw Error("positions " + std::to_string(s.pos) + ".." + std::to_string(s.pos + s.len - 1) + " do not fit the context of " +
                        std::to_string(max_context_));
        if (s.slide < 0 || s.slide + s.pos > max_context_)
            throw Error("a window slide of " + std::to_string(s.slide) + " to position " + std::to_string(s.pos) +
                        " does not fit the context of " + std::to_string(max_context_));
        if (s.slide > 0 && w_.config.positions() != Positions::Rotary)
            throw Error("a window slide turns cached keys back; this model's positions are learned: re-prefill instead");
        rows += s.len;
    }
    if (segments.empty()) throw Error("a forward pass needs at least one segment");
    if (input.size(0) != rows)
        throw Error("input has " + std::to_string(input.size(0)) + " rows but the segments cover " + std::to_string(rows));
    if (w_.shard.embedding ? (input.dim() != 1 || input.scalar_type() != at::kLong)
                           : (input.dim() != 2 || input.size(1) != w_.config.n_embd || input.scalar_type() != at::kFloat))
        throw Error(w_.shard.embedding ? "the first stage takes int64 token ids [N]"
                                       : "a middle stage takes fp32 hidden states [N, " + std::to_string(w_.config.n_embd) + "]");
}

at::Tensor Stage::forward(const at::Tensor& input, std::span<const Segment> segments, LogitRows rows) {
    check(input, segments);
    if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
    for (const auto& s : segments)
        if (s.slide > 0) slide_window(s);
    at::Tensor x = w_.shard.embedding ? embed(input, segments) : input;  // [N, C]
    for (int l = 0; l < static_cast<int>(w_.layers.size()); ++l) x = block(l, std::move(x), segments);
    return w_.shard.head ? head(x, segments, rows) : x;
}

// The kept positions slide .. slide+pos-1 of every layer's cache move down
// to 0 .. pos-1, keys turned back by `slide`; values carry no position.
void Stage::slide_window(const Segment& s) {
    const int64_t KV = kv_heads_, D = w_.config.head_dim();
    const std::size_t row_bytes = static_cast<std::size_t>(D) * sizeof(float);
    for (std::size_t l = 0; l < w_.layers.size(); ++l) {
        float* k = k_cache_[l].select(0, s.slot).data_ptr<float>();  // [KV', max_context, D]
        float* v = v_cache_[l].select(0, s.slot).data_ptr<float>();
        for (int64_t h = 0; h < KV; ++h) {
            float* kh = k + h * max_context_ * D;
            float* vh = v + h * max_context_ * D;
            std::memmove(kh, kh + s.slide * D, s.pos * row_bytes);
            std::memmove(vh, vh + s.slide * D, s.pos * row_bytes);
            for (int p = 0; p < s.pos; ++p) rotary_.apply_back(kh + p * D, 1, s.slide);
        }
    }
}

at::Tensor Stage::embed(const at::Tensor& ids, std::span<const Segment> segments) {
    const int64_t vocab = w_.config.vocab_size;
    const auto* id = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < ids.size(0); ++i)
        if (id[i] < 0 || id[i] >= vocab)
            throw Error("token id " + std::to_string(id[i]) + " is outside the model's vocabulary of " + std::to_string(vocab));
    at::Tensor x = w_.wte.rows_as_float(ids);                  // [N, C]
    if (w_.config.positions() == Positions::Rotary) return x;  // positions turn q and k in attention instead
    std::vector<int64_t> positions;
    for (const auto& s : segments)
        for (int p = s.pos; p < s.pos + s.len; ++p) positions.push_back(p);
    return x.add_(w_.wpe.rows_as_float(tensor_of(positions)));  // [N, C]
}

at::Tensor Stage::norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    const ModelConfig& c = w_.config;
    const at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty(xc.sizes());  // [N, C]
    const int rows = static_cast<int>(xc.size(0));
    if (c.norm() == NormKind::LayerNorm)
        layer_norm(xc.data_ptr<float>(), w.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, rows, c.n_embd, c.norm_eps,
                   y.data_ptr<float>(), threads_);
    else
        rms_norm(xc.data_ptr<float>(), w.data_ptr<float>(), rows, c.n_embd, c.norm_eps, y.data_ptr<float>(), threads_);
    return y;
}

at::Tensor Stage::activate(at::Tensor u) const {
    switch (w_.config.activation) {
        case Activation::GeluTanh: gelu_tanh(u.data_ptr<float>(), u.numel(), threads_); return u;  // u: a linear's fresh [N, F']
        case Activation::GeluErf: return at::gelu(u);
        case Activation::Relu: return at::relu(u);
        case Activation::Silu: return at::silu(u);
    }
    return u;
}

at::Tensor Stage::block(int l, at::Tensor x, std::span<const Segment> segments) {
    const auto& w = w_.layers[l];
    x.add_(reduce(attention_partials(l, norm(x, w.attn_norm_w, w.attn_norm_b), segments)));  // [N, C]
    x.add_(reduce(mlp_partials(l, norm(x, w.mlp_norm_w, w.mlp_norm_b))));                    // [N, C]
    return x;
}

// One [N, C] partial per rank held.
std::vector<at::Tensor> Stage::attention_partials(int l, const at::Tensor& h, std::span<const Segment> segments) {
    const auto& w = w_.layers[l];
    at::Tensor qkv = linear(h, w.qkv_w, w.qkv_b);              // [N, Q'+2K']
    const at::Tensor y = attend(l, std::move(qkv), segments);  // [N, Q']
    return row_parallel(y, w.attn_out_w, w.attn_out_b);        // ranks × [N, C]
}

std::vector<at::Tensor> Stage::mlp_partials(int l, const at::Tensor& h) {
    const auto& w = w_.layers[l];
    at::Tensor u = linear(h, w.up_w, w.up_b);  // [N, F'], or gated [N, 2F']
    if (w_.config.gated_mlp()) {
        const int64_t F = u.size(1) / 2;
        at::Tensor gated = at::empty({u.size(0), F});  // [N, F']  silu(gate) · up
        swiglu(u.data_ptr<float>(), static_cast<int>(u.size(0)), static_cast<int>(F), gated.data_ptr<float>(), threads_);
        u = std::move(gated);
    } else {
        u = activate(std::move(u));  // [N, F']
    }
    return row_parallel(u, w.down_w, w.down_b);  // ranks × [N, C]
}

at::Tensor Stage::attention_partial(int l, const at::Tensor& h, std::span<const Segment> segments) {
    return sum_of(attention_partials(l, h, segments));
}

at::Tensor Stage::mlp_partial(int l, const at::Tensor& h) { return sum_of(mlp_partials(l, h)); }

at::Tensor Stage::reduce(const std::vector<at::Tensor>& partials) const {
    return all_reduce_ ? all_reduce_(partials, PartialSums::Activations) : sum_of(partials);
}

// qkv: [N, Q'+2K'], each row q | k | v of this shard's heads at its position.
at::Tensor Stage::attend(int l, at::Tensor qkv, std::span<const Segment> segments) {
    const int64_t H = heads_, KV = kv_heads_, D = w_.config.head_dim(), Q = H * D, K = KV * D, W = Q + 2 * K;
    if (w_.config.positions() == Positions::Rotary) {  // turn each row's q and k heads by its position
        float* r = qkv.data_ptr<float>();
        for (const auto& s : segments)
            for (int p = s.pos; p < s.pos + s.len; ++p, r += W) {
                rotary_.apply(r, static_cast<int>(H), p);
                rotary_.apply(r + Q, static_cast<int>(KV), p);
            }
    }
    at::Tensor out = at::empty({qkv.size(0), Q});  // [N, Q']
    int64_t row = 0;
    for (const auto& s : segments) {
        const float* r = qkv.data_ptr<float>() + row * W;  // q | k | v of the segment's first row
        cached_attention(r, r + Q, r + Q + K, W, s.len, k_cache_[l].select(0, s.slot).data_ptr<float>(),
                         v_cache_[l].select(0, s.slot).data_ptr<float>(), static_cast<int>(H), static_cast<int>(KV), max_context_,
                         static_cast<int>(D), s.pos, out.data_ptr<float>() + row * Q, threads_);
        row += s.len;
    }
    return out;
}

// An output projection split by rows (Megatron): one partial [N, C] per
// rank held, each over that rank's share of the inputs, rank 0's with the
// bias. A rank's partial has the same bits on whichever node computes it.
std::vector<at::Tensor> Stage::row_parallel(const at::Tensor& x, const HeldMatrix& w, const at::Tensor& b) const {
    const int ranks = w_.shard.tp_ranks;
    const at::Tensor xc = x.contiguous();
    const int64_t n = xc.size(0), out = w.rows(), in = w.columns, share = in / ranks;
    std::vector<at::Tensor> partials;
    for (int i = 0; i < ranks; ++i) {
        at::Tensor y = at::empty({n, out});  // [N, C]
        const float* bias = i == 0 && b.defined() ? b.data_ptr<float>() : nullptr;
        rows_times_weight(xc.data_ptr<float>() + i * share, static_cast<int>(in), static_cast<int>(n), w.segment(i), bias,
                          static_cast<int>(out), static_cast<int>(share), y.data_ptr<float>(), threads_);
        partials.push_back(std::move(y));
    }
    return partials;
}

// Not BLAS: its results for a row change with the rows beside it, and a
// sequence must compute the same bits however it is batched.
at::Tensor Stage::linear(const at::Tensor& x, const HeldMatrix& w, const at::Tensor& b) const {
    const int64_t n = x.size(0), out = w.rows(), in = w.columns;
    const at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty({n, out});  // [n, out]
    rows_times_weight(xc.data_ptr<float>(), static_cast<int>(in), static_cast<int>(n), w.weight_rows(),
                      b.defined() ? b.data_ptr<float>() : nullptr, static_cast<int>(out), static_cast<int>(in), y.data_ptr<float>(),
                      threads_);
    return y;
}

at::Tensor Stage::head(const at::Tensor& x, std::span<const Segment> segments, LogitRows rows) {
    at::Tensor h = x;  // [N, C]
    if (rows == LogitRows::Last) {
        std::vector<int64_t> last;
        int64_t end = 0;
        for (const auto& s : segments) last.push_back((end += s.len) - 1);
        h = at::index_select(x, 0, tensor_of(last));  // [S, C]
    }
    h = norm(h, w_.final_norm_w, w_.final_norm_b);  // [S or N, C]
    const ShardSpec& shard = w_.shard;
    if (!split_head_ || !all_reduce_ || shard.tp_ranks == shard.tp_size) return linear(h, w_.head_w, at::Tensor());  // [S or N, V]
    // Split by the vocabulary: each rank multiplies its share of the head's
    // rows (the head is ~30 % of gpt2's bytes, and every rank reading all of
    // it made tensor parallel slower than one process). The shares, zero
    // elsewhere, add up to every logit exactly, each with the bits one
    // process gives it (a row's bits are its own).
    const at::Tensor hc = h.contiguous();
    const int64_t n = hc.size(0), V = w_.head_w.rows(), C = w_.head_w.columns;
    std::vector<at::Tensor> partials;
    for (int r = shard.tp_rank; r < shard.tp_rank + shard.tp_ranks; ++r) {
        const int64_t begin = vocabulary_share_begin(V, r, shard.tp_size), end = vocabulary_share_begin(V, r + 1, shard.tp_size);
        at::Tensor share = at::empty({n, end - begin});  // [S or N, V']
        rows_times_weight(hc.data_ptr<float>(), static_cast<int>(C), static_cast<int>(n), w_.head_w.rows_from(begin), nullptr,
                          static_cast<int>(end - begin), static_cast<int>(C), share.data_ptr<float>(), threads_);
        at::Tensor logits = at::zeros({n, V});  // [S or N, V]
        logits.narrow(1, begin, end - begin).copy_(share);
        partials.push_back(std::move(logits));
    }
    return all_reduce_(partials, PartialSums::Logits);  // [S or N, V]
}

int64_t vocabulary_share_begin(int64_t vocab, int rank, int ranks) {
    if (rank >= ranks) return vocab;
    return vocab * rank / ranks / 16 * 16;  // whole groups of rows in every format
}

}  // namespace distgpt
