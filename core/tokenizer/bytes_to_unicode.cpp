#include "tokenizer/bytes_to_unicode.h"

#include "tokenizer/utf8.h"

namespace distgpt {
namespace {

ByteUnicodeMap build() {
    ByteUnicodeMap m{};
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int next = 0, shifted = 0;
    for (int b = 0; b < 256; ++b)
        if (printable(b)) {
            m.code_point[b] = static_cast<char32_t>(b);
            m.order[next++] = b;
        }
    for (int b = 0; b < 256; ++b)
        if (!printable(b)) {
            m.code_point[b] = static_cast<char32_t>(256 + shifted++);
            m.order[next++] = b;
        }
    for (int b = 0; b < 256; ++b) m.utf8[b] = utf8::encode(m.code_point[b]);
    return m;
}

}  // namespace

int ByteUnicodeMap::byte_of(char32_t cp) const {
    if (cp < 256 && code_point[cp] == cp) return static_cast<int>(cp);
    if (cp >= 256 && cp < 256 + 68) {
        for (int b = 0; b < 256; ++b)
            if (code_point[b] == cp) return b;
    }
    return -1;
}

const ByteUnicodeMap& byte_unicode_map() {
    static const ByteUnicodeMap map = build();
    return map;
}

}  // namespace distgpt
