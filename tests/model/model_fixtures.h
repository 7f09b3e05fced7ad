#pragma once
#include "model/random_model.h"
#include "model/stage.h"

#include <ATen/ATen.h>

#include <vector>

namespace distgpt::test {

inline at::Tensor ids_of(std::vector<int64_t>& ids) {
    return at::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, at::TensorOptions().dtype(at::kLong));
}

inline Stage make_stage(const TensorSource& source, const ModelConfig& config, ShardSpec shard, int slots = 2, int threads = 2) {
    return Stage(load_stage_weights(source, config, shard), slots, config.n_positions, threads);
}

inline ShardSpec layers(int begin, int end, bool embedding, bool head, int tp_rank = 0, int tp_size = 1) {
    return ShardSpec{begin, end, embedding, head, tp_rank, tp_size};
}

inline float max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<float>(); }

}  // namespace distgpt::test
