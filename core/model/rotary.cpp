#include "model/rotary.h"

#include <cmath>
#include <numbers>

namespace distgpt {

std::vector<float> RotaryTable::inverse_frequencies(const ModelConfig& c) {
    const int D = c.head_dim();
    std::vector<float> inv(D / 2);
    // In float, as Hugging Face computes them, so a checkpoint sees the angles it was trained with.
    for (int i = 0; i < D / 2; ++i)
        inv[i] = 1.0f / static_cast<float>(std::pow(c.rope.theta, static_cast<float>(2 * i) / static_cast<float>(D)));
    const RopeSettings& r = c.rope;
    if (r.scaling == RopeScaling::Linear)
        for (float& f : inv) f = static_cast<float>(f / r.factor);
    if (r.scaling == RopeScaling::Llama3) {
        // Llama 3.1's long-context rule: long wavelengths are slowed by `factor`,
        // short ones kept, the band between blended smoothly.
        const double low_wavelen = r.original_max_positions / r.low_freq_factor;
        const double high_wavelen = r.original_max_positions / r.high_freq_factor;
        for (float& f : inv) {
            const double wavelen = 2 * std::numbers::pi / f;
            if (wavelen > low_wavelen) {
                f = static_cast<float>(f / r.factor);
            } else if (wavelen >= high_wavelen) {
                const double smooth = (r.original_max_positions / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
                f = static_cast<float>((1 - smooth) * f / r.factor + smooth * f);
            }
        }
    }
    return inv;
}

RotaryTable::RotaryTable(const ModelConfig& c, int max_context) : half_(c.head_dim() / 2) {
    const std::vector<float> inv = inverse_frequencies(c);
    cos_.resize(static_cast<std::size_t>(max_context) * half_);
    sin_.resize(cos_.size());
    for (int p = 0; p < max_context; ++p)
        for (int i = 0; i < half_; ++i) {
            const float angle = static_cast<float>(p) * inv[i];  // float, as Hugging Face forms it
            cos_[static_cast<std::size_t>(p) * half_ + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
            sin_[static_cast<std::size_t>(p) * half_ + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
        }
}

void RotaryTable::apply(float* x, int heads, int pos) const {
    const float* cos = cos_.data() + static_cast<std::size_t>(pos) * half_;
    const float* sin = sin_.data() + static_cast<std::size_t>(pos) * half_;
    for (int h = 0; h < heads; ++h) {
        float* a = x + static_cast<std::size_t>(h) * 2 * half_;  // first half of the head
        float* b = a + half_;                                    // second half
        for (int i = 0; i < half_; ++i) {
            const float u = a[i], v = b[i];
            a[i] = u * cos[i] - v * sin[i];
            b[i] = v * cos[i] + u * sin[i];
        }
    }
}

void RotaryTable::apply_back(float* x, int heads, int delta) const {
    const float* cos = cos_.data() + static_cast<std::size_t>(delta) * half_;
    const float* sin = sin_.data() + static_cast<std::size_t>(delta) * half_;
    for (int h = 0; h < heads; ++h) {
        float* a = x + static_cast<std::size_t>(h) * 2 * half_;
        float* b = a + half_;
        for (int i = 0; i < half_; ++i) {  // the rotation by -delta·θ_i
            const float u = a[i], v = b[i];
            a[i] = u * cos[i] + v * sin[i];
            b[i] = v * cos[i] - u * sin[i];
        }
    }
}

}  // namespace distgpt
