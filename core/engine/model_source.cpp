#include "engine/model_source.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "model/random_model.h"
#include "tokenizer/byte_level_bpe.h"
#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/quantized_tensors.h"
#include "weights/safetensors.h"

namespace distgpt {
namespace {

// generation_config.json may name more ids that end a text than config.json.
void add_generation_config(const std::filesystem::path& dir, ModelConfig& c) {
    std::ifstream in(dir / "generation_config.json");
    if (!in) return;
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("eos_token_id")) return;
    const auto& e = j["eos_token_id"];
    std::vector<int> ids;
    if (e.is_number_integer()) ids.push_back(e.get<int>());
    if (e.is_array())
        for (const auto& id : e)
            if (id.is_number_integer()) ids.push_back(id.get<int>());
    for (int id : ids)
        if (id != c.eos_token_id && std::find(c.more_eos_token_ids.begin(), c.more_eos_token_ids.end(), id) == c.more_eos_token_ids.end())
            c.more_eos_token_ids.push_back(id);
}

}  // namespace

std::vector<int> end_of_text_ids(const OpenedModel& m) {
    const auto eos = m.tokenizer->eos_id();
    if (!eos) return {};
    std::vector<int> ids = {*eos};
    std::vector<int> named = {m.config.eos_token_id};
    named.insert(named.end(), m.config.more_eos_token_ids.begin(), m.config.more_eos_token_ids.end());
    for (int id : named)
        if (m.tokenizer->has_token(id) && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    return ids;
}

OpenedModel open_model(const ModelSource& source) {
    OpenedModel m;
    if (source.is_random()) {
        // A shape's name, or a config.json of any model: its shape without its weights.
        m.config = source.random_shape.ends_with(".json") ? read_config_file(source.random_shape) : model_preset(source.random_shape);
        if (!source.tokenizer_dir.empty()) {
            m.tokenizer = load_tokenizer(source.tokenizer_dir);
            if (m.tokenizer->id_limit() > m.config.vocab_size)
                throw Error(source.tokenizer_dir.string() + ": tokenizer has ids up to " + std::to_string(m.tokenizer->id_limit() - 1) +
                            " but the " + source.random_shape + " shape has a vocabulary of " + std::to_string(m.config.vocab_size));
        } else {
            // A byte per token and end of text after them (the last id for
            // GPT-2 shapes, as GPT-2's own vocabulary has it; the rest of a
            // larger vocabulary is never sampled).
            m.tokenizer = ByteLevelBpe::bytes_only(m.config.vocab_size - 1 <= 256 + kMostUnusedIds ? m.config.vocab_size - 1 : 256);
        }
        if (auto eos = m.tokenizer->eos_id()) m.config.eos_token_id = *eos;
        m.weights = std::make_unique<RandomModelSource>(m.config, source.random_seed);
        m.description =
            "random " + source.random_shape + " (seed " + std::to_string(source.random_seed) + ", untrained: its text is noise)";
        m.weight_format = source.weight_format.value_or(WeightFormat::F32);  // drawn in fp32
        return m;
    }
    m.config = read_model_config(source.dir);
    add_generation_config(source.dir, m.config);
    m.tokenizer = load_tokenizer(source.dir);
    auto weights = std::make_unique<QuantizedTensors>(std::make_unique<SafetensorsCheckpoint>(source.dir), m.config);
    if (m.tokenizer->id_limit() > m.config.vocab_size)
        throw Error(source.dir.string() + ": tokenizer has ids up to " + std::to_string(m.tokenizer->id_limit() - 1) +
                    " but config.json's vocab_size is " + std::to_string(m.config.vocab_size));
    m.description = source.dir.string();
    // A bf16 checkpoint stays bf16, a q4 one q4: no fp32 copy unless asked for.
    const CheckpointLayout layout(m.config, *weights);
    const std::string table = layout.find(TensorRole::TokenEmbedding)->name;
    const WeightFormat stored = weights->block_format_of(table).value_or(weight_format_of(weights->header(table).dtype));
    m.weight_format = source.weight_format.value_or(stored);
    m.weights = std::move(weights);
    return m;
}

}  // namespace distgpt
