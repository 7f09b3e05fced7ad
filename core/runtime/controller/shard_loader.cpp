#include "runtime/controller/shard_loader.h"

#include "model/shard_spec.h"
#include "runtime/configured_shard.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/node_connections.h"
#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/half_float.h"
#include "weights/tensor_parallel_slice.h"

#include <algorithm>

namespace distgpt {

namespace {

constexpr std::size_t kWeightChunkBytes = 16u << 20;
constexpr std::chrono::milliseconds kBusyWorkerWait(60'000);

}  // namespace

ShardLoader::ShardLoader(NodeConnections& connections, const Topology& topology, const ClusterOptions& options)
    : connections_(connections), topology_(topology), options_(options) {}

void ShardLoader::status(const std::string& text) const {
    if (options_.on_status) options_.on_status(text);
}

std::vector<LoadedShard> ShardLoader::load(const ShardLoad& load) {
    admit_peers(load.nodes);
    const int n = static_cast<int>(load.nodes.size());
    std::vector<LoadedShard> loaded(n);
    for (int p = 0; p < n; ++p) {
        const int node = load.nodes[p];
        proto::Configure c = configure_message(load, p);
        loaded[p] = {node, c.stage, c.tp_rank, {}, 0};
        if (c.weights == proto::ShardWeights::Streamed) {
            if (load.source.is_random()) throw Error("a random model is drawn on each worker; it is never streamed");
            loaded[p].streamed_bytes = stream_weights(node, load.plan.stages[c.stage], configured_shard(c), load.model);
        }
        status("node '" + connections_.name(node) + "': loading " + configured_shard(c).describe());
        connections_.send(node, proto::encode(c));
    }
    for (auto& shard : loaded)
        shard.configured = connections_.expect(shard.node, proto::Configured::kType, std::chrono::minutes(10)).as<proto::Configured>();
    // Load spans arrive with each configure; they belong to no run.
    while (connections_.receive_any(std::chrono::milliseconds(20))) {}
    return loaded;
}

// Every worker admits the run's peers before any of them connects to another.
void ShardLoader::admit_peers(const std::vector<int>& nodes) {
    proto::Admit admit;
    for (int node : nodes) admit.keys.push_back(connections_.hello(node).public_key);
    for (int node : nodes) connections_.send(node, proto::encode(admit));
    // After a loss mid-load, a survivor may still be loading its shard of the
    // plan before (seconds on a busy machine): its heartbeats say it lives, so wait.
    for (int node : nodes)
        connections_.expect(node, proto::Ok::kType, std::max(kBusyWorkerWait, std::chrono::milliseconds(options_.hello_timeout_ms)));
}

proto::Configure ShardLoader::configure_message(const ShardLoad& load, int plan_node) const {
    const Plan& plan = load.plan;
    const int node = load.nodes[plan_node];
    const int s = plan.stage_of_node[plan_node];
    const StagePlan& stage = plan.stages[s];
    const auto& spec = topology_.nodes[node];
    proto::Configure c;
    c.run = load.run_id;
    c.weights = weights_for(node, load.source);
    c.model_dir = c.weights == proto::ShardWeights::Disk && spec.endpoint == "local" ? load.source.dir.string() : "";
    c.random_shape = load.source.random_shape;
    c.random_seed = load.source.random_seed;
    // The config the controller read: a streamed or random shard takes it
    // as is (no file again; a random shape the worker could not name).
    if (c.weights != proto::ShardWeights::Disk) c.config_json = model_config_json(load.model.config);
    c.layer_begin = stage.layer_begin;
    c.layer_end = stage.layer_end;
    c.embedding = stage.embedding();
    c.head = stage.head;
    c.tp_rank = plan.rank_of_node[plan_node];
    c.tp_ranks = plan.ranks_per_node;
    c.tp_size = stage.tp_size;
    c.stage = s;
    c.stages = static_cast<int>(plan.stages.size());
    c.slots = load.slots;
    c.context = load.context;
    c.threads = spec.threads;
    const auto key_of = [&](int n) { return connections_.hello(n).curve ? connections_.hello(n).public_key : std::string(); };
    const auto peer = [&](int n) { return proto::Peer{connections_.endpoint(n), key_of(n)}; };
    const auto leader_of = [&](int stage_index) { return load.nodes[plan.stages[stage_index].nodes.front()]; };
    if (s + 1 < c.stages) c.next = peer(leader_of(s + 1));
    if (stage.head) c.first = peer(leader_of(0));
    if (c.tp_rank == 0)
        for (std::size_t r = 1; r < stage.nodes.size(); ++r) c.followers.push_back(peer(load.nodes[stage.nodes[r]]));
    for (int stage_node : stage.nodes) {
        const int n = load.nodes[stage_node];
        for (int r = 0; r < plan.ranks_per_node; ++r)  // once per rank it holds
            c.tp_peers.push_back({connections_.peer_endpoint(n, connections_.hello(n).collective_endpoint), key_of(n)});
    }
    c.return_logits = options_.return_logits;
    c.shared_memory = topology_.transport == TransportChoice::Auto;
    c.inbox = connections_.endpoint(node);
    // Who sends this worker forwards or tokens: a follower's leader; a leader,
    // rank 0 of the stage before (of the last, for stage 0).
    c.prev.push_back(connections_.endpoint(c.tp_rank > 0 ? leader_of(s) : leader_of(s > 0 ? s - 1 : c.stages - 1)));
    c.end_of_text_ids = end_of_text_ids(load.model);
    c.weight_format = load.model.weight_format;
    for (auto [begin, end] : load.model.tokenizer->unspellable_ids(load.model.config.vocab_size))
        c.masked_ranges.insert(c.masked_ranges.end(), {begin, end});  // never sampled, as [begin, end) pairs
    return c;
}

proto::ShardWeights ShardLoader::weights_for(int node, const ModelSource& source) const {
    if (source.is_random()) return proto::ShardWeights::Random;
    switch (topology_.nodes[node].weights) {
        case WeightSource::Stream: return proto::ShardWeights::Streamed;
        case WeightSource::Disk: return proto::ShardWeights::Disk;
        case WeightSource::Auto: break;
    }
    if (topology_.nodes[node].endpoint == "local") return proto::ShardWeights::Disk;
    return connections_.hello(node).model_dir.empty() ? proto::ShardWeights::Streamed : proto::ShardWeights::Disk;
}

// Exactly the node's shard: its layers, and of each tensor only the slices
// of the tensor-parallel ranks it holds (the worker loads them as they come),
// the matrices already in the format the worker will hold them in (a bf16
// run streams half an fp32 checkpoint's bytes).
int64_t ShardLoader::stream_weights(int node, const StagePlan& stage, const ShardSpec& shard, const OpenedModel& model) {
    auto tensors = CheckpointLayout(model.config, *model.weights).shard(stage.layer_begin, stage.layer_end, stage.embedding(), stage.head);
    std::erase_if(tensors, [&](const CheckpointTensor& t) { return !shard.holds_rank_zero() && t.cut == TensorParallelCut::RankZeroOnly; });
    auto sent_as = [&](const CheckpointTensor& t, DType stored) {
        return held_as_matrix(t.role) ? storage_dtype(model.weight_format) : stored;
    };
    uint64_t total = 0, sent = 0;
    for (const auto& t : tensors) {
        const TensorView header = model.weights->header(t.name);
        const uint64_t nbytes = header.nbytes / dtype_size(header.dtype) * dtype_size(sent_as(t, header.dtype));
        total += t.cut == TensorParallelCut::Whole || t.cut == TensorParallelCut::RankZeroOnly ? nbytes
                                                                                               : nbytes / shard.tp_size * shard.tp_ranks;
    }
    int last_percent = -1;
    for (const auto& t : tensors) {
        const std::string& name = t.name;
        const TensorView whole = model.weights->get(name);
        TensorSlice v = slice_for_ranks(whole, t.cut, shard.tp_rank, shard.tp_ranks, shard.tp_size);
        model.weights->release(whole);
        const DType dtype = sent_as(t, whole.dtype);
        if (dtype != whole.dtype) v.bytes = convert_floats(v.bytes, whole.dtype, dtype);
        const uint64_t nbytes = v.bytes.size();
        for (uint64_t offset = 0; offset < nbytes || (nbytes == 0 && offset == 0); offset += kWeightChunkBytes) {
            const std::size_t size = std::min<uint64_t>(kWeightChunkBytes, nbytes - offset);
            sent += size;
            proto::WeightChunk chunk{name, std::string(dtype_name(dtype)), v.shape, offset, nbytes, sent, total};
            proto::Parts frames;
            frames.push_back(proto::frame_of(v.bytes.data() + offset, size));
            connections_.send(node, proto::encode(chunk, std::move(frames)));
            connections_.expect(node, proto::WeightAck::kType, std::chrono::seconds(60));
            const int percent = static_cast<int>(100 * sent / std::max<uint64_t>(1, total));
            if (percent / 10 != last_percent / 10)
                status("node '" + connections_.name(node) + "': streaming weights " + std::to_string(percent) + "%");
            last_percent = percent;
            if (nbytes == 0) break;
        }
    }
    return static_cast<int64_t>(sent);
}

}  // namespace distgpt
