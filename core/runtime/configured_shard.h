#pragma once
#include "model/shard_spec.h"
#include "proto/messages.h"

namespace distgpt {

// The shard a configure message asks for: the one reading of it that the
// controller (to describe it), the worker's memory check and its loader share.
inline ShardSpec configured_shard(const proto::Configure& c) {
    ShardSpec s;
    s.layer_begin = c.layer_begin;
    s.layer_end = c.layer_end;
    s.embedding = c.embedding;
    s.head = c.head;
    s.tp_rank = c.tp_rank;
    s.tp_size = c.tp_size;
    s.tp_ranks = c.tp_ranks;
    s.sliced_source = c.weights == proto::ShardWeights::Streamed;
    return s;
}

}  // namespace distgpt
