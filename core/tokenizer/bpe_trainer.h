#pragma once
#include <nlohmann/json.hpp>

#include <string_view>

namespace distgpt {

// Learns a byte-level BPE vocabulary from text (Sennrich et al.; GPT-2's
// byte-level form): the text is split by GPT-2's pattern, each piece's bytes
// start as symbols, and the most frequent adjacent pair is merged into a new
// token, again and again, until the vocabulary holds `vocab_size` tokens (256
// bytes, the merges, and <|endoftext|>) or no pair occurs twice. Ties go to
// the pair whose tokens sort first, so the same text always gives the same
// vocabulary. Returns tokenizer.json as Hugging Face's `tokenizers` writes
// it (HfTokenizer reads it back).
nlohmann::json train_byte_level_bpe(std::string_view text, int vocab_size);

// tokenizer_config.json for such a vocabulary: no BOS, <|endoftext|> ends a text.
nlohmann::json byte_level_bpe_config();

}  // namespace distgpt
