#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace distgpt::utf8 {

// Byte offset of the first byte that is not part of well-formed UTF-8
// (overlongs, surrogates and code points past U+10FFFF are ill-formed).
std::optional<std::size_t> first_invalid(std::string_view text);

// Length of the longest prefix that does not end inside a code point: a token
// stream may split a character across tokens, and a printer must hold back
// the tail until the rest arrives.
std::size_t complete_prefix(std::string_view bytes);

// Length in bytes of the code point starting at text[i] (text is valid UTF-8).
std::size_t char_length(std::string_view text, std::size_t i);

// Characters in `text`, and the byte where its character number `n` starts
// (text is valid UTF-8; past the end: text.size()).
std::size_t char_count(std::string_view text);
std::size_t char_offset(std::string_view text, std::size_t n);

// The code point starting at text[i] (text is valid UTF-8).
char32_t code_point(std::string_view text, std::size_t i);
std::string encode(char32_t code_point);

// Turns a stream of token bytes into whole characters: a token may end
// mid-character, so its tail waits for the next token's bytes.
class CharacterStream {
public:
    // The characters `bytes` completes (empty while one is still split).
    std::string push(std::string_view bytes) {
        pending_ += bytes;
        const std::size_t ready = complete_prefix(pending_);
        std::string out = pending_.substr(0, ready);
        pending_.erase(0, ready);
        return out;
    }
    // What is still held back at the end: bytes of a character never completed.
    std::string rest() { return std::exchange(pending_, {}); }

private:
    std::string pending_;
};

// Printable form of raw token bytes: valid UTF-8 as is, other bytes as \xNN.
std::string escape_invalid(std::string_view bytes);

}  // namespace distgpt::utf8
