#pragma once
#include "weights/gpt2_config.h"

#include <cstdint>
#include <string>
#include <vector>

namespace distgpt {

struct TensorShape {
    std::string name;
    std::vector<int64_t> shape;
};

// Every tensor of a Hugging Face GPT2LMHeadModel checkpoint, in the order
// save_pretrained writes them (the head is tied to wte and not stored).
std::vector<TensorShape> gpt2_checkpoint_layout(const Gpt2Config& config, const std::string& prefix);

}  // namespace distgpt
