#pragma once
#include "util/error.h"
#include "weights/model_config.h"

#include <string>

namespace distgpt {

// A sequence that fills its context goes on instead of stopping: its window
// shifts to its last `keep` tokens, their positions restarting at 0, and
// generation continues. How depends on the positions:
//  - learned (GPT-2): a position is baked into every layer's keys and values,
//    so the kept tokens are fed again from position 0 (a re-prefill);
//  - rotary (LLaMA): a key's position is a rotation, so the kept keys and
//    values slide down the cache and the keys are turned back (Segment::slide):
//    measured faster than a re-prefill (docs/performance.md).
// The one rule the single process and every first stage apply, so the shift
// happens at the same token, the same way, on every topology.
enum class WindowShift { Reprefill, Slide };
inline WindowShift window_shift_for(Positions positions) {
    return positions == Positions::Rotary ? WindowShift::Slide : WindowShift::Reprefill;
}

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
    // The slide that keeps the last `keep` tokens, the one about to be fed
    // among them: positions pos-keep+1 .. pos-1 move to 0 .. keep-2, and the
    // token goes at keep-1.
    int slide_from(int pos) const { return pos - (keep - 1); }
};

}  // namespace distgpt
