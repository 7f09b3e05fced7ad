#include "weights/gpt2_names.h"

#include "util/error.h"

namespace distgpt {

Gpt2Names::Gpt2Names(const TensorSource& source) {
    if (source.contains("transformer.wte.weight"))
        prefix_ = "transformer.";
    else if (source.contains("wte.weight"))
        prefix_ = "";
    else
        throw Error(source.describe() + ": holds neither 'wte.weight' nor 'transformer.wte.weight': not a GPT-2 checkpoint");
}

}  // namespace distgpt
