#include "runtime/controller/cluster.h"

#include "net/curve_keys.h"
#include "net/endpoint.h"
#include "net/sockets.h"
#include "runtime/controller/heartbeats.h"
#include "runtime/controller/local_worker.h"
#include "util/boot_id.h"
#include "util/duration_text.h"
#include "util/error.h"
#include "weights/gpt2_names.h"
#include "weights/shard_tensors.h"
#include "weights/tensor_parallel_slice.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace distgpt {

namespace {

constexpr std::size_t kWeightChunkBytes = 16u << 20;

}  // namespace

struct Cluster::Impl {
    Topology topology;
    ClusterOptions options;
    zmq::context_t context{1};
    std::vector<std::unique_ptr<LocalWorker>> launched;  // by node, null for remote nodes
    std::vector<zmq::socket_t> sockets;                  // DEALER per node
    std::vector<std::string> endpoints;                  // each node's inbox
    std::vector<proto::HelloReply> hellos;
    std::vector<TraceNode> nodes;
    std::vector<double> offset_ns;  // worker clock - controller clock
    std::unique_ptr<ClusterHeartbeats> heartbeats;
    net::KeyPair keys;                               // ours, as a CURVE client
    std::vector<std::string> server_keys;            // per node, "" when it does not authenticate
    std::vector<int> active;                         // the plan's node p is cluster node active[p]
    const ModelSource* configured_source = nullptr;  // what configure() loaded, for a re-plan
    const OpenedModel* configured_model = nullptr;
    int context_tokens = 0;
    Plan plan;
    std::string run_id;
    int slots = 1;

    void status(const std::string& s) {
        if (options.on_status) options.on_status(s);
    }

    std::optional<proto::Message> receive_from(int node, std::chrono::milliseconds timeout) {
        auto parts = net::receive(sockets[node], timeout);
        if (!parts) return std::nullopt;
        return proto::decode(std::move(*parts));
    }

    // Why a node is gone: its process ended, or it stopped answering heartbeats.
    std::optional<std::string> why_dead(int i) {
        if (launched[i])
            if (auto why = launched[i]->exited()) return "node '" + topology.nodes[i].name + "' is gone: " + *why;
        if (heartbeats && heartbeats->silent(i))
            return "node '" + topology.nodes[i].name + "' at " + endpoints[i] + " stopped answering: no heartbeat for " +
                   seconds_text(heartbeats->timeout_ms() / 1000.0) + " (process killed, machine down, or network cut)";
        return std::nullopt;
    }

    std::optional<NodeLoss> dead_node() {
        for (int i : active)
            if (auto why = why_dead(i)) return NodeLoss{i, *why, {}};
        return std::nullopt;
    }

