#pragma once
#include "weights/weight_format.h"

#include <cstdint>

namespace distgpt {

// A matrix's rows as a stage holds them, in `format`. fp32 and 16-bit: row
// o starts at element o·ld of `data`. q8 and q4: `data` holds the whole
// matrix's tiles (weights/block_quant.h, BlockTiles), `ld` blocks to a row,
// and these rows start at block `first_block`.
struct WeightRows {
    const void* data;
    WeightFormat format = WeightFormat::F32;
    long ld = 0;
    long first_block = 0;  // block formats only
    // The same rows, starting at column `first` (in a block format, where a
    // block starts).
    WeightRows columns_from(long first) const;
};

// Y[n, out] = X[n, in] · W[out, in]ᵀ (+ bias[out]), for the few rows of a
// decode step. Decode is bound by reading W; this kernel reads each weight row
// once for every 32 inputs, with the rows split across `threads` threads. It
// reaches the machine's read bandwidth where BLAS gemv here does half of it.
// Each output row's bits depend only on its own input row (BLAS gemm's do
// not: they change with the number of rows), so a sequence computes the same
// bits alone or batched, in one process or in a pipeline. 16-bit weights are
// widened to fp32 as they are read; the sums are fp32.
void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y, int threads);

// The same over a block of columns: row r of X starts at X + r·ldx, and W
// holds `in` values from where its rows start. A tensor-parallel shard holding
// several ranks takes each rank's share of its inputs this way, in place.
void rows_times_weight(const float* X, int ldx, int n, WeightRows W, const float* bias, int out, int in, float* Y, int threads);

// Wall time spent inside rows_times_weight since the process started, summed
// over its callers, in nanoseconds: a bench splits a token's time into the
// matrices and the rest with it (two clock reads a call, ~50 calls a token).
int64_t rows_times_weight_nanoseconds();

}  // namespace distgpt
