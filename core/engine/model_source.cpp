#include "engine/model_source.h"

#include "model/random_model.h"
#include "tokenizer/byte_level_bpe.h"
#include "util/error.h"
#include "weights/safetensors.h"

namespace distgpt {

OpenedModel open_model(const ModelSource& source) {
    OpenedModel m;
    if (source.is_random()) {
        m.config = model_preset(source.random_shape);
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
        return m;
    }
    m.config = read_model_config(source.dir);
    m.tokenizer = load_tokenizer(source.dir);
    m.weights = std::make_unique<SafetensorsCheckpoint>(source.dir);
    if (m.tokenizer->id_limit() > m.config.vocab_size)
        throw Error(source.dir.string() + ": tokenizer has ids up to " + std::to_string(m.tokenizer->id_limit() - 1) +
                    " but config.json's vocab_size is " + std::to_string(m.config.vocab_size));
    m.description = source.dir.string();
    return m;
}

}  // namespace distgpt
