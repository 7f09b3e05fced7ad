#pragma once

namespace distgpt {

// Y[n, out] = X[n, in] · W[out, in]ᵀ (+ bias[out]), for the few rows of a
// decode step. Decode is bound by reading W; this kernel reads each weight row
// once for all n inputs, with the rows split across `threads` threads. It
// reaches the machine's read bandwidth where BLAS gemv here does half of it.
// Best for n <= 8; prefill goes through BLAS gemm instead.
void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y,
                       int threads);

}  // namespace distgpt
