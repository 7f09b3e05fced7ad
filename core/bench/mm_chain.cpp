#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "bench/mm_chain.h"

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/mv.h>
#include <ATen/ops/randn.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace distgpt {

double mm_chain_ms(const ModelConfig& c, int rows, int threads, int repeats) {
    at::set_num_threads(threads);
    const int64_t C = c.n_embd, Q = c.q_width(), K = c.kv_width(), F = c.hidden(), up = c.gated_mlp() ? 2 * F : F;
    // The same matrices a prefill multiplies, as [in, out] for x · W: q|k|v, the attention's output, up (gate|up), down.
    std::vector<at::Tensor> chain, inputs;
    for (int l = 0; l < c.n_layer; ++l)
        for (auto [out, in] : {std::pair{Q + 2 * K, C}, {C, Q}, {up, C}, {C, F}}) {
            chain.push_back(at::randn({in, out}));    // [in, out]
            inputs.push_back(at::randn({rows, in}));  // [rows, in]
        }
    const at::Tensor head = at::randn({c.vocab_size, C});  // [V, C]
    const at::Tensor last = at::randn({C});                // [C]
    std::vector<double> ms;
    for (int r = 0; r < repeats + 1; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < chain.size(); ++i) at::mm(inputs[i], chain[i]);  // [rows, out]
        at::mv(head, last);                                                          // [V]
        if (r >= 1) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

}  // namespace distgpt
