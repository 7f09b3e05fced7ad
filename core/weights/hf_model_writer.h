#pragma once
#include "tokenizer/tokenizer.h"
#include "weights/gpt2_config.h"
#include "weights/tensor_source.h"

#include <filesystem>

namespace distgpt {

// Saves a GPT-2 model as a Hugging Face folder that transformers, distgpt and
// its workers all load: config.json, model.safetensors (fp32, names prefixed
// "transformer." as save_pretrained writes them) and the tokenizer's files.
void write_hf_gpt2_folder(const std::filesystem::path& dir, const Gpt2Config& config, const TensorSource& weights,
                          const Tokenizer& tokenizer);

}  // namespace distgpt
