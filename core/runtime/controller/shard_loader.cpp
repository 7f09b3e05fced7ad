#include "runtime/controller/shard_loader.h"

#include "util/fnv1a.h"

#include "model/shard_spec.h"
#include "runtime/configured_shard.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/node_connections.h"
#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/block_quant.h"
#include "weights/half_float.h"
#include "weights/quantized_tensors.h"
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
        status("node '" + connections_.name(node) + "': loading " + configured_shard(c).describe() +
               (c.partial_sum_wait == PartialSumWait::Block
                    ? "; it waits for partial sums blocking, not spinning: its machine's " +
                          std::to_string(connections_.hello(node).cores) + " cores are fewer than the run's worker threads there"
                    : ""));
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
    c.model_dir = c.weights == proto::ShardWeights::Disk && spec.started_here() ? load.source.dir.string() : "";
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
    // A node started here but declared slower than this machine stands in for that machine.
    c.slowdown = spec.started_here() && spec.speed < 1 ? 1 / spec.speed : 1;
    const auto key_of = [&](int n) { return connections_.hello(n).curve ? connections_.hello(n).public_key : std::string(); };
    // The link from this node to node n, as the topology's networks make it (the sender emulates it).
    const auto peer = [&](int n) {
        const LinkModel link = topology_.link(node, n);
        const uint64_t seed = fnv1a(topology_.nodes[n].name, fnv1a(topology_.nodes[node].name + "\n"));
        return proto::Peer{connections_.endpoint(n), key_of(n), link.bandwidth_mbps, link.latency_ms, link.jitter_ms, seed};
    };
    const auto leader_of = [&](int stage_index) { return load.nodes[plan.stages[stage_index].nodes.front()]; };
    if (s + 1 < c.stages) c.next = peer(leader_of(s + 1));
    if (stage.head) c.first = peer(leader_of(0));
    if (c.tp_rank == 0)
        for (std::size_t r = 1; r < stage.nodes.size(); ++r) c.followers.push_back(peer(load.nodes[stage.nodes[r]]));
    for (int stage_node : stage.nodes) {
        const int n = load.nodes[stage_node];
        for (int r = 0; r < plan.ranks_per_node; ++r)  // once per rank it holds
        {
            proto::Peer p = peer(n);  // the link's network, as for the stage's other hops
            p.endpoint = connections_.peer_endpoint(n, connections_.hello(n).collective_endpoint);
            c.tp_peers.push_back(p);
        }
    }
    c.return_logits = options_.return_logits;
    c.shared_memory = topology_.transport == TransportChoice::Auto;
    c.inbox = connections_.endpoint(node);
    // Who sends this worker forwards or tokens: a follower's leader; a leader,
    // rank 0 of the stage before (of the last, for stage 0).
    c.prev.push_back(connections_.endpoint(c.tp_rank > 0 ? leader_of(s) : leader_of(s > 0 ? s - 1 : c.stages - 1)));
    c.end_of_text_ids = end_of_text_ids(load.model);
    c.weight_format = load.model.weight_format;
    c.wire = topology_.wire;
    // A split head exchanges every logit in the all-reduce (200 KB a token
    // for gpt2): cheap through shared memory, dearer than reading the whole
    // head again over a network. So only when the group shares a machine.
    c.split_head = c.head && stage.tp_size > 1 && c.shared_memory;
    for (int stage_node : stage.nodes) {
        const std::string& boot = connections_.hello(load.nodes[stage_node]).boot_id;
        if (boot.empty() || boot != connections_.hello(node).boot_id) c.split_head = false;
    }
    // The run's worker threads on this node's machine (one kernel boot: one machine) against its cores.
    int threads_on_machine = 0;
    for (int n : load.nodes) {
        const std::string& boot = connections_.hello(n).boot_id;
        if (n == node || (!boot.empty() && boot == connections_.hello(node).boot_id)) threads_on_machine += topology_.nodes[n].threads;
    }
    c.partial_sum_wait = stage.tp_size > 1 ? partial_sum_wait(threads_on_machine, connections_.hello(node).cores) : PartialSumWait::Spin;
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
    if (topology_.nodes[node].started_here()) return proto::ShardWeights::Disk;
    return connections_.hello(node).model_dir.empty() ? proto::ShardWeights::Streamed : proto::ShardWeights::Disk;
}

