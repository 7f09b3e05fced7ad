#include "model/cached_attention.h"

#include "model/simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace distgpt {
namespace {

// One query head against its key/value head's P cached positions
// (kc, vc: [T, D]): softmax(q·k / √D) · v into oh. `scores` has room for P
// rounded up to 8.
void attend_head(const float* qh, const float* kc, const float* vc, int P, int D, float scale, float* scores, float* oh) {
    float max_score = -INFINITY;
    for (int p = 0; p < P; ++p) {
        const float* kp = kc + static_cast<long>(p) * D;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int d = 0; d < D; ++d) s += qh[d] * kp[d];
        scores[p] = s * scale;
        max_score = std::max(max_score, scores[p]);
    }
    float total = 0;
    for (int p = 0; p < P; ++p) total += scores[p] = std::exp(scores[p] - max_score);
    std::fill(oh, oh + D, 0.0f);
    for (int p = 0; p < P; ++p) {
        const float w = scores[p] / total;
        const float* vp = vc + static_cast<long>(p) * D;
#pragma omp simd
        for (int d = 0; d < D; ++d) oh[d] += w * vp[d];
    }
}

#if DISTGPT_AVX2_KERNELS
// Σ_p w_p · v_p over columns [0, 8·J) of the rows from vc, held in J
// registers for all P positions.
template <int J>
DISTGPT_AVX2 inline void weighted_values(const float* w, const float* vc, int P, int D, float* oh) {
    __m256 acc[J];
    for (int j = 0; j < J; ++j) acc[j] = _mm256_setzero_ps();
    for (int p = 0; p < P; ++p) {
        const __m256 wp = _mm256_broadcast_ss(w + p);
        const float* vp = vc + static_cast<long>(p) * D;
        for (int j = 0; j < J; ++j) acc[j] = _mm256_fmadd_ps(wp, _mm256_loadu_ps(vp + 8 * j), acc[j]);
    }
    for (int j = 0; j < J; ++j) _mm256_storeu_ps(oh + 8 * j, acc[j]);
}

// The same head on AVX2, for D a multiple of 8. Scores 4 positions at a
// time (4 independent chains of FMAs, their lanes added together), every
// position's lanes in the same order; the softmax's exponentials 8 at a
// time; the values weighted 64 columns at a time in registers. Each head's
// bits depend on its own query and cache alone.
DISTGPT_AVX2 void attend_head_avx2(const float* qh, const float* kc, const float* vc, int P, int D, float scale, float* scores, float* oh) {
    const __m256 scale8 = _mm256_set1_ps(scale);
    int p = 0;
    for (; p < P; p += 4) {
        const int n = std::min(4, P - p);  // positions in this step; the others repeat the last
        const float* k[4];
        for (int j = 0; j < 4; ++j) k[j] = kc + static_cast<long>(p + std::min(j, n - 1)) * D;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < D; d += 8) {
            const __m256 q = _mm256_loadu_ps(qh + d);
            a0 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k[0] + d), a0);
            a1 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k[1] + d), a1);
            a2 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k[2] + d), a2);
            a3 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k[3] + d), a3);
        }
        alignas(16) float s[4];
        _mm_store_ps(s, _mm_mul_ps(sum8x4(a0, a1, a2, a3), _mm256_castps256_ps128(scale8)));
        for (int j = 0; j < n; ++j) scores[p + j] = s[j];
    }
    const int padded = (P + 7) / 8 * 8;
    for (p = P; p < padded; ++p) scores[p] = -INFINITY;  // e^-inf: exp8 gives exactly 0
    __m256 top = _mm256_set1_ps(-INFINITY);
    for (p = 0; p < padded; p += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(scores + p));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, top);
    const __m256 max_score = _mm256_set1_ps(*std::max_element(lanes, lanes + 8));
    __m256 total8 = _mm256_setzero_ps();
    for (p = 0; p < padded; p += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + p), max_score));
        _mm256_storeu_ps(scores + p, e);
        total8 = _mm256_add_ps(total8, e);
    }
    const __m256 inverse = _mm256_set1_ps(1.0f / sum8(total8));
    for (p = 0; p < padded; p += 8) _mm256_storeu_ps(scores + p, _mm256_mul_ps(_mm256_loadu_ps(scores + p), inverse));
    for (int d = 0; d < D; d += 64) {
        switch (std::min(64, D - d) / 8) {
            case 8: weighted_values<8>(scores, vc + d, P, D, oh + d); break;
            case 7: weighted_values<7>(scores, vc + d, P, D, oh + d); break;
            case 6: weighted_values<6>(scores, vc + d, P, D, oh + d); break;
            case 5: weighted_values<5>(scores, vc + d, P, D, oh + d); break;
            case 4: weighted_values<4>(scores, vc + d, P, D, oh + d); break;
            case 3: weighted_values<3>(scores, vc + d, P, D, oh + d); break;
            case 2: weighted_values<2>(scores, vc + d, P, D, oh + d); break;
            default: weighted_values<1>(scores, vc + d, P, D, oh + d); break;
        }
    }
}
#endif

}  // namespace

void cached_attention(const float* q, const float* k, const float* v, long ld, int rows, float* k_cache, float* v_cache, int heads,
                      int kv_heads, int max_context, int head_dim, int pos, float* out, int threads) {
    const int D = head_dim, group = heads / kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (int i = 0; i < rows; ++i)
        for (int g = 0; g < kv_heads; ++g) {
            std::memcpy(k_cache + (static_cast<long>(g) * max_context + pos + i) * D, k + i * ld + g * D, sizeof(float) * D);
            std::memcpy(v_cache + (static_cast<long>(g) * max_context + pos + i) * D, v + i * ld + g * D, sizeof(float) * D);
        }
#if DISTGPT_AVX2_KERNELS
    const bool avx2 = use_avx2_kernels() && D % 8 == 0;
#endif
    const long work = static_cast<long>(rows) * heads;
    // Head by head, so a head's cached keys and values stay in cache for all
    // its rows; later rows see more positions, so handed out as threads free up.
    const int team = static_cast<int>(std::min<long>(threads, work));
#pragma omp parallel for num_threads(std::max(1, team)) schedule(dynamic, 1)
    for (long item = 0; item < work; ++item) {
        const int h = static_cast<int>(item / rows), i = static_cast<int>(item % rows), P = pos + i + 1;
        const float* kc = k_cache + static_cast<long>(h / group) * max_context * D;  // [T, D]
        const float* vc = v_cache + static_cast<long>(h / group) * max_context * D;  // [T, D]
        const float* qh = q + i * ld + h * D;
        float* oh = out + (static_cast<long>(i) * heads + h) * D;
        thread_local std::vector<float> scores;
        scores.resize((P + 7) / 8 * 8);
#if DISTGPT_AVX2_KERNELS
        if (avx2) {
            attend_head_avx2(qh, kc, vc, P, D, scale, scores.data(), oh);
            continue;
        }
#endif
        attend_head(qh, kc, vc, P, D, scale, scores.data(), oh);
    }
}

}  // namespace distgpt
