#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex_splitter.h"

#include "util/error.h"

#include <pcre2.h>

namespace distgpt {

const char* const kGpt2SplitPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct RegexSplitter::Pattern {
    pcre2_code* code = nullptr;
    ~Pattern() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& origin) : pattern_(std::make_unique<Pattern>()) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pattern_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                                   &error, &offset, nullptr);
    if (!pattern_->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw Error(origin + ": the pattern " + pattern + " does not compile at offset " + std::to_string(offset) + ": " +
                    reinterpret_cast<char*>(message));
    }
    pcre2_jit_compile(pattern_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
}

RegexSplitter::~RegexSplitter() = default;

std::vector<std::string_view> RegexSplitter::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(pattern_->code, nullptr);
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    PCRE2_SIZE start = 0, gap = 0;  // where the next search starts, where unmatched text starts
    while (start < text.size()) {
        // The caller validated the UTF-8 once; skip PCRE2's check on every call.
        const int rc = pcre2_match(pattern_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        if (ov[1] == ov[0]) {  // an empty match splits nothing: look one character further
            start = ov[0] + 1;
            while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
            continue;
        }
        if (ov[0] > gap) pieces.emplace_back(text.substr(gap, ov[0] - gap));
        pieces.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
        start = gap = ov[1];
    }
    if (gap < text.size()) pieces.emplace_back(text.substr(gap));
    pcre2_match_data_free(match);
    return pieces;
}

}  // namespace distgpt
