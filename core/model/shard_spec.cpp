#include "model/shard_spec.h"

#include "util/error.h"

namespace distgpt {

ShardSpec ShardSpec::whole(const Gpt2Config& config) {
    ShardSpec s;
    s.layer_end = config.n_layer;
    return s;
}

void ShardSpec::validate(const Gpt2Config& c) const {
    if (layer_begin < 0 || layer_end > c.n_layer || layer_begin > layer_end)
        throw Error("layer range " + std::to_string(layer_begin) + ".." + std::to_string(layer_end) + " does not fit a model of " +
                    std::to_string(c.n_layer) + " layers");
    if (tp_size < 1 || tp_rank < 0 || tp_ranks < 1 || tp_rank + tp_ranks > tp_size)
        throw Error("tensor-parallel ranks " + std::to_string(tp_rank) + ".." + std::to_string(tp_rank + tp_ranks - 1) + " of " +
                    std::to_string(tp_size) + " are impossible");
    if (c.n_head % tp_size != 0)
        throw Error("tensor-parallel degree " + std::to_string(tp_size) + " does not divide the " + std::to_string(c.n_head) +
                    " attention heads; choose a divisor of " + std::to_string(c.n_head));
}

std::string ShardSpec::describe() const {
    std::string s =
        layer_end > layer_begin ? "layers " + std::to_string(layer_begin) + "-" + std::to_string(layer_end - 1) : std::string("no layers");
    if (embedding) s += ", embedding";
    if (head) s += ", head";
    if (tp_size > 1)
        s += ", tp " + std::to_string(tp_rank + 1) + (tp_ranks > 1 ? "-" + std::to_string(tp_rank + tp_ranks) : "") + "/" +
             std::to_string(tp_size);
    return s;
}

}  // namespace distgpt
