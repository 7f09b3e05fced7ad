#pragma once
#include "weights/tensor_source.h"

#include <string>

namespace distgpt {

// Hugging Face names of GPT-2 tensors. Checkpoints saved from GPT2LMHeadModel
// prefix them with "transformer."; the hub's gpt2 files do not. Both load.
class Gpt2Names {
public:
    explicit Gpt2Names(const TensorSource& source);  // detects the prefix
    explicit Gpt2Names(std::string prefix) : prefix_(std::move(prefix)) {}

    std::string wte() const { return prefix_ + "wte.weight"; }
    std::string wpe() const { return prefix_ + "wpe.weight"; }
    std::string ln_f(const char* what) const { return prefix_ + "ln_f." + what; }
    // e.g. layer(3, "attn.c_attn.weight") == "transformer.h.3.attn.c_attn.weight"
    std::string layer(int i, const std::string& what) const { return prefix_ + "h." + std::to_string(i) + "." + what; }
    const std::string& prefix() const { return prefix_; }

private:
    std::string prefix_;
};

}  // namespace distgpt
