#pragma once
#include "util/error.h"

#include <string>

namespace distgpt {

// A sequence that fills its context slides on instead of stopping: its last
// `keep` tokens are fed again from position 0 (a re-prefill; positions
// restart, learned or rotary alike) and generation continues. The one rule
// the single process and every first stage apply, so the shift happens at
// the same token on every topology.
struct ContextWindow {
    int context = 0;  // tokens the cache holds: positions 0 .. context-1
    int keep = 0;     // tokens a shift keeps, 1 .. context-1

    // `keep` 0 means half the context. Throws Error naming the flag when it
    // is out of range.
    static ContextWindow of(int context, int keep) {
        if (keep == 0) keep = context / 2 > 0 ? context / 2 : 1;
        if (keep < 1 || keep >= context)
            throw Error("--keep " + std::to_string(keep) + " is out of range: a shift keeps 1 to " + std::to_string(context - 1) +
                        " tokens (the context holds " + std::to_string(context) + ", and one more must fit)");
        return {context, keep};
    }

    // A token to be fed at window position `pos` must first shift the window.
    bool full(int pos) const { return pos >= context; }
};

}  // namespace distgpt
