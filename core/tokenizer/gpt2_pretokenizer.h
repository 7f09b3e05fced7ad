#pragma once
#include <memory>
#include <string_view>
#include <vector>

namespace distgpt {

// Splits text into the pieces GPT-2's BPE works on, with GPT-2's own pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched by PCRE2 in UTF mode with Unicode properties (UCP), so letters and
// numbers of every script are classed as the original `regex` module did.
class Gpt2PreTokenizer {
public:
    Gpt2PreTokenizer();
    ~Gpt2PreTokenizer();
    // `text` must be valid UTF-8; the pieces are views into it.
    std::vector<std::string_view> split(std::string_view text) const;

private:
    struct Pattern;
    std::unique_ptr<Pattern> pattern_;
};

}  // namespace distgpt
