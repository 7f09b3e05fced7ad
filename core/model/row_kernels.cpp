#include "model/row_kernels.h"

#include "model/simd.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace distgpt {
namespace {

constexpr float kGeluScale = -2 * 0.7978845608028654f;  // −2·√(2/π)

#if DISTGPT_AVX2_KERNELS
// x / (1 + e^(k·z)) for 8 values: GELU and SiLU are both x·sigmoid.
DISTGPT_AVX2 inline __m256 over_one_plus_exp(__m256 x, __m256 kz) {
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(kz)));
}

DISTGPT_AVX2 void gelu_tanh_avx2(float* x, long count) {
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 z = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), _mm256_mul_ps(v, v), v);  // x + 0.044715·x³
        _mm256_storeu_ps(x + i, over_one_plus_exp(v, _mm256_mul_ps(_mm256_set1_ps(kGeluScale), z)));
    }
    if (i < count) {  // the tail through the same lanes, so every element gets the same bits
        alignas(32) float tail[8] = {};
        for (long j = i; j < count; ++j) tail[j - i] = x[j];
        gelu_tanh_avx2(tail, 8);
        for (long j = i; j < count; ++j) x[j] = tail[j - i];
    }
}

DISTGPT_AVX2 void swiglu_row_avx2(const float* gate, const float* up, int width, float* out) {
    int i = 0;
    for (; i + 8 <= width; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 silu = over_one_plus_exp(g, _mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    if (i < width) {
        alignas(32) float g[8] = {}, u[8] = {}, o[8];
        for (int j = i; j < width; ++j) g[j - i] = gate[j], u[j - i] = up[j];
        swiglu_row_avx2(g, u, 8, o);
        for (int j = i; j < width; ++j) out[j] = o[j - i];
    }
}
#endif

// Threads for `rows` rows (or runs): one unless there is more than one to share.
int threads_for(long rows, int threads) { return static_cast<int>(std::max(1L, std::min<long>(rows, threads))); }

}  // namespace

void layer_norm(const float* x, const float* w, const float* b, int rows, int width, double eps, float* y, int threads) {
#pragma omp parallel for num_threads(threads_for(rows, threads)) schedule(static)
    for (int r = 0; r < rows; ++r) {
        const float* xr = x + static_cast<std::size_t>(r) * width;
        float* yr = y + static_cast<std::size_t>(r) * width;
        double sum = 0;
        for (int i = 0; i < width; ++i) sum += xr[i];
        const double mean = sum / width;
        double squares = 0;
        for (int i = 0; i < width; ++i) squares += (xr[i] - mean) * (xr[i] - mean);
        const auto m = static_cast<float>(mean), scale = static_cast<float>(1.0 / std::sqrt(squares / width + eps));
        for (int i = 0; i < width; ++i) yr[i] = (xr[i] - m) * scale * w[i] + (b ? b[i] : 0.0f);
    }
}

void rms_norm(const float* x, const float* w, int rows, int width, double eps, float* y, int threads) {
#pragma omp parallel for num_threads(threads_for(rows, threads)) schedule(static)
    for (int r = 0; r < rows; ++r) {
        const float* xr = x + static_cast<std::size_t>(r) * width;
        float* yr = y + static_cast<std::size_t>(r) * width;
        double squares = 0;
        for (int i = 0; i < width; ++i) squares += static_cast<double>(xr[i]) * xr[i];
        const float scale = static_cast<float>(1.0 / std::sqrt(squares / width + eps));
        for (int i = 0; i < width; ++i) yr[i] = xr[i] * scale * w[i];
    }
}

void gelu_tanh(float* x, long count, int threads) {
    // Runs of 4096: every element goes through the same lanes' operations
    // wherever its run starts (a multiple of 8), so any split gives the same bits.
    constexpr long kRun = 4096;
    const long runs = (count + kRun - 1) / kRun;
#pragma omp parallel for num_threads(threads_for(runs, threads)) schedule(static)
    for (long run = 0; run < runs; ++run) {
        float* v = x + run * kRun;
        const long n = std::min(kRun, count - run * kRun);
#if DISTGPT_AVX2_KERNELS
        if (use_avx2_kernels()) {
            gelu_tanh_avx2(v, n);
            continue;
        }
#endif
        for (long i = 0; i < n; ++i) v[i] = v[i] / (1.0f + std::exp(kGeluScale * (v[i] + 0.044715f * v[i] * v[i] * v[i])));
    }
}

void swiglu(const float* gate_up, int rows, int width, float* out, int threads) {
#pragma omp parallel for num_threads(threads_for(rows, threads)) schedule(static)
    for (int r = 0; r < rows; ++r) {
        const float* gate = gate_up + static_cast<std::size_t>(r) * 2 * width;
        const float* up = gate + width;
        float* o = out + static_cast<std::size_t>(r) * width;
#if DISTGPT_AVX2_KERNELS
        if (use_avx2_kernels()) {
            swiglu_row_avx2(gate, up, width, o);
            continue;
        }
#endif
        for (int i = 0; i < width; ++i) o[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }
}

}  // namespace distgpt
