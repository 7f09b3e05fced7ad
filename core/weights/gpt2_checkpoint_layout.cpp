#include "weights/gpt2_checkpoint_layout.h"

#include "weights/gpt2_names.h"

namespace distgpt {

std::vector<TensorShape> gpt2_checkpoint_layout(const Gpt2Config& c, const std::string& prefix) {
    const Gpt2Names n(prefix);
    const int64_t C = c.n_embd;
    std::vector<TensorShape> out = {{n.wte(), {c.vocab_size, C}}, {n.wpe(), {c.n_positions, C}}};
    for (int i = 0; i < c.n_layer; ++i) {
        const std::vector<TensorShape> layer = {
            {n.layer(i, "ln_1.weight"), {C}},
            {n.layer(i, "ln_1.bias"), {C}},
            {n.layer(i, "attn.c_attn.weight"), {C, 3 * C}},
            {n.layer(i, "attn.c_attn.bias"), {3 * C}},
            {n.layer(i, "attn.c_proj.weight"), {C, C}},
            {n.layer(i, "attn.c_proj.bias"), {C}},
            {n.layer(i, "ln_2.weight"), {C}},
            {n.layer(i, "ln_2.bias"), {C}},
            {n.layer(i, "mlp.c_fc.weight"), {C, 4 * C}},
            {n.layer(i, "mlp.c_fc.bias"), {4 * C}},
            {n.layer(i, "mlp.c_proj.weight"), {4 * C, C}},
            {n.layer(i, "mlp.c_proj.bias"), {C}},
        };
        out.insert(out.end(), layer.begin(), layer.end());
    }
    out.push_back({n.ln_f("weight"), {C}});
    out.push_back({n.ln_f("bias"), {C}});
    return out;
}

}  // namespace distgpt
