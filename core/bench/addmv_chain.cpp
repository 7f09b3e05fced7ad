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

double addmv_chain_ms_per_token(const Gpt2Config& c, int threads, int repeats) {
    at::set_num_threads(threads);
    const int64_t C = c.n_embd;
    struct Linear {
        at::Tensor w, b;  // [out, in], [out]
    };
    std::vector<Linear> chain;
    for (int l = 0; l < c.n_layer; ++l)
        for (auto [out, in] : {std::pair{3 * C, C}, {C, C}, {4 * C, C}, {C, 4 * C}})
            chain.push_back({at::randn({out, in}), at::randn({out})});
    const at::Tensor head = at::randn({c.vocab_size, C});  // [V, C]
    const at::Tensor x = at::randn({C}), x4 = at::randn({4 * C});
    std::vector<double> ms;
    for (int r = 0; r < repeats + 2; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const auto& lin : chain) at::addmv(lin.b, lin.w, lin.w.size(1) == C ? x : x4);
        at::mv(head, x);
        if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

}  // namespace distgpt
