#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace distgpt {

// GPT-2's pre-tokenizer pattern (also what a tokenizer.json ByteLevel
// pre-tokenizer with use_regex applies):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
extern const char* const kGpt2SplitPattern;

// Splits text into the pieces a BPE works on by a regular expression, as
// tokenizer.json's Split pre-tokenizer with behavior "Isolated" does: every
// match is a piece, and so is any text between matches. PCRE2 in UTF mode
// with Unicode properties (UCP), so letters and numbers of every script are
// classed as the Python and Rust regex engines the patterns come from do.
class RegexSplitter {
public:
    // Throws Error naming `origin` when the pattern does not compile.
    RegexSplitter(const std::string& pattern, const std::string& origin);
    ~RegexSplitter();
    // `text` must be valid UTF-8; the pieces are views into it.
    std::vector<std::string_view> split(std::string_view text) const;

private:
    struct Pattern;
    std::unique_ptr<Pattern> pattern_;
};

}  // namespace distgpt
