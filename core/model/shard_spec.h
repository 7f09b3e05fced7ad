#pragma once
#include "weights/gpt2_config.h"

#include <string>

namespace distgpt {

// The part of a model one process runs: layers [layer_begin, layer_end), the
// embedding (first pipeline stage), the final norm and head (last stage), and
// its place tp_rank in a tensor-parallel group of tp_size, where it holds
// heads [H·r/k, H·(r+1)/k) and the same share of the MLP's hidden columns.
struct ShardSpec {
    int layer_begin = 0;
    int layer_end = 0;
    bool embedding = true;
    bool head = true;
    int tp_rank = 0;
    int tp_size = 1;
    // The source holds only this rank's slices (a streamed shard), not whole tensors.
    bool sliced_source = false;

    static ShardSpec whole(const Gpt2Config& config);
    void validate(const Gpt2Config& config) const;  // throws Error saying what does not fit
    std::string describe() const;                   // "layers 0-3, embedding, tp 1/2"
    bool operator==(const ShardSpec&) const = default;
};

}  // namespace distgpt
