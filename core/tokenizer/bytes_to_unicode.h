#pragma once
#include <array>
#include <string>

namespace distgpt {

// GPT-2's reversible map from bytes to printable characters, so that BPE works
// on strings with no whitespace or control characters. Printable bytes map to
// themselves; the other 68 map to U+0100 onwards, in byte order.
struct ByteUnicodeMap {
    std::array<char32_t, 256> code_point;  // byte -> code point
    std::array<std::string, 256> utf8;     // byte -> the code point as UTF-8
    std::array<int, 256> order;            // GPT-2's ids 0..255 are the bytes in this order
    int byte_of(char32_t cp) const;        // -1 if cp is not in the map
};

const ByteUnicodeMap& byte_unicode_map();

}  // namespace distgpt
