#include "sample/sampler.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace distgpt {
namespace {

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Sampler::Sampler(SamplingParams params) : params_(params) {
    if (!(params_.temperature >= 0 && params_.temperature <= 100))
        throw Error("temperature must be a number from 0 to 100 (0 is greedy), not " + std::to_string(params_.temperature));
    if (params_.top_k < 0) throw Error("top-k must be >= 0 (0 is off)");
    if (!(params_.top_p > 0 && params_.top_p <= 1)) throw Error("top-p must be in (0, 1] (1 is off)");
    uint64_t s = params_.seed;
    for (auto& w : state_) w = splitmix64(s);
}

double Sampler::next_uniform() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return static_cast<double>(result >> 11) * 0x1.0p-53;
}

int argmax(std::span<const float> logits) { return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin()); }

int Sampler::sample(std::span<const float> logits, int allowed) {
    const int n = allowed < 0 ? static_cast<int>(logits.size()) : std::min<int>(allowed, static_cast<int>(logits.size()));
    if (n <= 0) throw Error("cannot sample from an empty vocabulary");
    logits = logits.first(n);
    if (params_.temperature == 0 || params_.top_k == 1) return argmax(logits);

    // Candidates, best first. top-k needs only the k best; top-p alone needs
    // as many as hold p of the mass, found by widening a partial sort.
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    auto by_logit = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    const float max_logit = logits[argmax(logits)];
    const double inv_t = 1.0 / params_.temperature;
    double total = 0;
    if (params_.top_p < 1)
        for (int i = 0; i < n; ++i) total += std::exp((logits[i] - max_logit) * inv_t);

    int keep = params_.top_k > 0 ? std::min(params_.top_k, n) : n;
    if (params_.top_p >= 1) {
        if (keep < n) std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), by_logit);
    } else {
        for (int sorted = std::min(keep, 256);; sorted = std::min(keep, sorted * 4)) {
            std::partial_sort(order_.begin(), order_.begin() + sorted, order_.end(), by_logit);
            double mass = 0;
            int cut = sorted;
            for (int i = 0; i < sorted; ++i) {
                mass += std::exp((logits[order_[i]] - max_logit) * inv_t) / total;
                if (mass >= params_.top_p) {
                    cut = i + 1;
                    break;
                }
            }
            if (cut < sorted || sorted == keep) {
                keep = std::min(keep, cut);
                break;
            }
        }
    }

    probs_.resize(keep);
    double sum = 0;
    for (int i = 0; i < keep; ++i) sum += probs_[i] = static_cast<float>(std::exp((logits[order_[i]] - max_logit) * inv_t));
    double r = next_uniform() * sum;
    for (int i = 0; i < keep; ++i) {
        r -= probs_[i];
        if (r < 0) return order_[i];
    }
    return order_[keep - 1];
}

}  // namespace distgpt
