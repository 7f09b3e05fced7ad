#pragma once

namespace distgpt {

// Y[n, out] = X[n, in] · W[out, in]ᵀ (+ bias[out]), for the few rows of a
// decode step. Decode is bound by reading W; this kernel reads each weight row
// once for every 32 inputs, with the rows split across `threads` threads. It
// reaches the machine's read bandwidth where BLAS gemv here does half of it.
// Each output row's bits depend only on its own input row (BLAS gemm's do
// not: they change with the number of rows), so a sequence computes the same
// bits alone or batched, in one process or in a pipeline.
void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y, int threads);

// The same over a block of columns: row r of X starts at X + r·ldx and row o
// of W at W + o·ldw (`in` values each). A tensor-parallel shard holding several
// ranks takes each rank's share of its inputs this way, in place.
void rows_times_weight(const float* X, int ldx, int n, const float* W, int ldw, const float* bias, int out, int in, float* Y, int threads);

}  // namespace distgpt
