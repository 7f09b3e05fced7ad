#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace distgpt {

struct SamplingParams {
    float temperature = 1.0f;  // 0 = greedy
    int top_k = 0;             // 0 = off
    float top_p = 1.0f;        // 1 = off
    uint64_t seed = 0;
};

// Draws tokens for one sequence. The random stream is xoshiro256** seeded by
// splitmix64, implemented here, so a seed gives the same text on every
// machine, compiler and topology.
class Sampler {
public:
    explicit Sampler(SamplingParams params);

    // `logits` of one position; ids at or past `allowed` are never drawn (a
    // model's vocabulary may be padded past its tokenizer's).
    int sample(std::span<const float> logits, int allowed = -1);

    const SamplingParams& params() const { return params_; }
    double next_uniform();  // [0, 1), 53 bits

private:
    SamplingParams params_;
    uint64_t state_[4];
    std::vector<int> order_;
    std::vector<float> probs_;
};

int argmax(std::span<const float> logits);

}  // namespace distgpt
