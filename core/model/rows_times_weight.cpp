#include "model/rows_times_weight.h"

#include <algorithm>

namespace distgpt {
namespace {

// One clone per instruction set, picked at load time: the same binary runs on
// an AVX-512 server, an AVX2 laptop and (through the default) any other x86.
#if defined(__x86_64__) && defined(__GNUC__)
#define DISTGPT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DISTGPT_MULTIVERSION
#endif

constexpr int kMaxRows = 8;

// One input row: four weight rows per pass give four independent
// accumulators and four streams in flight, where one row's dot product is a
// single dependent chain of FMAs.
DISTGPT_MULTIVERSION
void dot_block_one_row(const float* __restrict x, const float* __restrict W, const float* __restrict bias, int in,
                       int o_begin, int o_end, float* __restrict y) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4) {
        const float* __restrict w0 = W + static_cast<long>(o) * in;
        const float* __restrict w1 = w0 + in;
        const float* __restrict w2 = w1 + in;
        const float* __restrict w3 = w2 + in;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int i = 0; i < in; ++i) {
            const float xi = x[i];
            s0 += w0[i] * xi, s1 += w1[i] * xi, s2 += w2[i] * xi, s3 += w3[i] * xi;
        }
        y[o] = s0 + (bias ? bias[o] : 0.0f);
        y[o + 1] = s1 + (bias ? bias[o + 1] : 0.0f);
        y[o + 2] = s2 + (bias ? bias[o + 2] : 0.0f);
        y[o + 3] = s3 + (bias ? bias[o + 3] : 0.0f);
    }
    for (; o < o_end; ++o) {
        const float* __restrict w = W + static_cast<long>(o) * in;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < in; ++i) s += w[i] * x[i];
        y[o] = s + (bias ? bias[o] : 0.0f);
    }
}

// Several input rows: each weight row is read once for all of them.
DISTGPT_MULTIVERSION
void dot_block(const float* __restrict X, int n, const float* __restrict W, const float* __restrict bias, int in,
               int out, int o_begin, int o_end, float* __restrict Y) {
    for (int o = o_begin; o < o_end; ++o) {
        const float* __restrict w = W + static_cast<long>(o) * in;
        float acc[kMaxRows] = {};
        for (int r = 0; r < n; ++r) {
            const float* __restrict x = X + static_cast<long>(r) * in;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < in; ++i) s += w[i] * x[i];
            acc[r] = s;
        }
        const float b = bias ? bias[o] : 0.0f;
        for (int r = 0; r < n; ++r) Y[static_cast<long>(r) * out + o] = acc[r] + b;
    }
}

}  // namespace

void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y,
                       int threads) {
    for (int r0 = 0; r0 < n; r0 += kMaxRows) {
        const int rows = std::min(kMaxRows, n - r0);
        const float* x = X + static_cast<long>(r0) * in;
        float* y = Y + static_cast<long>(r0) * out;
        // Chunks of rows handed out as threads free up: two threads rarely
        // stream memory at the same rate, and a fixed half each leaves one waiting.
        const int chunk = std::max(16, out / (std::max(1, threads) * 16));
        const int chunks = (out + chunk - 1) / chunk;
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 1)
        for (int c = 0; c < chunks; ++c) {
            const int begin = c * chunk, end = std::min(out, (c + 1) * chunk);
            if (rows == 1)
                dot_block_one_row(x, W, bias, in, begin, end, y);
            else
                dot_block(x, rows, W, bias, in, out, begin, end, y);
        }
    }
}

}  // namespace distgpt
