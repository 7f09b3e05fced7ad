#pragma once
#include "tokenizer/tokenizer.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"

#include <filesystem>

namespace distgpt {

// Saves a model of either family as a Hugging Face folder that transformers,
// distgpt and its workers all load: config.json, model.safetensors (each
// tensor in its source's dtype, named as save_pretrained names them: GPT-2's
// with "transformer.") and the tokenizer's files.
void write_hf_model_folder(const std::filesystem::path& dir, const ModelConfig& config, const TensorSource& weights,
                           const Tokenizer& tokenizer);

}  // namespace distgpt
