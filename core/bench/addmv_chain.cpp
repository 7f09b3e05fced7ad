#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "bench/addmv_chain.h"

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmv.h>
#include <ATen/ops/mv.h>
#include <ATen/ops/randn.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace distgpt {

double addmv_chain_ms_per_token(const ModelConfig& c, int threads, int repeats) {
    at::set_num_threads(threads);
    const int64_t C = c.n_embd, Q = c.q_width(), K = c.kv_width(), F = c.hidden(), up = c.gated_mlp() ? 2 * F : F;
    struct Linear {
        at::Tensor w, b;  // [out, in], [out]
    };
    // The same matrices a decode step reads: q|k|v, the attention's output, up (gate|up), down.
    std::vector<Linear> chain;
    for (int l = 0; l < c.n_layer; ++l)
        for (auto [out, in] : {std::pair{Q + 2 * K, C}, {C, Q}, {up, C}, {C, F}}) chain.push_back({at::randn({out, in}), at::randn({out})});
    const at::Tensor head = at::randn({c.vocab_size, C});  // [V, C]
    std::vector<double> ms;
    std::vector<at::Tensor> inputs;
    for (const auto& lin : chain) inputs.push_back(at::randn({lin.w.size(1)}));
    for (int r = 0; r < repeats + 2; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < chain.size(); ++i) at::addmv(chain[i].b, chain[i].w, inputs[i]);
        at::mv(head, inputs[0]);
        if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

}  // namespace distgpt