    // The next message of `type` from `node`; an error reply becomes an Error naming the node.
    proto::Message expect(int node, const std::string& type, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            auto m = receive_from(node, std::min(left, std::chrono::milliseconds(200)));
            if (!m) {
                if (auto dead = dead_node()) throw NodeError(dead->node, dead->why);
                continue;
            }
            if (m->type == type) return std::move(*m);
            if (m->type == proto::ErrorReply::kType)
                throw NodeError(node, "node '" + topology.nodes[node].name + "': " + m->as<proto::ErrorReply>().message);
        }
        throw NodeError(node, "node '" + topology.nodes[node].name + "' at " + endpoints[node] + " did not answer within " +
                                  seconds_text(timeout.count() / 1000.0) + " (waiting for " + type + "): is distgpt-worker running there" +
                                  (server_keys[node].empty() ? "?" : ", and is this controller's public key in its --authorized-keys?"));
    }

    // Polls every node; returns (node, message) or nullopt after `timeout`.
    std::optional<std::pair<int, proto::Message>> receive_any(std::chrono::milliseconds timeout) {
        std::vector<zmq::pollitem_t> items;
        for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        if (zmq::poll(items.data(), items.size(), timeout) <= 0) return std::nullopt;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].revents & ZMQ_POLLIN)
                if (auto m = receive_from(static_cast<int>(i), std::chrono::milliseconds(0)))
                    return std::pair{static_cast<int>(i), std::move(*m)};
        return std::nullopt;
    }

    void connect_all() {
        const int n = static_cast<int>(topology.nodes.size());
        keys = options.key_file.empty() ? net::generate_key_pair() : net::read_key_pair(options.key_file);
        for (const auto& spec : topology.nodes) server_keys.push_back(spec.server_key);
        for (int i = 0; i < n; ++i) {
            const auto& spec = topology.nodes[i];
            if (spec.endpoint == "local") {
                status("starting local worker '" + spec.name + "'");
                launched.push_back(std::make_unique<LocalWorker>(spec.name, spec.threads, spec.memory_limit));
                endpoints.push_back(launched.back()->endpoint());
            } else {
                launched.push_back(nullptr);
                endpoints.push_back(spec.endpoint);
            }
            zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
            net::make_curve_client(s, keys, spec.server_key);
            s.connect(endpoints.back());
            sockets.push_back(std::move(s));
        }
        for (int i = 0; i < n; ++i) net::send(sockets[i], proto::encode(proto::Hello{options.controller_name}));
        for (int i = 0; i < n; ++i) {
            hellos.push_back(
                expect(i, proto::HelloReply::kType, std::chrono::milliseconds(options.hello_timeout_ms)).as<proto::HelloReply>());
            TraceNode node;
            node.name = topology.nodes[i].name;
            nodes.push_back(node);
        }
        measure_clocks();
        std::vector<std::string> beat_endpoints;
        for (int i = 0; i < n; ++i) beat_endpoints.push_back(peer_endpoint(i, hellos[i].heartbeat_endpoint)), active.push_back(i);
        heartbeats = std::make_unique<ClusterHeartbeats>(beat_endpoints, server_keys, keys, options.controller_name, options.liveness_ms);
    }

    // Offset of each worker's clock, from the ping with the smallest round
    // trip: off by up to half of it (tens of µs on loopback). A worker on this
    // machine reads the same monotonic clock: its offset is exactly 0.
    void measure_clocks() {
        offset_ns.assign(nodes.size(), 0);
        const std::string own_boot = boot_id();
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            double best_rtt = 1e18;
            for (int k = 0; k < 8; ++k) {
                const int64_t sent = net::now_ns();
                net::send(sockets[i], proto::encode(proto::Ping{sent}));
                const auto pong =
                    expect(static_cast<int>(i), proto::Pong::kType, std::chrono::milliseconds(options.hello_timeout_ms)).as<proto::Pong>();
                const int64_t back = net::now_ns();
                if (back - sent < best_rtt) {
                    best_rtt = static_cast<double>(back - sent);
                    offset_ns[i] = static_cast<double>(pong.worker_ns) - (sent + back) / 2.0;
                }
            }
            // (A time namespace could still shift it: then 0 lies outside the estimate's bounds.)
            if (!own_boot.empty() && hellos[i].boot_id == own_boot && std::abs(offset_ns[i]) <= best_rtt / 2) offset_ns[i] = 0;
            nodes[i].clock_offset_us = offset_ns[i] / 1e3;
            nodes[i].rtt_us = best_rtt / 1e3;
        }
    }

    std::string peer_endpoint(int node, const std::string& reported) const {
        // A remote worker bound to 0.0.0.0 is reached at the host its topology names.
        const std::string host = net::host_of(topology.nodes[node].endpoint == "local" ? endpoints[node] : topology.nodes[node].endpoint);
        const auto port = net::parse_endpoint(reported);
        if (!port)
            throw Error("node '" + topology.nodes[node].name + "' reported '" + reported +
                        "', not an endpoint: run the same distgpt version everywhere");
        return "tcp://" + host + ":" + port->port;
    }

    proto::ShardWeights weights_for(int node, const ModelSource& source) const {
        if (source.is_random()) return proto::ShardWeights::Random;
        switch (topology.nodes[node].weights) {
            case WeightSource::Stream: return proto::ShardWeights::Streamed;
            case WeightSource::Disk: return proto::ShardWeights::Disk;
            case WeightSource::Auto: break;
        }
        if (topology.nodes[node].endpoint == "local") return proto::ShardWeights::Disk;
        return hellos[node].model_dir.empty() ? proto::ShardWeights::Streamed : proto::ShardWeights::Disk;
    }

    // Exactly the node's shard: its layers, and of each tensor only its
    // tensor-parallel rank's slice (the worker then loads it as it comes).
    void stream_weights(int node, const StagePlan& stage, int rank, int ranks, const OpenedModel& model) {
        auto names = gpt2_shard_tensor_names(model.config, stage.layer_begin, stage.layer_end, stage.embedding(), stage.head,
                                             Gpt2Names(*model.weights).prefix());
        std::erase_if(names, [&](const std::string& n) { return rank > 0 && tensor_parallel_cut(n) == TensorParallelCut::RankZeroOnly; });
        uint64_t total = 0, sent = 0;
        for (const auto& name : names) {
            const auto cut = tensor_parallel_cut(name);
            total += model.weights->header(name).nbytes /
                     (cut == TensorParallelCut::Whole || cut == TensorParallelCut::RankZeroOnly ? 1 : ranks);
        }
        int last_percent = -1;
        for (const auto& name : names) {
            const TensorView whole = model.weights->get(name);
            const TensorSlice v = slice_for_rank(whole, tensor_parallel_cut(name), rank, ranks);
            model.weights->release(whole);
            const uint64_t nbytes = v.bytes.size();
            for (uint64_t offset = 0; offset < nbytes || (nbytes == 0 && offset == 0); offset += kWeightChunkBytes) {
                const std::size_t size = std::min<uint64_t>(kWeightChunkBytes, nbytes - offset);
                sent += size;
                proto::WeightChunk chunk{name, std::string(dtype_name(whole.dtype)), v.shape, offset, nbytes, sent, total};
                proto::Parts frames;
                frames.push_back(proto::frame_of(v.bytes.data() + offset, size));
                net::send(sockets[node], proto::encode(chunk, std::move(frames)));
                expect(node, proto::WeightAck::kType, std::chrono::seconds(60));
                const int percent = static_cast<int>(100 * sent / std::max<uint64_t>(1, total));
                if (percent / 10 != last_percent / 10)
                    status("node '" + topology.nodes[node].name + "': streaming weights " + std::to_string(percent) + "%");
                last_percent = percent;
                if (nbytes == 0) break;
            }
        }
        nodes[node].streamed_bytes = static_cast<int64_t>(sent);
    }

    void configure(const Plan& p, const ModelSource& source, const OpenedModel& model, int slot_count, int context_length) {
        plan = p;
        configured_source = &source, configured_model = &model, context_tokens = context_length;
        slots = slot_count;
        run_id = std::to_string(net::now_ns());
        std::vector<int> masked;  // ids the tokenizer cannot spell are never sampled, as [begin, end) pairs
        for (auto [begin, end] : model.tokenizer->unspellable_ids(model.config.vocab_size)) masked.insert(masked.end(), {begin, end});
        // Plan node p runs on cluster node active[p].
        const int n = static_cast<int>(active.size());
        // Every worker admits the run's peers before any of them connects to another.
        proto::Admit admit;
        for (int i : active) admit.keys.push_back(hellos[i].public_key);
        for (int i : active) net::send(sockets[i], proto::encode(admit));
        for (int i : active) expect(i, proto::Ok::kType, std::chrono::milliseconds(options.hello_timeout_ms));
        for (int pi = 0; pi < n; ++pi) {
            const int i = active[pi];
            const int s = plan.stage_of_node[pi];
            const StagePlan& stage = plan.stages[s];
            proto::Configure c;
            c.run = run_id;
            c.weights = weights_for(i, source);
            c.model_dir = c.weights == proto::ShardWeights::Disk && topology.nodes[i].endpoint == "local" ? source.dir.string() : "";
            c.random_shape = source.random_shape, c.random_seed = source.random_seed;
            if (c.weights == proto::ShardWeights::Streamed)
                c.config_json = gpt2_config_json(model.config);  // the config the controller read, no file again
            c.layer_begin = stage.layer_begin, c.layer_end = stage.layer_end;
            c.embedding = stage.embedding(), c.head = stage.head;
            c.tp_rank = plan.rank_of_node[pi], c.tp_size = static_cast<int>(stage.nodes.size());
            c.stage = s, c.stages = static_cast<int>(plan.stages.size());
            c.slots = slots, c.context = context_length, c.threads = topology.nodes[i].threads;
            const int leader = stage.nodes.front();
            auto key_of = [&](int node) { return hellos[node].curve ? hellos[node].public_key : std::string(); };
            auto peer = [&](int node) { return proto::Peer{endpoints[node], key_of(node)}; };
            if (s + 1 < c.stages) c.next = peer(active[plan.stages[s + 1].nodes.front()]);
            if (stage.head) c.first = peer(active[plan.stages[0].nodes.front()]);
            if (c.tp_rank == 0)
                for (std::size_t r = 1; r < stage.nodes.size(); ++r) c.followers.push_back(peer(active[stage.nodes[r]]));
            for (int rank : stage.nodes)
                c.tp_peers.push_back({peer_endpoint(active[rank], hellos[active[rank]].collective_endpoint), key_of(active[rank])});
            c.return_logits = options.return_logits;
            // Who sends this worker forwards or tokens: a follower's leader; a leader, rank 0 of the
            // stage before (of the last, for stage 0).
            c.shared_memory = topology.transport == TransportChoice::Auto;
            c.inbox = endpoints[i];
            c.prev.push_back(endpoints[active[c.tp_rank > 0 ? leader : plan.stages[s > 0 ? s - 1 : c.stages - 1].nodes.front()]]);
            c.eos_token_id = model.tokenizer->eos_id() ? model.config.eos_token_id : -1;
            c.masked_ranges = masked;
            nodes[i].streamed_bytes = 0;
            if (c.weights == proto::ShardWeights::Streamed) {
                if (source.is_random()) throw Error("a random model is drawn on each worker; it is never streamed");
                stream_weights(i, stage, c.tp_rank, c.tp_size, model);
            }
            status("node '" + topology.nodes[i].name + "': loading " +
                   ShardSpec{c.layer_begin, c.layer_end, c.embedding, c.head, c.tp_rank, c.tp_size}.describe());
            net::send(sockets[i], proto::encode(c));
        }
        for (int pi = 0; pi < n; ++pi) {
            const int i = active[pi];
            const auto done = expect(i, proto::Configured::kType, std::chrono::minutes(10)).as<proto::Configured>();
            nodes[i].stage = plan.stage_of_node[pi], nodes[i].rank = plan.rank_of_node[pi];
            nodes[i].shard = done.shard, nodes[i].weight_bytes = done.weight_bytes;
            nodes[i].kv_cache_bytes = done.kv_cache_bytes, nodes[i].rss_bytes = done.rss_bytes;
        }
        // Load spans arrive with each configure; they belong to no run.
        while (receive_any(std::chrono::milliseconds(20))) {}
    }

    // After a node died: plan again over the nodes that answer, load their new
    // shards. Returns the nodes lost and how the run goes on, or throws Error
    // when no plan fits.
    std::vector<NodeLoss> replan_without_dead() {
        std::vector<int> alive;
        std::vector<NodeLoss> losses;
        std::string lost;
        for (int i : active) {
            if (auto why = why_dead(i)) {
                losses.push_back({i, *why, {}});
                lost += (lost.empty() ? "" : "; ") + *why;
            } else {
                alive.push_back(i);
            }
        }
        if (alive.empty()) throw Error("no node is left to run on");
        Topology rest = topology;
        rest.nodes.clear();
        rest.layers.clear();  // manual ranges were for the old stage count
        for (int i : alive) rest.nodes.push_back(topology.nodes[i]);
        if (rest.strategy == Strategy::Hybrid && static_cast<int>(alive.size()) % rest.tensor_parallel != 0)
            rest.strategy = Strategy::Pipeline;
        const Plan next = make_plan(rest, configured_model->config, slots, context_tokens);
        active = alive;
        status(lost + ": re-planning over " + std::to_string(alive.size()) + " node(s)");
        configure(next, *configured_source, *configured_model, slots, context_tokens);
        for (auto& loss : losses) loss.recovery = "re-planned over " + std::to_string(alive.size()) + " node(s): " + next.describe(rest);
        return losses;
    }

    int node_of_endpoint(const std::string& endpoint) const {
        for (std::size_t i = 0; i < endpoints.size(); ++i)
            if (endpoints[i] == endpoint) return static_cast<int>(i);
        return -1;
    }

    struct Scheduler;
    RunResult run(const RunRequest& req);
};

