#pragma once
#include "weights/gpt2_config.h"

#include <string>
#include <vector>

namespace distgpt {

// The checkpoint tensors a stage of layers [begin, end) needs, with the
// embedding and/or the head: what a worker without the model is sent.
std::vector<std::string> gpt2_shard_tensor_names(const Gpt2Config& config, int layer_begin, int layer_end, bool embedding, bool head,
                                                 const std::string& prefix);

}  // namespace distgpt
