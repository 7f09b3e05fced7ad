#include "tokenizer/tokenizer.h"

namespace distgpt {

std::string Tokenizer::decode(std::span<const int> ids) const {
    std::string out;
    for (int id : ids) out += token_bytes(id);
    return out;
}

std::string Tokenizer::generated_text(std::span<const int> ids, bool ended_at_end_of_text) const {
    // <|endoftext|> ends a text; it is not part of it.
    return decode(ended_at_end_of_text && !ids.empty() ? ids.first(ids.size() - 1) : ids);
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
