#pragma once
#include "weights/model_config.h"

#include <vector>

namespace distgpt {

// Rotary position embedding (Su et al., RoFormer) in Hugging Face's layout:
// a head's dimension i and i + D/2 form one pair, turned by the angle
// pos·θ_i, θ_i = theta^(−2i/D) (rescaled by rope_scaling):
//   x'[i]       = x[i]·cos − x[i+D/2]·sin
//   x'[i+D/2]   = x[i+D/2]·cos + x[i]·sin
// The angles of positions 0..max_context−1 are tabled once.
class RotaryTable {
public:
    RotaryTable() = default;
    RotaryTable(const ModelConfig& config, int max_context);

    // Turns `heads` consecutive heads of `head_dim` values, at `pos`, in place.
    void apply(float* x, int heads, int pos) const;
    // Turns them back by `delta` positions (0 <= delta < max_context): a
    // key cached at position p becomes a key at p - delta.
    void apply_back(float* x, int heads, int delta) const;

    // θ_i for i = 0..D/2−1, after rope_scaling: what the table is made of.
    static std::vector<float> inverse_frequencies(const ModelConfig& config);

private:
    int half_ = 0;
    std::vector<float> cos_, sin_;  // [max_context, D/2]
};

}  // namespace distgpt
