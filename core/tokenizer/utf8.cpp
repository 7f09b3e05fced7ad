#include "tokenizer/utf8.h"

#include <cstdint>
#include <cstdio>

namespace distgpt::utf8 {
namespace {

// Length of the well-formed sequence at text[i], or 0 if there is none
// (Unicode Table 3-7).
std::size_t valid_sequence(std::string_view text, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<uint8_t>(text[i + k]); };
    const std::size_t left = text.size() - i;
    const uint8_t b0 = b(0);
    if (b0 < 0x80) return 1;
    auto cont = [&](std::size_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) { return k < left && b(k) >= lo && b(k) <= hi; };
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

std::size_t expected_length(uint8_t b0) {
    if (b0 >= 0xC2 && b0 <= 0xDF) return 2;
    if (b0 >= 0xE0 && b0 <= 0xEF) return 3;
    if (b0 >= 0xF0 && b0 <= 0xF4) return 4;
    return 1;
}

}  // namespace

std::optional<std::size_t> first_invalid(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = valid_sequence(text, i);
        if (n == 0) return i;
        i += n;
    }
    return std::nullopt;
}

std::size_t complete_prefix(std::string_view bytes) {
    // Look back at most 3 bytes for a lead byte whose sequence is cut short.
    const std::size_t n = bytes.size();
    for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
        const auto c = static_cast<uint8_t>(bytes[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
        if (c >= 0xC2 && expected_length(c) > back) return n - back;
        return n;
    }
    return n;
}

std::size_t char_length(std::string_view text, std::size_t i) {
    const std::size_t n = valid_sequence(text, i);
    return n == 0 ? 1 : n;
}

std::size_t char_count(std::string_view text) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); i += char_length(text, i)) ++n;
    return n;
}

std::size_t char_offset(std::string_view text, std::size_t n) {
    std::size_t i = 0;
    for (; i < text.size() && n > 0; --n) i += char_length(text, i);
    return i;
}

char32_t code_point(std::string_view text, std::size_t i) {
    const std::size_t n = char_length(text, i);
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (n == 1) return b0;
    char32_t cp = b0 & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    return cp;
}

std::string encode(char32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

std::string escape_invalid(std::string_view bytes) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = valid_sequence(bytes, i);
        if (n == 0) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<uint8_t>(bytes[i]));
            out += buf;
            ++i;
        } else {
            out.append(bytes.substr(i, n));
            i += n;
        }
    }
    return out;
}

}  // namespace distgpt::utf8
