#include "model/rows_times_weight.h"

#include <algorithm>

namespace distgpt {
namespace {

// One clone per instruction set, picked at load time: the same binary runs on
// an AVX-512 server, an AVX2 laptop and (through the default) any other x86.
// (Not under ThreadSanitizer: the clones' resolver runs while the program is
// still being loaded, before the sanitizer's runtime, and crashes.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define DISTGPT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DISTGPT_MULTIVERSION
#endif

// Input rows per pass over W: each 4-row block of W is reused from L1 for all
// of them, so even a prefill stays close to the arithmetic peak.
constexpr int kMaxRows = 32;

// Four weight rows against one input row: four independent accumulators and
// four streams in flight, where one row's dot product is a single dependent
// chain of FMAs. Every (input row, weight row) pair goes through exactly this
// code whatever the batch size, so a row's result has the same bits whether it
// is decoded alone or with others: a pipeline matches the single process.
#define DISTGPT_INLINE inline __attribute__((always_inline))

DISTGPT_INLINE void dot4(const float* __restrict w0, int ldw, int in, const float* __restrict x, float* out) {
    const float* __restrict w1 = w0 + ldw;
    const float* __restrict w2 = w1 + ldw;
    const float* __restrict w3 = w2 + ldw;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int i = 0; i < in; ++i) {
        const float xi = x[i];
        s0 += w0[i] * xi;
        s1 += w1[i] * xi;
        s2 += w2[i] * xi;
        s3 += w3[i] * xi;
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

DISTGPT_INLINE float dot1(const float* __restrict w, int in, const float* __restrict x) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < in; ++i) s += w[i] * x[i];
    return s;
}

// Rows [o_begin, o_end) of W against all n inputs; each 4-row block of W is
// read from memory once and reused from L1 for the other inputs.
DISTGPT_MULTIVERSION
void dot_block(const float* __restrict X, int ldx, int n, const float* __restrict W, int ldw, const float* __restrict bias, int in, int out,
               int o_begin, int o_end, float* __restrict Y) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4) {
        const float* w = W + static_cast<long>(o) * ldw;
        for (int r = 0; r < n; ++r) {
            float acc[4];
            dot4(w, ldw, in, X + static_cast<long>(r) * ldx, acc);
            float* y = Y + static_cast<long>(r) * out + o;
            for (int j = 0; j < 4; ++j) y[j] = acc[j] + (bias ? bias[o + j] : 0.0f);
        }
    }
    for (; o < o_end; ++o)
        for (int r = 0; r < n; ++r)
            Y[static_cast<long>(r) * out + o] =
                dot1(W + static_cast<long>(o) * ldw, in, X + static_cast<long>(r) * ldx) + (bias ? bias[o] : 0.0f);
}

}  // namespace

void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y, int threads) {
    rows_times_weight(X, in, n, W, in, bias, out, in, Y, threads);
}

void rows_times_weight(const float* X, int ldx, int n, const float* W, int ldw, const float* bias, int out, int in, float* Y, int threads) {
    for (int r0 = 0; r0 < n; r0 += kMaxRows) {
        const int rows = std::min(kMaxRows, n - r0);
        const float* x = X + static_cast<long>(r0) * ldx;
        float* y = Y + static_cast<long>(r0) * out;
        // Chunks of rows handed out as threads free up: two threads rarely
        // stream memory at the same rate, and a fixed half each leaves one waiting.
        // A multiple of 4, so 4-row blocks sit at the same rows for any thread count.
        const int chunk = (std::max(16, out / (std::max(1, threads) * 16)) + 3) / 4 * 4;
        const int chunks = (out + chunk - 1) / chunk;
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 1)
        for (int c = 0; c < chunks; ++c) {
            const int begin = c * chunk, end = std::min(out, (c + 1) * chunk);
            dot_block(x, ldx, rows, W, ldw, bias, in, out, begin, end, y);
        }
    }
}

}  // namespace distgpt
