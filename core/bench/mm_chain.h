#pragma once
#include "weights/model_config.h"

namespace distgpt {

// Milliseconds of the plainest possible prefill of `rows` positions: torch's
// at::mm (BLAS gemm) over every weight matrix of the model's shapes in turn,
// then the head for the last row, nothing else (no attention, no norms).
// Median of `repeats`.
double mm_chain_ms(const ModelConfig& config, int rows, int threads, int repeats = 5);

}  // namespace distgpt
