#include "tokenizer/bpe_trainer.h"

#include "tokenizer/bytes_to_unicode.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <map>
#include <unordered_map>
#include <vector>

namespace distgpt {
namespace {

constexpr const char* kEndOfText = "<|endoftext|>";

struct Word {
    std::vector<int> symbols;
    int64_t count;
};

uint64_t pair_key(int a, int b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

}  // namespace

nlohmann::json train_byte_level_bpe(std::string_view text, int vocab_size) {
    if (vocab_size < 257 || vocab_size > (1 << 20))
        throw Error("a byte-level vocabulary holds 256 bytes and <|endoftext|>: --vocab-size must be 257 to 1048576, not " +
                    std::to_string(vocab_size));
    if (auto bad = utf8::first_invalid(text))
        throw Error("the training text is not valid UTF-8 at byte " + std::to_string(*bad) + "; convert it to UTF-8 first");
    const auto& map = byte_unicode_map();
    std::vector<std::string> tokens;  // id -> token, in byte-unicode form
    for (int id = 0; id < 256; ++id) tokens.push_back(map.utf8[map.order[id]]);
    std::vector<int> id_of_byte(256);
    for (int id = 0; id < 256; ++id) id_of_byte[map.order[id]] = id;

    // Each distinct piece once, with how often it occurs.
    std::unordered_map<std::string_view, int64_t> pieces;
    const RegexSplitter splitter(kGpt2SplitPattern, "GPT-2's pre-tokenizer");
    for (auto piece : splitter.split(text)) ++pieces[piece];
    std::vector<Word> words;
    words.reserve(pieces.size());
    for (const auto& [piece, count] : pieces) {
        Word w{{}, count};
        for (unsigned char c : piece) w.symbols.push_back(id_of_byte[c]);
        words.push_back(std::move(w));
    }

    std::unordered_map<uint64_t, int64_t> pairs;  // (a, b) -> occurrences, weighted by word count
    auto count_word = [&](const Word& w, int64_t sign) {
        for (std::size_t i = 0; i + 1 < w.symbols.size(); ++i) pairs[pair_key(w.symbols[i], w.symbols[i + 1])] += sign * w.count;
    };
    for (const auto& w : words) count_word(w, +1);

    std::vector<std::pair<std::string, std::string>> merges;
    while (static_cast<int>(tokens.size()) + 1 < vocab_size) {
        // The most frequent pair; among equals, the one whose tokens sort first.
        uint64_t best = 0;
        int64_t best_count = 1;
        for (const auto& [key, count] : pairs) {
            if (count < best_count) continue;
            const int a = static_cast<int>(key >> 32), b = static_cast<int>(key & 0xFFFFFFFF);
            if (count > best_count || std::tie(tokens[a], tokens[b]) < std::tie(tokens[best >> 32], tokens[best & 0xFFFFFFFF])) {
                best = key;
                best_count = count;
            }
        }
        if (best_count < 2) break;  // nothing left that occurs twice
        const int a = static_cast<int>(best >> 32), b = static_cast<int>(best & 0xFFFFFFFF);
        const int merged = static_cast<int>(tokens.size());
        tokens.push_back(tokens[a] + tokens[b]);
        merges.emplace_back(tokens[a], tokens[b]);
        for (auto& w : words) {
            bool has = false;
            for (std::size_t i = 0; i + 1 < w.symbols.size() && !has; ++i) has = w.symbols[i] == a && w.symbols[i + 1] == b;
            if (!has) continue;
            count_word(w, -1);
            std::vector<int> out;
            for (std::size_t i = 0; i < w.symbols.size(); ++i) {
                if (i + 1 < w.symbols.size() && w.symbols[i] == a && w.symbols[i + 1] == b) {
                    out.push_back(merged);
                    ++i;
                } else {
                    out.push_back(w.symbols[i]);
                }
            }
            w.symbols = std::move(out);
            count_word(w, +1);
        }
        std::erase_if(pairs, [](const auto& entry) { return entry.second <= 0; });
    }

    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (std::size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
    const int eos = static_cast<int>(tokens.size());
    vocab[kEndOfText] = eos;
    nlohmann::json merge_list = nlohmann::json::array();
    for (const auto& [left, right] : merges) merge_list.push_back({left, right});
    const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    return {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens",
         {{{"id", eos},
           {"content", kEndOfText},
           {"single_word", false},
           {"lstrip", false},
           {"rstrip", false},
           {"normalized", false},
           {"special", true}}}},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level},
        {"post_processor", byte_level},
        {"decoder", byte_level},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merge_list}}},
    };
}

nlohmann::json byte_level_bpe_config() {
    return {{"tokenizer_class", "PreTrainedTokenizerFast"},
            {"bos_token", nullptr},
            {"eos_token", kEndOfText},
            {"add_bos_token", false},
            {"model_max_length", 1 << 20}};
}

}  // namespace distgpt
