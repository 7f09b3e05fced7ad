#pragma once
#include "weights/gpt2_config.h"
#include "weights/tensor_source.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace distgpt {

// A GPT-2 checkpoint made up from a seed, in the Hugging Face layout (names
// with the "transformer." prefix, Conv1D weights [in, out]). Each tensor is
// drawn from its own generator seeded by (seed, name), so a process that asks
// only for layers 3..5 gets exactly the weights the whole model has there,
// and never draws the others. Initialised as GPT-2 was: N(0, 0.02), output
// projections scaled by 1/sqrt(2·n_layer), norms 1 and 0, biases 0.
class RandomGpt2Source : public TensorSource {
public:
    RandomGpt2Source(Gpt2Config config, uint64_t seed);
    ~RandomGpt2Source() override;

    bool contains(const std::string& name) const override;
    TensorView get(const std::string& name) const override;
    std::vector<std::string> names() const override;
    TensorView header(const std::string& name) const override;
    std::string describe() const override;
    void release(const TensorView& view) const override;

    const Gpt2Config& config() const { return config_; }

private:
    struct Drawn;
    Gpt2Config config_;
    uint64_t seed_;
    mutable std::mutex mutex_;
    mutable std::map<std::string, std::unique_ptr<Drawn>> drawn_;
};

}  // namespace distgpt
