#include "weights/shard_tensors.h"

#include "weights/gpt2_checkpoint_layout.h"
#include "weights/gpt2_names.h"

namespace distgpt {

std::vector<std::string> gpt2_shard_tensor_names(const Gpt2Config& config, int layer_begin, int layer_end, bool embedding, bool head,
                                                 const std::string& prefix) {
    const Gpt2Names n(prefix);
    std::vector<std::string> out;
    if (embedding || head) out.push_back(n.wte());
    if (embedding) out.push_back(n.wpe());
    for (int l = layer_begin; l < layer_end; ++l)
        for (const char* what :
             {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",
              "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"})
            out.push_back(n.layer(l, what));
    if (head) {
        out.push_back(n.ln_f("weight"));
        out.push_back(n.ln_f("bias"));
    }
    return out;
}

}  // namespace distgpt
