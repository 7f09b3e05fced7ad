#include "tokenizer/tokenizer.h"

#include "util/error.h"

namespace distgpt {

std::string Tokenizer::decode(std::span<const int> ids) const {
    std::string out;
    for (int id : ids) out += token_bytes(id);
    return out;
}

std::vector<int> Tokenizer::encode_prompt(std::string_view text) const {
    std::vector<int> ids;
    if (auto bos = bos_id()) ids.push_back(*bos);
    const auto body = encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    if (!ids.empty()) return ids;
    // An empty prompt starts a text from nothing: after an end of text, as GPT-2 was trained.
    if (auto eos = eos_id()) return {*eos};
    throw Error("a prompt is empty and this tokenizer has neither a beginning- nor an end-of-text token to start from; give some text");
}

std::string Tokenizer::generated_text(std::span<const int> ids, bool ended_at_end_of_text) const {
    // The end of text ends a text; it is not part of it. A continuation keeps
    // every byte (no leading space stripped, as a text from its start is): the
    // plain concatenation, whatever a tokenizer's decode() adds.
    return Tokenizer::decode(ended_at_end_of_text && !ids.empty() ? ids.first(ids.size() - 1) : ids);
}

std::vector<std::pair<int, int>> Tokenizer::unspellable_ids(int vocab_size) const {
    std::vector<std::pair<int, int>> ranges;
    for (int id = 0; id < vocab_size; ++id) {
        if (has_token(id)) continue;
        if (!ranges.empty() && ranges.back().second == id)
            ranges.back().second = id + 1;
        else
            ranges.emplace_back(id, id + 1);
    }
    return ranges;
}

}  // namespace distgpt
