#include "weights/gpt2_names.h"

#include "util/error.h"

namespace distgpt {

Gpt2Names::Gpt2Names(const TensorSource& source) {
    // A middle stage's shard has no wte: any tensor tells the layout.
    for (const auto& name : source.names()) {
        if (name.starts_with("transformer.")) {
            prefix_ = "transformer.";
            return;
        }
        if (name == "wte.weight" || name == "wpe.weight" || name.starts_with("h.") || name.starts_with("ln_f.")) {
            prefix_ = "";
            return;
        }
    }
    throw Error(source.describe() + ": holds neither 'wte.weight' nor 'transformer.wte.weight': not a GPT-2 checkpoint");
}

}  // namespace distgpt
