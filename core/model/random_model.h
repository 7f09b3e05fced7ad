#pragma once
#include "weights/checkpoint_layout.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace distgpt {

// A checkpoint of either family made up from a seed, in the Hugging Face
// layout distgpt writes (GPT-2: "transformer." names, Conv1D [in, out];
// LLaMA family: nn.Linear [out, in]). Each tensor is drawn from its own
// generator seeded by (seed, name), so a process that asks only for layers
// 3..5 gets exactly the weights the whole model has there, and never draws
// the others. Initialised as GPT-2 was (init_rule): N(0, 0.02), projections
// into the residual stream scaled by 1/sqrt(2·n_layer), norms 1, biases 0.
class RandomModelSource : public TensorSource {
public:
    RandomModelSource(ModelConfig config, uint64_t seed);
    ~RandomModelSource() override;

    bool contains(const std::string& name) const override;
    TensorView get(const std::string& name) const override;
    std::vector<std::string> names() const override;
    TensorView header(const std::string& name) const override;
    std::string describe() const override;
    void release(const TensorView& view) const override;

    const ModelConfig& config() const { return config_; }

private:
    struct Drawn;
    ModelConfig config_;
    CheckpointLayout layout_;
    uint64_t seed_;
    mutable std::mutex mutex_;
    mutable std::map<std::string, std::unique_ptr<Drawn>> drawn_;
};

}  // namespace distgpt
