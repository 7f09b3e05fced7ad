#pragma once
#include "weights/dtype.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// How a stage holds its matrices in memory (norms and biases stay fp32).
// Decode reads every weight once per token, so fewer bytes per weight is
// more tokens per second. Q8 and Q4 are blocks of 32 small integers with one
// fp16 scale each (weights/block_quant.h).
enum class WeightFormat { F32, BF16, F16, Q8, Q4 };

std::vector<WeightFormat> weight_formats();
std::string weight_format_name(WeightFormat format);  // "f32", "bf16", "f16", "q8", "q4"
std::optional<WeightFormat> weight_format_named(const std::string& name);
double bytes_per_weight(WeightFormat format);
// Bytes `parameters` weights take held in `format` (norms and biases, a few
// thousandths of a model, counted at the same size).
int64_t bytes_of_weights(int64_t parameters, WeightFormat format);
// The format a checkpoint's own dtype keeps: a bf16 checkpoint stays bf16.
WeightFormat weight_format_of(DType stored);
// The dtype of a held matrix's elements: its 16-bit or fp32 values, or a
// block format's codes (I8 for q8, U8 for q4's packed nibbles).
DType storage_dtype(WeightFormat format);

}  // namespace distgpt
