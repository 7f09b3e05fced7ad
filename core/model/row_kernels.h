#pragma once

namespace distgpt {

// The LLaMA block's element-wise pieces, in plain loops: each output's bits
// depend on its own row (or element) alone, never on how many rows or
// columns sit beside it, so a sequence computes the same bits batched or
// alone, and a tensor-parallel rank's partial the same bits on any node.

// y = x / sqrt(mean(x²) + eps) · w over each of `rows` rows of `width`
// values (Zhang & Sennrich, RMSNorm).
void rms_norm(const float* x, const float* w, int rows, int width, double eps, float* y);

// SwiGLU (Shazeer): out[r, i] = silu(gate[r, i]) · up[r, i], silu(g) = g / (1 + e^−g),
// where row r of `gate_up` holds `width` gate values, then `width` up values.
void swiglu(const float* gate_up, int rows, int width, float* out);

}  // namespace distgpt