// One run, scheduled: sequences wait in a queue for a slot, go to stage 0 in
// micro-batches, come back as tokens; a lost node means a re-plan and a
// replay of each unfinished sequence, or the end of the run with its tokens.
struct Cluster::Impl::Scheduler {
    Impl& c;
    const RunRequest& req;
    const int total, in_flight, micro_batch;
    const int64_t start_ns = net::now_ns();
    RunResult result;
    std::deque<int> queue;
    std::vector<int> free_slots;
    int next_group = 0, finished = 0;

    Scheduler(Impl& cluster, const RunRequest& request)
        : c(cluster),
          req(request),
          total(static_cast<int>(request.prompts.size())),
          in_flight(std::min(cluster.slots, request.in_flight > 0 ? request.in_flight : static_cast<int>(cluster.plan.stages.size()))),
          micro_batch(std::max(1, request.micro_batch)) {
        result.sequences.resize(total);
        result.trace.nodes = c.nodes;
        result.trace.sequences = total;
        for (int i = 0; i < total; ++i) result.sequences[i].prompt_ids = req.prompts[i];
        requeue_unfinished();
    }

    double to_us(int node, int64_t worker_ns) const { return (worker_ns - c.offset_ns[node] - start_ns) / 1e3; }

    // Every unfinished sequence waits for a slot again (at the start, and on
    // a new plan, where each replays the tokens it made).
    void requeue_unfinished() {
        queue.clear();
        for (int i = 0; i < total; ++i)
            if (!result.sequences[i].finish) queue.push_back(i);
        free_slots.clear();
        for (int s = in_flight - 1; s >= 0; --s) free_slots.push_back(s);
    }

