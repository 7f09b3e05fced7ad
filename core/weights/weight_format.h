#pragma once
#include "weights/dtype.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// How a stage holds its matrices in memory (norms and biases stay fp32).
// Decode reads every weight once per token, so fewer bytes per weight is
// more tokens per second.
enum class WeightFormat { F32, BF16, F16 };

std::vector<WeightFormat> weight_formats();
std::string weight_format_name(WeightFormat format);  // "f32", "bf16", "f16"
std::optional<WeightFormat> weight_format_named(const std::string& name);
double bytes_per_weight(WeightFormat format);
// Bytes `parameters` weights take held in `format` (norms and biases, a few
// thousandths of a model, counted at the same size).
int64_t bytes_of_weights(int64_t parameters, WeightFormat format);
// The format a checkpoint's own dtype keeps: a bf16 checkpoint stays bf16.
WeightFormat weight_format_of(DType stored);
DType storage_dtype(WeightFormat format);

}  // namespace distgpt
