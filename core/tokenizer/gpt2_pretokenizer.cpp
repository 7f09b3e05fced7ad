#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/gpt2_pretokenizer.h"

#include "util/error.h"

#include <pcre2.h>

namespace distgpt {

struct Gpt2PreTokenizer::Pattern {
    pcre2_code* code = nullptr;
    ~Pattern() { pcre2_code_free(code); }
};

namespace {
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

Gpt2PreTokenizer::Gpt2PreTokenizer() : pattern_(std::make_unique<Pattern>()) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pattern_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
    if (!pattern_->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw Error(std::string("GPT-2 pre-tokenizer pattern failed to compile: ") + reinterpret_cast<char*>(message));
    }
    pcre2_jit_compile(pattern_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
}

Gpt2PreTokenizer::~Gpt2PreTokenizer() = default;

std::vector<std::string_view> Gpt2PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(pattern_->code, nullptr);
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    PCRE2_SIZE start = 0;
    while (start < text.size()) {
        // The caller validated the UTF-8 once; skip PCRE2's check on every call.
        const int rc = pcre2_match(pattern_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match, nullptr);
        if (rc < 0) break;  // the last alternative \s+ and the others cover every character
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
        if (ov[1] == ov[0]) break;  // no empty matches in this pattern; guard anyway
        pieces.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
        start = ov[1];
    }
    pcre2_match_data_free(match);
    return pieces;
}

}  // namespace distgpt