    // Starts sequences while slots are free, micro_batch to a message.
    void launch() {
        while (!free_slots.empty() && !queue.empty()) {
            proto::Start start;
            start.run = c.run_id;
            start.group = next_group++;
            std::vector<int32_t> ids;
            while (!free_slots.empty() && !queue.empty() && static_cast<int>(start.sequences.size()) < micro_batch) {
                const int seq = queue.front();
                queue.pop_front();
                proto::Sequence s;
                s.id = seq, s.slot = free_slots.back();
                free_slots.pop_back();
                s.temperature = req.options.sampling.temperature, s.top_k = req.options.sampling.top_k;
                s.top_p = req.options.sampling.top_p, s.seed = req.options.sampling.seed + static_cast<uint64_t>(seq);
                s.max_new_tokens = req.options.max_new_tokens, s.stop_at_eos = req.options.stop_at_eos;
                s.forced = result.sequences[seq].generated_ids;  // after a re-plan: replay what was made
                start.sequences.push_back(s);
                start.lengths.push_back(static_cast<int>(req.prompts[seq].size()));
                ids.insert(ids.end(), req.prompts[seq].begin(), req.prompts[seq].end());
            }
            // To stage 0's leader, which relays it to the other ranks.
            proto::Parts frames;
            frames.push_back(proto::frame_of(ids.data(), ids.size() * sizeof(int32_t)));
            net::send(c.sockets[c.active[c.plan.stages[0].nodes.front()]], proto::encode(start, std::move(frames)));
        }
    }

