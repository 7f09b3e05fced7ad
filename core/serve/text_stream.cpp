#include "serve/text_stream.h"

#include <algorithm>

namespace distgpt {

std::size_t unfinished_utf8_tail(const std::string& s) {
    // Look back over at most 3 continuation bytes for the lead byte.
    for (std::size_t back = 1; back <= std::min<std::size_t>(4, s.size()); ++back) {
        const auto b = static_cast<unsigned char>(s[s.size() - back]);
        if ((b & 0xC0) == 0x80) continue;  // a continuation byte
        const std::size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

TextStream::TextStream(const Tokenizer& tokenizer, std::vector<int> end_of_text, std::vector<std::string> stop)
    : tokenizer_(tokenizer), end_of_text_(std::move(end_of_text)), stop_(std::move(stop)) {}

std::string TextStream::release(std::size_t end) {
    std::string out = bytes_.substr(sent_.size(), end - sent_.size());
    sent_ += out;
    return out;
}

std::string TextStream::push(int token) {
    if (stopped_ || std::find(end_of_text_.begin(), end_of_text_.end(), token) != end_of_text_.end()) return {};
    bytes_ += tokenizer_.token_bytes(token);
    // A stop string may have begun in text held back, never before it.
    std::size_t longest = 0;
    for (const auto& s : stop_) longest = std::max(longest, s.size());
    const std::size_t from = sent_.size() > longest ? sent_.size() - longest : 0;
    std::size_t first = std::string::npos;
    for (const auto& s : stop_) first = std::min(first, bytes_.find(s, from));
    if (first != std::string::npos) {
        stopped_ = true;
        return release(std::max(first, sent_.size()));
    }
    // Hold back the longest end of the text that a stop string starts with.
    std::size_t hold = 0;
    for (const auto& s : stop_)
        for (std::size_t n = std::min(s.size() - 1, bytes_.size()); n > hold; --n)
            if (bytes_.compare(bytes_.size() - n, n, s, 0, n) == 0) {
                hold = n;
                break;
            }
    std::size_t end = bytes_.size() - hold;
    end -= unfinished_utf8_tail(bytes_.substr(0, end));
    return end > sent_.size() ? release(end) : std::string();
}

std::string TextStream::finish() {
    if (stopped_) return {};
    std::string rest = release(bytes_.size());
    if (unfinished_utf8_tail(sent_) > 0) {
        const std::size_t cut = unfinished_utf8_tail(sent_);
        rest.resize(rest.size() >= cut ? rest.size() - cut : 0);
        sent_.resize(sent_.size() - cut);
        rest += "\xEF\xBF\xBD";  // U+FFFD
        sent_ += "\xEF\xBF\xBD";
    }
    return rest;
}

}  // namespace distgpt
