#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "bench/kernel_rate.h"

#include "model/held_matrix.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/randn.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace distgpt {

double measure_kernel_rate_in_cache(WeightFormat format, int columns, int threads) {
    threads = std::max(1, threads);
    // ~192 KB a thread: well inside a core's L2 with its input and output.
    const double row_bytes = columns * bytes_per_weight(format);
    const int rows = std::max(4, static_cast<int>(192 * 1024 / row_bytes) / 4 * 4);
    std::vector<HeldMatrix> matrices;
    for (int t = 0; t < threads; ++t) matrices.push_back(hold_matrix(at::randn({rows, columns}), format));
    const at::Tensor x = at::randn({threads, columns});  // [threads, C]
    at::Tensor y = at::empty({threads, rows});           // [threads, rows]
    // Everything the timed calls take, made before the clock starts.
    std::vector<WeightRows> weights;
    for (const auto& m : matrices) weights.push_back(m.weight_rows());
    const float* xs = x.data_ptr<float>();
    float* ys = y.data_ptr<float>();
    constexpr int calls = 2000;
    double best = 1e30;
    for (int repeat = 0; repeat < 4; ++repeat) {  // the first warms the caches
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
        {
#pragma omp for schedule(static, 1)
            for (int t = 0; t < threads; ++t)
                for (int c = 0; c < calls; ++c)
                    rows_times_weight(xs + static_cast<long>(t) * columns, columns, 1, weights[t], nullptr, rows, columns,
                                      ys + static_cast<long>(t) * rows, 1);
        }
        if (repeat > 0) best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return static_cast<double>(threads) * calls * rows * columns / best;
}

}  // namespace distgpt