    void record_trace(int node, const proto::Trace& t) {
        result.trace.nodes[node].rss_bytes = t.rss_bytes;
        std::vector<TraceSpan> fresh;
        for (const auto& s : t.spans) {
            if (s.kind == SpanKind::Load) continue;
            if (static_cast<int>(s.kind) > static_cast<int>(SpanKind::Load) ||
                static_cast<int>(s.transport) > static_cast<int>(Transport::ZeroMQ))
                throw NodeError(node, "node '" + c.topology.nodes[node].name +
                                          "' sent a span of unknown kind or transport: run the same distgpt version everywhere");
            fresh.push_back({node, s.kind, to_us(node, s.t0), to_us(node, s.t1), s.group, s.step, s.layer_begin, s.layer_end, s.bytes,
                             s.peer.empty() ? -1 : c.node_of_endpoint(s.peer), s.sequences, s.transport});
        }
        result.trace.spans.insert(result.trace.spans.end(), fresh.begin(), fresh.end());
        if (req.on_spans && !fresh.empty()) req.on_spans(fresh);
    }

    void record_tokens(int node, const proto::Message& m) {
        const auto t = m.as<proto::Tokens>();
        if (t.run != c.run_id) return;  // from before a re-plan
        const float* logits = m.frames.empty() ? nullptr : static_cast<const float*>(m.frames[0].data());
        for (std::size_t i = 0; i < t.tokens.size(); ++i) {
            const auto& tok = t.tokens[i];
            if (tok.id < 0 || tok.id >= total)
                throw NodeError(node, "node '" + c.nodes[node].name + "' sent a token for unknown sequence " + std::to_string(tok.id));
            if (static_cast<int>(tok.finish) > static_cast<int>(FinishReason::Interrupted))
                throw NodeError(node,
                                "node '" + c.nodes[node].name + "' sent an unknown finish reason: run the same distgpt version everywhere");
            auto& seq = result.sequences[tok.id];
            if (tok.forced) continue;  // a replayed token: already recorded
            seq.generated_ids.push_back(tok.token);
            if (logits) seq.logits.emplace_back(logits + i * t.vocab, logits + (i + 1) * t.vocab);
            result.trace.tokens.push_back({tok.id, t.step, tok.token, to_us(node, t.sampled_ns)});
            if (req.on_token) req.on_token(result.trace.tokens.back());
            if (tok.done) {
                seq.finish = tok.finish;
                free_slots.push_back(tok.slot);
                ++finished;
            }
        }
        launch();
    }

