#pragma once
#include "proto/messages.h"
#include "weights/buffer_tensor_source.h"
#include "weights/model_config.h"

#include <cstdint>
#include <memory>
#include <string>

namespace distgpt {

// The model a worker's shard is cut from, ready to load: its config and the
// source of the shard's weights.
struct ShardModel {
    ModelConfig config;
    std::unique_ptr<TensorSource> owned;  // read from disk, drawn from a seed, or a view of the received weights
    const TensorSource* weights = nullptr;
};

// What a worker needs before it can run a shard: weights from its own disk,
// drawn from a seed, or received chunk by chunk from the controller; and the
// check that the shard fits its memory limit, before anything is allocated.
class ShardSetup {
public:
    ShardSetup(std::string worker_name, std::string model_dir, int64_t memory_limit);

    // One chunk of a streamed tensor; returns the acknowledgement to send back.
    proto::WeightAck receive(const proto::WeightChunk& chunk, const void* bytes, std::size_t size);
    // The model for `configure`; throws Error when its weights are missing or
    // the shard cannot fit. Received weights stay here until clear().
    ShardModel open(const proto::Configure& configure);
    void clear() { received_.reset(); }

private:
    void check_memory(const ModelConfig& config, const proto::Configure& c) const;

    std::string worker_name_;
    std::string model_dir_;
    int64_t memory_limit_ = 0;
    std::unique_ptr<BufferTensorSource> received_;
};

}  // namespace distgpt
