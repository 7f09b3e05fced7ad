#include "model/shard_spec.h"

#include "util/error.h"

namespace distgpt {

ShardSpec ShardSpec::whole(const ModelConfig& config) {
    ShardSpec s;
    s.layer_end = config.n_layer;
    return s;
}

void ShardSpec::validate(const ModelConfig& c) const {
    if (layer_begin < 0 || layer_end > c.n_layer || layer_begin > layer_end)
        throw Error("layer range " + std::to_string(layer_begin) + ".." + std::to_string(layer_end) + " does not fit a model of " +
                    std::to_string(c.n_layer) + " layers");
    if (tp_size < 1 || tp_rank < 0 || tp_ranks < 1 || tp_rank + tp_ranks > tp_size)
        throw Error("tensor-parallel ranks " + std::to_string(tp_rank) + ".." + std::to_string(tp_rank + tp_ranks - 1) + " of " +
                    std::to_string(tp_size) + " are impossible");
    if (const std::string why = tensor_parallel_refusal(c, tp_size); !why.empty()) throw Error(why);
}

// A rank holds whole key/value groups: its query heads and the key/value
// heads they read. A degree that does not divide the key/value heads is
// refused (replicating key/value heads would cost memory and wire bytes on
// exactly the small machines tensor parallelism is for).
std::string tensor_parallel_refusal(const ModelConfig& c, int tp_size) {
    if (tp_size < 1) return "tensor-parallel degree " + std::to_string(tp_size) + " is impossible";
    if (c.n_head % tp_size != 0)
        return "tensor-parallel degree " + std::to_string(tp_size) + " does not divide the model's " + std::to_string(c.n_head) +
               " attention heads; choose a divisor of " + std::to_string(c.n_head);
    if (c.kv_heads() % tp_size != 0)
        return "tensor-parallel degree " + std::to_string(tp_size) + " does not divide the model's " + std::to_string(c.kv_heads()) +
               " key/value heads (each rank holds whole key/value groups); choose a divisor of " + std::to_string(c.kv_heads());
    if (c.hidden() % tp_size != 0)
        return "tensor-parallel degree " + std::to_string(tp_size) + " does not divide the MLP's " + std::to_string(c.hidden()) +
               " columns; choose a divisor of " + std::to_string(c.hidden());
    return {};
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
