#include "bench/memory_bandwidth.h"

#include "model/simd.h"
#include "util/huge_pages.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <omp.h>

namespace distgpt {

#if DISTGPT_AVX2_KERNELS  // one clone per instruction set, as rows_times_weight.cpp's
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static float
sum_block(const float* __restrict p, std::size_t n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += p[i];
    return s;
}

double measure_read_bandwidth(std::size_t bytes, int threads, int repeats) {
    const std::size_t n = bytes / sizeof(float);
    // The same pages the weights get, so the bound is the one they can reach.
    std::unique_ptr<float, decltype(&std::free)> buffer(static_cast<float*>(allocate_streamed(n * sizeof(float))), &std::free);
    if (!buffer) return 0;
        // First touch by the threads that will read it, so pages sit near them.
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t i = 0; i < n; ++i) buffer.get()[i] = 1.0f;
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            const std::size_t nt = omp_get_num_threads(), id = omp_get_thread_num();
            const std::size_t per = (n + nt - 1) / nt, begin = std::min(n, id * per), end = std::min(n, begin + per);
            total += sum_block(buffer.get() + begin, end - begin);
        }
        sink = sink + total;
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return static_cast<double>(n * sizeof(float)) / best;
}

}  // namespace distgpt
