#pragma once
#include "tokenizer/tokenizer.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"
#include "weights/weight_format.h"

#include <filesystem>
#include <optional>

namespace distgpt {

// Saves a model of either family as a Hugging Face folder that transformers,
// distgpt and its workers all load: config.json, model.safetensors (each
// tensor in its source's dtype, named as save_pretrained names them: GPT-2's
// with "transformer.") and the tokenizer's files.
// `matrices`: the format to write the matrices and embedding tables in
// (norms and biases keep their dtype). In q8 or q4 each is written as its
// codes and scales (weights/quantized_tensors.h) and config.json says so in
// its quantization_config; only distgpt loads such a folder.
void write_hf_model_folder(const std::filesystem::path& dir, const ModelConfig& config, const TensorSource& weights,
                           const Tokenizer& tokenizer, std::optional<WeightFormat> matrices = std::nullopt);

}  // namespace distgpt
