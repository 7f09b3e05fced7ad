#include "runtime/worker/shard_setup.h"

#include "model/random_model.h"
#include "model/shard_spec.h"
#include "plan/planner.h"
#include "runtime/configured_shard.h"
#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/quantized_tensors.h"
#include "weights/safetensors.h"

#include <algorithm>

namespace distgpt {

ShardSetup::ShardSetup(std::string worker_name, std::string model_dir, int64_t memory_limit)
    : worker_name_(std::move(worker_name)), model_dir_(std::move(model_dir)), memory_limit_(memory_limit) {}

proto::WeightAck ShardSetup::receive(const proto::WeightChunk& c, const void* bytes, std::size_t size) {
    const auto dtype = parse_safetensors_dtype(c.dtype);
    if (!dtype) throw Error("weight chunk for '" + c.name + "' has unknown dtype '" + c.dtype + "'");
    if (!received_) received_ = std::make_unique<BufferTensorSource>();
    received_->add_chunk(c.name, dtype->dtype, c.shape, c.offset, c.total, bytes, size);
    return {c.shard_bytes_sent, c.shard_bytes_total};
}

ShardModel ShardSetup::open(const proto::Configure& c) {
    const auto formats = weight_formats();
    if (std::find(formats.begin(), formats.end(), c.weight_format) == formats.end())
        throw Error("configure: unknown weight format " + std::to_string(static_cast<int>(c.weight_format)) +
                    ": run the same distgpt version everywhere");
    if (!wire_format_known(c.wire))
        throw Error("configure: unknown wire format " + std::to_string(static_cast<int>(c.wire)) +
                    ": run the same distgpt version everywhere");
    ShardModel model;
    switch (c.weights) {
        case proto::ShardWeights::Disk: {
            const std::string dir = c.model_dir.empty() ? model_dir_ : c.model_dir;
            if (dir.empty()) throw Error("configure asks for weights on disk, but this worker was started without --model-dir");
            model.config = read_model_config(dir);
            model.owned = std::make_unique<QuantizedTensors>(std::make_unique<SafetensorsCheckpoint>(dir), model.config);
            break;
        }
        case proto::ShardWeights::Random:
            model.config = c.config_json.empty() ? model_preset(c.random_shape)
                                                 : parse_model_config(c.config_json, "the config.json the controller sent");
            model.owned = std::make_unique<RandomModelSource>(model.config, c.random_seed);
            break;
        case proto::ShardWeights::Streamed:
            if (!received_) throw Error("configure asks for streamed weights, but none were received");
            model.config = parse_model_config(c.config_json, "the config.json the controller sent");
            // q8 and q4 matrices arrive as blocks (half a q4 shard's bytes are an fp32 one's eighth).
            model.owned = std::make_unique<QuantizedTensors>(*received_, model.config, configured_shard(c));
            break;
        default:
            throw Error("configure: unknown weights source " + std::to_string(static_cast<int>(c.weights)) +
                        ": run the same distgpt version everywhere");
    }
    check_memory(model.config, c);
    model.weights = model.owned.get();
    return model;
}

// Refuses what cannot fit before allocating it.
void ShardSetup::check_memory(const ModelConfig& config, const proto::Configure& c) const {
    const ShardSpec spec = configured_shard(c);
    spec.validate(config);
    if (memory_limit_ <= 0) return;
    const NodeMemory need = shard_memory(config, spec, c.slots, c.context > 0 ? c.context : config.n_positions, c.weight_format);
    if (!need.fits(memory_limit_))
        throw Error(worker_name_ + " needs " + std::to_string(need.total() >> 20) + " MiB for " + spec.describe() + " (weights " +
                    std::to_string(need.weights >> 20) + ", KV cache " + std::to_string(need.kv_cache >> 20) + ", runtime " +
                    std::to_string(need.runtime >> 20) + ") but its memory limit is " + std::to_string(memory_limit_ >> 20) + " MiB");
}

}  // namespace distgpt
