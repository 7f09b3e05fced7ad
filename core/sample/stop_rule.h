#pragma once
#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

namespace distgpt {

// Why a sequence stopped generating.
enum class FinishReason {
    Length,       // it made the tokens it was asked for
    EndOfText,    // it sampled the tokenizer's end of text
    Stopped,      // the user stopped the run
    Interrupted,  // a node failed and no plan fit the nodes left
};

constexpr std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::Length: return "length";
        case FinishReason::EndOfText: return "end_of_text";
        case FinishReason::Stopped: return "stopped";
        case FinishReason::Interrupted: return "interrupted";
    }
    return "length";
}

// When a sequence stops: the one rule the single process and every last
// stage apply after each token. (A full context is no reason: the window
// slides, sample/context_window.h.)
struct StopRule {
    std::vector<int> end_of_text;  // the ids that end a text (end_of_text_ids: none for a character model)
    bool stop_at_end_of_text = true;
    int max_new_tokens = 64;

    // After a sequence has generated `generated` tokens, the last being `token`.
    std::optional<FinishReason> after(int token, int generated) const {
        if (stop_at_end_of_text && std::find(end_of_text.begin(), end_of_text.end(), token) != end_of_text.end())
            return FinishReason::EndOfText;
        if (generated >= max_new_tokens) return FinishReason::Length;
        return std::nullopt;
    }
};

}  // namespace distgpt
