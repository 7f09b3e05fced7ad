#pragma once
#include "tokenizer/tokenizer.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"
#include "weights/weight_format.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace distgpt {

// Where a model comes from: a Hugging Face folder on disk, or a random model
// of a named shape drawn from a seed (with a byte-level tokenizer, or the
// tokenizer files of another folder).
struct ModelSource {
    std::filesystem::path dir;
    std::string random_shape;  // "tiny", "gpt2", ... when not empty
    uint64_t random_seed = 0;
    std::filesystem::path tokenizer_dir;        // for a random model; empty = byte tokens
    std::optional<WeightFormat> weight_format;  // how stages hold the matrices; default: as the checkpoint stores them

    bool is_random() const { return !random_shape.empty(); }
    // Where its tokenizer's files are (tokenizer_config.json among them); empty: none.
    std::filesystem::path tokenizer_files() const { return is_random() ? tokenizer_dir : dir; }
    // A short name for it: its folder's, or random-SHAPE.
    std::string name() const {
        if (is_random()) return "random-" + random_shape;
        const auto folder = dir.filename().empty() ? dir.parent_path().filename() : dir.filename();
        return folder.empty() ? "model" : folder.string();
    }
};

struct OpenedModel {
    ModelConfig config;
    std::unique_ptr<TensorSource> weights;
    std::unique_ptr<Tokenizer> tokenizer;
    std::string description;                         // "gpt2 folder /x" or "random gpt2 (seed 1)"
    WeightFormat weight_format = WeightFormat::F32;  // as asked, else the checkpoint's own dtype
};

// Opens config, tokenizer and weight index; no weight is read yet.
OpenedModel open_model(const ModelSource& source);

// The ids that end a text: the tokenizer's end of text and every end-of-text
// id config.json and generation_config.json list (Llama 3's instruct models
// end a turn with <|eot_id|>). Only a tokenizer's own end of text ends a
// text: a character model has none, whatever its config names.
std::vector<int> end_of_text_ids(const OpenedModel& model);

}  // namespace distgpt
