#pragma once
#include "weights/model_config.h"

namespace distgpt {

// Milliseconds per token of the plainest possible decode: torch's addmv over
// every weight matrix of the model's shapes in turn, then the head, nothing
// else. The engine must not be slower than this. Median of `repeats`.
double addmv_chain_ms_per_token(const ModelConfig& config, int threads, int repeats = 20);

}  // namespace distgpt
