#pragma once

namespace distgpt {

// A block's element-wise pieces, in plain loops (and AVX2 where the CPU has
// it): each output's bits depend on its own row (or element) alone, never
// on how many rows or columns sit beside it, so a sequence computes the
// same bits batched or alone, and a tensor-parallel rank's partial the same
// bits on any node; rows (and long runs of elements) are split across
// `threads`, which cannot change them. (libtorch's ops cost more in dispatch and in their own
// threads than the arithmetic of one decode row: the GELU of 3072 values
// took 20 µs there, 24 % of a q4 token's time outside the matrices.)

// y = (x - mean(x)) / sqrt(var(x) + eps) · w + b over each of `rows` rows of
// `width` values (Ba et al., LayerNorm); the mean and variance in double.
void layer_norm(const float* x, const float* w, const float* b, int rows, int width, double eps, float* y, int threads);

// y = x / sqrt(mean(x²) + eps) · w over each of `rows` rows of `width`
// values (Zhang & Sennrich, RMSNorm).
void rms_norm(const float* x, const float* w, int rows, int width, double eps, float* y, int threads);

// GELU with the tanh approximation (GPT-2's "gelu_new"), in place:
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as the same
// x / (1 + e^(−2·√(2/π)·(x + 0.044715·x³))), which needs no tanh.
void gelu_tanh(float* x, long count, int threads);

// SwiGLU (Shazeer): out[r, i] = silu(gate[r, i]) · up[r, i], silu(g) = g / (1 + e^−g),
// where row r of `gate_up` holds `width` gate values, then `width` up values.
void swiglu(const float* gate_up, int rows, int width, float* out, int threads);

}  // namespace distgpt