// Exactly the node's shard: its layers, and of each tensor only the slices
// of the tensor-parallel ranks it holds (the worker loads them as they come),
// the matrices already in the format the worker will hold them in (a bf16
// run streams half an fp32 checkpoint's bytes, a q4 run under a seventh).
int64_t ShardLoader::stream_weights(int node, const StagePlan& stage, const ShardSpec& shard, const OpenedModel& model) {
    auto tensors = CheckpointLayout(model.config, *model.weights).shard(stage.layer_begin, stage.layer_end, stage.embedding(), stage.head);
    std::erase_if(tensors, [&](const CheckpointTensor& t) { return !shard.holds_rank_zero() && t.cut == TensorParallelCut::RankZeroOnly; });
    const WeightFormat format = model.weight_format;
    const auto segments_of = [&](const CheckpointTensor& t) { return split_by_input_columns(t.role) ? shard.tp_ranks : 1; };
    // What goes on the wire for one tensor: itself, or a block format's codes and scales.
    struct Payload {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<std::byte> bytes;
    };
    const auto payloads_of = [&](const CheckpointTensor& t) {
        const TensorView whole = model.weights->get(t.name);
        TensorSlice v = slice_for_ranks(whole, t.cut, shard.tp_rank, shard.tp_ranks, shard.tp_size);
        model.weights->release(whole);
        std::vector<Payload> out;
        if (held_as_matrix(t.role) && is_block_format(format)) {
            TensorView slice = whole;
            slice.shape = v.shape;
            slice.data = v.bytes.data();
            slice.nbytes = v.bytes.size();
            QuantizedTensor q = quantize_tensor(slice, t.in_out, format, segments_of(t));
            out.push_back({t.name, storage_dtype(format), q.codes_shape, std::move(q.codes)});
            const auto* scale_bytes = reinterpret_cast<const std::byte*>(q.scales.data());
            out.push_back({scale_name(t.name), DType::F16, q.scales_shape, {scale_bytes, scale_bytes + q.scales.size() * 2}});
            return out;
        }
        const DType dtype = held_as_matrix(t.role) ? storage_dtype(format) : whole.dtype;
        if (dtype != whole.dtype) v.bytes = convert_floats(v.bytes, whole.dtype, dtype);
        out.push_back({t.name, dtype, v.shape, std::move(v.bytes)});
        return out;
    };
    // The shard's bytes on the wire, from the headers alone (for progress).
    uint64_t total = 0, sent = 0;
    for (const auto& t : tensors) {
        const TensorView header = model.weights->header(t.name);
        const std::vector<int64_t> shape = sliced_shape(header.shape, t.cut, shard.tp_ranks, shard.tp_size);
        int64_t numel = 1;
        for (int64_t d : shape) numel *= d;
        if (held_as_matrix(t.role) && is_block_format(format)) {
            total += static_cast<uint64_t>(quantized_shapes(shape, t.in_out, format, segments_of(t)).bytes());
        } else {
            total += static_cast<uint64_t>(numel) * dtype_size(held_as_matrix(t.role) ? storage_dtype(format) : header.dtype);
        }
    }
    int last_percent = -1;
    for (const auto& t : tensors)
        for (const Payload& p : payloads_of(t)) {
            const uint64_t nbytes = p.bytes.size();
            for (uint64_t offset = 0; offset < nbytes || (nbytes == 0 && offset == 0); offset += kWeightChunkBytes) {
                const std::size_t size = std::min<uint64_t>(kWeightChunkBytes, nbytes - offset);
                sent += size;
                proto::WeightChunk chunk{p.name, std::string(dtype_name(p.dtype)), p.shape, offset, nbytes, sent, std::max(total, sent)};
                proto::Parts frames;
                frames.push_back(proto::frame_of(p.bytes.data() + offset, size));
                connections_.send(node, proto::encode(chunk, std::move(frames)));
                connections_.expect(node, proto::WeightAck::kType, std::chrono::seconds(60));
                const int percent = static_cast<int>(100 * sent / std::max<uint64_t>(1, std::max(total, sent)));
                if (percent / 10 != last_percent / 10)
                    status("node '" + connections_.name(node) + "': streaming weights " + std::to_string(percent) + "%");
                last_percent = percent;
                if (nbytes == 0) break;
            }
        }
    return static_cast<int64_t>(sent);
}

}  // namespace distgpt
