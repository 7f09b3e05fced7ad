#include "model/decode_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace distgpt {

void decode_attention(const float* q, const float* k, const float* v, float* k_cache, float* v_cache, int heads, int kv_heads,
                      int max_context, int head_dim, int pos, float* out, int threads) {
    const int D = head_dim, P = pos + 1, group = heads / kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (int g = 0; g < kv_heads; ++g) {
        std::memcpy(k_cache + (static_cast<long>(g) * max_context + pos) * D, k + g * D, sizeof(float) * D);
        std::memcpy(v_cache + (static_cast<long>(g) * max_context + pos) * D, v + g * D, sizeof(float) * D);
    }
#pragma omp parallel for num_threads(std::max(1, std::min(threads, heads))) schedule(static)
    for (int h = 0; h < heads; ++h) {
        const float* kc = k_cache + static_cast<long>(h / group) * max_context * D;  // [T, D]
        const float* vc = v_cache + static_cast<long>(h / group) * max_context * D;  // [T, D]
        const float* qh = q + h * D;
        thread_local std::vector<float> scores;
        scores.resize(P);
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
        float* oh = out + h * D;
        std::fill(oh, oh + D, 0.0f);
        for (int p = 0; p < P; ++p) {
            const float w = scores[p] / total;
            const float* vp = vc + static_cast<long>(p) * D;
#pragma omp simd
            for (int d = 0; d < D; ++d) oh[d] += w * vp[d];
        }
    }
}

}  // namespace distgpt
