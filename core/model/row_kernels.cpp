#include "model/row_kernels.h"

#include <cmath>
#include <cstddef>

namespace distgpt {

void rms_norm(const float* x, const float* w, int rows, int width, double eps, float* y) {
    for (int r = 0; r < rows; ++r) {
        const float* xr = x + static_cast<std::size_t>(r) * width;
        float* yr = y + static_cast<std::size_t>(r) * width;
        double squares = 0;
        for (int i = 0; i < width; ++i) squares += static_cast<double>(xr[i]) * xr[i];
        const float scale = static_cast<float>(1.0 / std::sqrt(squares / width + eps));
        for (int i = 0; i < width; ++i) yr[i] = xr[i] * scale * w[i];
    }
}

void swiglu(const float* gate_up, int rows, int width, float* out) {
    for (int r = 0; r < rows; ++r) {
        const float* gate = gate_up + static_cast<std::size_t>(r) * 2 * width;
        const float* up = gate + width;
        float* o = out + static_cast<std::size_t>(r) * width;
        for (int i = 0; i < width; ++i) o[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }
}

}  // namespace distgpt
