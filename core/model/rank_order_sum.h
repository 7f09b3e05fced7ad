#pragma once
#include <cstddef>
#include <span>

namespace distgpt {

// The one order in which a tensor-parallel group adds its ranks' partial
// sums: rank 0's values, plus rank 1's, plus rank 2's …, element by element.
// Every node that sums partials does it this way, so the result has the same
// bits whichever nodes hold which ranks (a re-plan after a loss keeps them).
// `out` may be partials[0].
inline void sum_in_rank_order(std::span<const float* const> partials, std::size_t count, float* out) {
    if (out != partials[0])
        for (std::size_t i = 0; i < count; ++i) out[i] = partials[0][i];
    for (std::size_t r = 1; r < partials.size(); ++r) {
        const float* p = partials[r];
        for (std::size_t i = 0; i < count; ++i) out[i] += p[i];
    }
}

}  // namespace distgpt