    // A worker's message during the run; a node's error or a message no
    // worker of this version sends is a NodeError.
    void handle(int node, const proto::Message& m) {
        if (m.type == proto::Tokens::kType)
            record_tokens(node, m);
        else if (m.type == proto::Trace::kType)
            record_trace(node, m.as<proto::Trace>());
        else if (m.type == proto::ErrorReply::kType)
            throw NodeError(node, "node '" + c.nodes[node].name + "': " + m.as<proto::ErrorReply>().message);
    }

    // Ends the run early, on every path: each token made so far is kept, and
    // the sequences not finished end as `reason`.
    RunResult end_early(const std::string& why, FinishReason reason, int node_at_fault) {
        int kept = 0;
        for (auto& seq : result.sequences) {
            kept += static_cast<int>(seq.generated_ids.size());
            if (!seq.finish) seq.finish = reason;
        }
        result.error = reason == FinishReason::Stopped
                           ? why
                           : why + "; the run stopped with the " + std::to_string(kept) + " tokens generated so far kept";
        result.node_at_fault = node_at_fault;
        result.trace.wall_us = (net::now_ns() - start_ns) / 1e3;
        for (int i : c.active) net::send(c.sockets[i], proto::encode(proto::Stop{c.run_id}));
        return std::move(result);
    }

