#pragma once
#include "tokenizer/tokenizer.h"

#include <string>
#include <vector>

namespace distgpt {

// A generation's text as its tokens come, for a client: what the tokens
// spell, handed out in whole UTF-8 characters only, and never the start of
// a stop string until the text shows it is not one. A stop string ends the
// text before it.
class TextStream {
public:
    // `end_of_text`: ids that end a text and spell nothing in it.
    TextStream(const Tokenizer& tokenizer, std::vector<int> end_of_text, std::vector<std::string> stop);

    // The text `token` adds that can go to the client now. After a stop
    // string, nothing: stopped() says so.
    std::string push(int token);
    // The rest once the generation has ended: what was held back (an
    // unfinished character as U+FFFD), unless it stopped.
    std::string finish();

    bool stopped() const { return stopped_; }
    const std::string& text() const { return sent_; }  // everything handed out

private:
    std::string release(std::size_t end);

    const Tokenizer& tokenizer_;
    std::vector<int> end_of_text_;
    std::vector<std::string> stop_;
    std::string bytes_;  // every byte the tokens spell
    std::string sent_;   // bytes_[0, sent_.size()) went out
    bool stopped_ = false;
};

// How many bytes at the end of `s` begin a UTF-8 character still missing
// its continuation bytes (0 to 3).
std::size_t unfinished_utf8_tail(const std::string& s);

}  // namespace distgpt