    // A node died: re-plan over the others and go on (true), or say why not.
    bool recover(NodeLoss& dead) {
        if (!c.options.recover) return false;
        try {
            for (auto& loss : c.replan_without_dead()) {
                if (c.options.on_node_lost) c.options.on_node_lost(loss);
                result.losses.push_back(loss);
            }
            requeue_unfinished();
            launch();
            return true;
        } catch (const Error& e) {
            dead.why += "; no plan fits the nodes left (" + std::string(e.what()) + ")";
            return false;
        }
    }

    RunResult finish() {
        result.trace.wall_us = (net::now_ns() - start_ns) / 1e3;
        // The last spans trail the last token by a message or two.
        while (auto got = c.receive_any(std::chrono::milliseconds(30)))
            if (got->second.type == proto::Trace::kType) record_trace(got->first, got->second.as<proto::Trace>());
        std::sort(result.trace.spans.begin(), result.trace.spans.end(),
                  [](const TraceSpan& a, const TraceSpan& b) { return a.t0_us < b.t0_us; });
        return std::move(result);
    }

    RunResult loop() {
        launch();
        auto last_progress = std::chrono::steady_clock::now();
        while (finished < total) {
            if (req.should_stop && req.should_stop()) return end_early("stopped by the user", FinishReason::Stopped, -1);
            if (auto dead = c.dead_node()) {
                if (recover(*dead)) {
                    last_progress = std::chrono::steady_clock::now();
                    continue;
                }
                if (c.options.on_node_lost) c.options.on_node_lost(*dead);
                result.losses.push_back(*dead);
                return end_early(dead->why, FinishReason::Interrupted, dead->node);
            }
            auto got = c.receive_any(std::chrono::milliseconds(200));
            if (!got) {
                if (std::chrono::steady_clock::now() - last_progress > std::chrono::milliseconds(c.options.stall_timeout_ms))
                    return end_early("the run made no progress for " + seconds_text(c.options.stall_timeout_ms / 1000.0) +
                                         "; a node may be stuck (" + std::to_string(finished) + " of " + std::to_string(total) +
                                         " sequences finished)",
                                     FinishReason::Interrupted, -1);
                continue;
            }
            last_progress = std::chrono::steady_clock::now();
            try {
                handle(got->first, got->second);
            } catch (const NodeError& e) {
                return end_early(e.what(), FinishReason::Interrupted, e.node);
            } catch (const Error& e) {  // a malformed message: its sender is at fault
                return end_early("node '" + c.nodes[got->first].name + "' sent a malformed message: " + e.what(), FinishReason::Interrupted,
                                 got->first);
            }
        }
        return finish();
    }
};

RunResult Cluster::Impl::run(const RunRequest& req) {
    if (plan.stages.empty()) throw Error("configure the cluster before running");
    if (req.prompts.empty()) throw Error("nothing to run: no prompts");
    for (std::size_t i = 0; i < req.prompts.size(); ++i)
        if (req.prompts[i].empty()) throw Error("prompt " + std::to_string(i + 1) + " is empty");
    Scheduler scheduler(*this, req);
    return scheduler.loop();
}

Cluster::Cluster(const Topology& topology, ClusterOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->topology = topology;
    impl_->options = std::move(options);
    impl_->connect_all();
}

Cluster::~Cluster() {
    for (std::size_t i = 0; i < impl_->sockets.size(); ++i) {
        try {
            net::send(impl_->sockets[i], proto::encode(proto::Stop{impl_->run_id}));
        } catch (const zmq::error_t&) {}
    }
}

void Cluster::configure(const Plan& plan, const ModelSource& source, const OpenedModel& model, int slots, int context) {
    impl_->configure(plan, source, model, slots, context);
}

RunResult Cluster::run(const RunRequest& request) { return impl_->run(request); }
const std::vector<TraceNode>& Cluster::nodes() const { return impl_->nodes; }

}  // namespace distgpt
