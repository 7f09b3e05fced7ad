#include "runtime/controller/cluster.h"

#include "sample/context_window.h"

#include "net/shm_ring.h"
#include "net/sockets.h"
#include "runtime/controller/node_connections.h"
#include "runtime/controller/shard_loader.h"
#include "util/duration_text.h"
#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <utility>

namespace distgpt {

// A cluster is its connections to the nodes, the plan loaded on them, and
// the runs scheduled over that plan (the Scheduler below).
struct Cluster::Impl {
    Topology topology;
    ClusterOptions options;
    std::unique_ptr<NodeConnections> connections;
    std::vector<TraceNode> nodes;                    // by cluster node: who it is, what it loaded
    const ModelSource* configured_source = nullptr;  // what configure() loaded, for a re-plan
    const OpenedModel* configured_model = nullptr;
    int context_tokens = 0;
    Plan plan;
    std::string run_id;
    int slots = 1;

    void status(const std::string& s) const {
        if (options.on_status) options.on_status(s);
    }

    // The plan's node p runs on cluster node active()[p].
    const std::vector<int>& active() const { return connections->watched(); }

    // Nodes lost outside a run's loop (while starting, greeting or loading):
    // the next run's result lists them.
    std::vector<NodeLoss> unreported_losses;

    void report(const NodeLoss& loss) {
        if (options.on_node_lost) options.on_node_lost(loss);
        unreported_losses.push_back(loss);
    }

    std::vector<NodeLoss> take_losses() { return std::exchange(unreported_losses, {}); }

    void configure(const Plan& p, const ModelSource& source, const OpenedModel& model, int slot_count, int context_length) {
        configured_source = &source;
        configured_model = &model;
        context_tokens = context_length;
        slots = slot_count;
        const auto& lost = connections->lost_at_start();
        if (lost.empty() || static_cast<int>(p.stage_of_node.size()) == static_cast<int>(active().size())) {
            load_recovering(p);
            return;
        }
        // The plan was made for nodes that died while they started.
        if (!options.recover) throw NodeError(lost.front().node, lost.front().why);
        std::vector<NodeLoss> losses;
        for (const auto& dead : lost) losses.push_back({dead.node, dead.why, {}});
        load_recovering(plan_over_active(losses));
    }

    // Loads a plan; when a node dies meanwhile, plans again without it and
    // loads that, as long as a plan fits.
    void load_recovering(Plan p) {
        for (;;) {
            try {
                load(p);
                return;
            } catch (const NodeError& e) {
                if (!options.recover || e.node < 0 || !connections->why_dead(e.node)) throw;
                p = plan_without_dead();
            }
        }
    }

    void load(const Plan& p) {
        plan = p;
        run_id = std::to_string(net::now_ns());
        for (auto& node : nodes) node.streamed_bytes = 0;
        ShardLoader loader(*connections, topology, options);
        for (const auto& shard : loader.load({plan, active(), *configured_source, *configured_model, slots, context_tokens, run_id})) {
            TraceNode& node = nodes[shard.node];
            node.stage = shard.stage;
            node.rank = shard.rank;
            node.shard = shard.configured.shard;
            node.weight_bytes = shard.configured.weight_bytes;
            node.kv_cache_bytes = shard.configured.kv_cache_bytes;
            node.rss_bytes = shard.configured.rss_bytes;
            node.streamed_bytes = shard.streamed_bytes;
        }
    }

    // After a node died: the dead ones leave the watched nodes, and a plan
    // over the others comes back. Throws Error naming the losses when no plan fits.
    Plan plan_without_dead() {
        std::vector<int> alive;
        std::vector<NodeLoss> losses;
        for (int i : active()) {
            if (auto why = connections->why_dead(i))
                losses.push_back({i, *why, {}});
            else
                alive.push_back(i);
        }
        connections->watch(alive);
        net::ShmRing::remove_orphans();  // the rings the dead nodes read
        return plan_over_active(losses);
    }

    // A plan over the watched nodes, after `losses`; each loss is reported,
    // with how the run goes on, or with the reason none fits (then thrown).
    Plan plan_over_active(std::vector<NodeLoss> losses) {
        std::string lost;
        for (const auto& loss : losses) lost += (lost.empty() ? "" : "; ") + loss.why;
        try {
            if (active().empty()) throw Error("no node is left to run on");
            Topology rest = topology;
            rest.nodes.clear();
            rest.layers.clear();  // manual ranges were for the old stage count
            for (int i : active()) rest.nodes.push_back(topology.nodes[i]);
            // Every stage keeps the run's tensor-parallel ranks, so the text stays the same.
            const int ranks_per_node = keep_tensor_parallel_ranks(rest, topology.ranks_per_stage());
            const Plan next =
                make_plan(rest, configured_model->config, slots, context_tokens, ranks_per_node, configured_model->weight_format);
            const std::string how = "re-planned over " + std::to_string(active().size()) + " node(s): " + next.describe(rest);
            status(lost + ": " + how);
            for (auto& loss : losses) {
                loss.recovery = how;
                report(loss);
            }
            return next;
        } catch (const Error& e) {
            for (auto& loss : losses) report(loss);
            throw NodeError(losses.empty() ? -1 : losses.front().node, lost + "; no plan fits the nodes left (" + e.what() + ")");
        }
    }

    struct Scheduler;
    RunResult run(const RunRequest& req);
};

// One run, scheduled: sequences wait in a queue for a slot, go to stage 0 in
// micro-batches, come back as tokens; a lost node means a re-plan and a
// replay of each unfinished sequence, or the end of the run with its tokens.
// Serving, sequences keep joining from a feed until the run is stopped.
struct Cluster::Impl::Scheduler {
    Impl& c;
    const RunRequest& req;
    const int in_flight, micro_batch;
    const int context;  // tokens a sequence's window holds
    const int64_t start_ns = net::now_ns();
    RunResult result;
    // What the controller keeps of each sequence beside its result.
    struct Sequence {
        GenerateOptions options;  // its seed as used
        int keep = 0;             // tokens it keeps when its context fills
        bool cancelled = false;   // asked to end early; stage 0 has been told if it started
    };
    std::vector<Sequence> sequences;
    std::deque<int> queue;
    std::vector<int> free_slots;
    int next_group = 0, total = 0, finished = 0;

    Scheduler(Impl& cluster, const RunRequest& request)
        : c(cluster),
          req(request),
          in_flight(std::min(cluster.slots, request.in_flight > 0 ? request.in_flight : static_cast<int>(cluster.plan.stages.size()))),
          micro_batch(std::max(1, request.micro_batch)),
          context(cluster.context_tokens > 0 ? cluster.context_tokens : cluster.configured_model->config.n_positions) {
        result.trace.nodes = c.nodes;
        for (std::size_t i = 0; i < req.prompts.size(); ++i) {
            GenerateOptions options = req.options;
            options.sampling.seed += i;
            add(req.prompts[i], options);
        }
        requeue_unfinished();
    }

    bool serving() const { return req.feed != nullptr; }

    void add(std::vector<int> prompt, const GenerateOptions& options) {
        result.sequences.push_back({std::move(prompt), {}, std::nullopt, {}});
        sequences.push_back({options, ContextWindow::of(context, options.keep).keep});
        total = static_cast<int>(result.sequences.size());
        result.trace.sequences = total;
    }

    void finish(int seq, FinishReason reason) {
        auto& s = result.sequences[seq];
        s.finish = reason;
        ++finished;
        if (req.on_finish) req.on_finish(seq, reason);
        if (serving()) s = {{}, {}, reason, {}};  // a server keeps no finished text: its client has it
    }

    // Serving: the sequences that came since the last step join the queue;
    // the ones cancelled end (waiting: at once; running: stage 0 is told).
    void take_from_feed() {
        for (auto& a : req.feed->take_arrivals()) {
            if (a.id != total) throw Error("the sequence feed skipped from id " + std::to_string(total) + " to " + std::to_string(a.id));
            add(std::move(a.prompt), a.options);
            queue.push_back(static_cast<int>(a.id));
        }
        std::vector<int64_t> tell;
        for (const int64_t id : req.feed->take_cancellations()) {
            if (id < 0 || id >= total || result.sequences[id].finish || sequences[id].cancelled) continue;
            sequences[id].cancelled = true;
            if (const auto waiting = std::find(queue.begin(), queue.end(), id); waiting != queue.end()) {
                queue.erase(waiting);
                finish(static_cast<int>(id), FinishReason::Stopped);
            } else {
                tell.push_back(id);
            }
        }
        // Stage 0 had each start before this: one socket, in order.
        if (!tell.empty()) c.connections->send(c.active()[c.plan.stages[0].nodes.front()], proto::encode(proto::Cancel{c.run_id, tell}));
        launch();
    }

    double to_us(int node, int64_t worker_ns) const { return (worker_ns - c.connections->clock_offset_ns(node) - start_ns) / 1e3; }

    // Every unfinished sequence waits for a slot again (at the start, and on
    // a new plan, where each replays the tokens it made); a cancelled one
    // that was running ends here.
    void requeue_unfinished() {
        queue.clear();
        for (int i = 0; i < total; ++i) {
            if (result.sequences[i].finish) continue;
            if (sequences[i].cancelled)
                finish(i, FinishReason::Stopped);
            else
                queue.push_back(i);
        }
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
                const GenerateOptions& o = sequences[seq].options;
                const auto& prompt = result.sequences[seq].prompt_ids;
                proto::Sequence s;
                s.id = seq;
                s.slot = free_slots.back();
                free_slots.pop_back();
                s.temperature = o.sampling.temperature;
                s.top_k = o.sampling.top_k;
                s.top_p = o.sampling.top_p;
                s.seed = o.sampling.seed;
                s.max_new_tokens = o.max_new_tokens;
                s.stop_at_eos = o.stop_at_eos;
                s.forced = result.sequences[seq].generated_ids;  // after a re-plan: replay what was made
                s.keep = sequences[seq].keep;
                start.sequences.push_back(s);
                start.lengths.push_back(static_cast<int>(prompt.size()));
                ids.insert(ids.end(), prompt.begin(), prompt.end());
            }
            // To stage 0's leader, which relays it to the other ranks.
            proto::Parts frames;
            frames.push_back(proto::frame_of(ids.data(), ids.size() * sizeof(int32_t)));
            c.connections->send(c.active()[c.plan.stages[0].nodes.front()], proto::encode(start, std::move(frames)));
        }
    }

    void record_trace(int node, const proto::Trace& t) {
        result.trace.nodes[node].rss_bytes = t.rss_bytes;
        std::vector<TraceSpan> fresh;
        for (const auto& s : t.spans) {
            if (s.kind == SpanKind::Load) continue;
            if (static_cast<int>(s.kind) > static_cast<int>(SpanKind::Load) ||
                static_cast<int>(s.transport) > static_cast<int>(Transport::ZeroMQ))
                throw NodeError(node, "node '" + c.nodes[node].name +
                                          "' sent a span of unknown kind or transport: run the same distgpt version everywhere");
            if (s.queued_ns < 0 || s.wire_ns < 0 || s.latency_ns < 0)
                throw NodeError(node, "node '" + c.nodes[node].name + "' sent a span with a negative emulated delay");
            fresh.push_back({node, s.kind, to_us(node, s.t0), to_us(node, s.t1), s.group, s.step, s.layer_begin, s.layer_end, s.bytes,
                             s.peer.empty() ? -1 : c.connections->node_of_endpoint(s.peer), s.sequences, s.transport});
            if (s.emulated) fresh.back().emulated = EmulatedDelay{s.queued_ns / 1e3, s.wire_ns / 1e3, s.latency_ns / 1e3};
        }
        if (!serving()) result.trace.spans.insert(result.trace.spans.end(), fresh.begin(), fresh.end());
        if (req.on_spans && !fresh.empty()) req.on_spans(fresh);
    }

    void record_tokens(int node, const proto::Message& m) {
        const auto t = m.as<proto::Tokens>();
        if (t.run != c.run_id) return;  // from before a re-plan
        std::vector<float> scratch;
        const auto logits = m.frames.empty() ? std::span<const float>() : proto::frame_values(m.frames[0], scratch);
        if (!logits.empty() && (t.vocab <= 0 || logits.size() != t.tokens.size() * static_cast<std::size_t>(t.vocab)))
            throw NodeError(node, "node '" + c.nodes[node].name + "' sent " + std::to_string(logits.size()) + " logits for " +
                                      std::to_string(t.tokens.size()) + " tokens of a vocabulary of " + std::to_string(t.vocab));
        for (std::size_t i = 0; i < t.tokens.size(); ++i) {
            const auto& tok = t.tokens[i];
            if (tok.id < 0 || tok.id >= total || result.sequences[tok.id].finish)
                throw NodeError(node, "node '" + c.nodes[node].name + "' sent a token for " +
                                          (tok.id >= 0 && tok.id < total ? "finished" : "unknown") + " sequence " + std::to_string(tok.id));
            if (static_cast<int>(tok.finish) > static_cast<int>(FinishReason::Interrupted))
                throw NodeError(node,
                                "node '" + c.nodes[node].name + "' sent an unknown finish reason: run the same distgpt version everywhere");
            auto& seq = result.sequences[tok.id];
            if (tok.forced) continue;  // a replayed token: already recorded
            seq.generated_ids.push_back(tok.token);
            if (!logits.empty()) seq.logits.emplace_back(logits.begin() + i * t.vocab, logits.begin() + (i + 1) * t.vocab);
            const TokenMark mark{tok.id, t.step, tok.token, to_us(node, t.sampled_ns), tok.window_shift};
            if (!serving()) result.trace.tokens.push_back(mark);
            if (req.on_token) req.on_token(mark);
            if (tok.done) {
                free_slots.push_back(tok.slot);
                finish(static_cast<int>(tok.id), tok.finish);
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
        if (serving()) take_from_feed();  // those that came meanwhile end too
        int kept = 0;
        for (int i = 0; i < total; ++i) {
            kept += static_cast<int>(result.sequences[i].generated_ids.size());
            if (!result.sequences[i].finish) finish(i, reason);
        }
        result.error = reason == FinishReason::Stopped
                           ? why
                           : why + "; the run stopped with the " + std::to_string(kept) + " tokens generated so far kept";
        result.node_at_fault = node_at_fault;
        result.losses = c.take_losses();
        result.trace.wall_us = (net::now_ns() - start_ns) / 1e3;
        for (int i : c.active()) c.connections->send(i, proto::encode(proto::Stop{c.run_id}));
        return std::move(result);
    }

    // A node died: re-plan over the others, load, and go on (true); or false
    // with why not in `why`.
    bool recover(std::string& why) {
        if (!c.options.recover) return false;
        try {
            c.load_recovering(c.plan_without_dead());
            requeue_unfinished();
            launch();
            return true;
        } catch (const Error& e) {
            why = e.what();
            return false;
        }
    }

    RunResult finish_run() {
        result.trace.wall_us = (net::now_ns() - start_ns) / 1e3;
        result.losses = c.take_losses();
        // The last spans trail the last token by a message or two.
        while (auto got = c.connections->receive_any(std::chrono::milliseconds(30)))
            if (got->second.type == proto::Trace::kType) record_trace(got->first, got->second.as<proto::Trace>());
        std::sort(result.trace.spans.begin(), result.trace.spans.end(),
                  [](const TraceSpan& a, const TraceSpan& b) { return a.t0_us < b.t0_us; });
        return std::move(result);
    }

    RunResult loop() {
        launch();
        auto last_progress = std::chrono::steady_clock::now();
        while (serving() || finished < total) {
            if (req.should_stop && req.should_stop()) return end_early("stopped by the user", FinishReason::Stopped, -1);
            if (auto dead = c.connections->dead_node()) {
                std::string why = dead->why;
                if (recover(why)) {
                    last_progress = std::chrono::steady_clock::now();
                    continue;
                }
                if (!c.options.recover) c.report({dead->node, dead->why, {}});
                return end_early(why, FinishReason::Interrupted, dead->node);
            }
            if (serving()) take_from_feed();
            auto got = c.connections->receive_any(std::chrono::milliseconds(200), serving() ? req.feed->wake_fd() : -1);
            if (!got) {
                if (finished == total) last_progress = std::chrono::steady_clock::now();  // idle, serving: nothing to wait for
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
        return finish_run();
    }
};

RunResult Cluster::Impl::run(const RunRequest& req) {
    if (plan.stages.empty()) throw Error("configure the cluster before running");
    if (req.prompts.empty() && !req.feed) throw Error("nothing to run: no prompts");
    for (std::size_t i = 0; i < req.prompts.size(); ++i)
        if (req.prompts[i].empty()) throw Error("prompt " + std::to_string(i + 1) + " is empty");
    Scheduler scheduler(*this, req);
    return scheduler.loop();
}

Cluster::Cluster(const Topology& topology, ClusterOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->topology = topology;
    impl_->options = std::move(options);
    impl_->connections = std::make_unique<NodeConnections>(impl_->topology, impl_->options);
    impl_->nodes = impl_->connections->identities();
}

Cluster::~Cluster() {
    impl_->connections.reset();      // stops the workers it started
    net::ShmRing::remove_orphans();  // rings that a worker killed on its way out left
}

void Cluster::configure(const Plan& plan, const ModelSource& source, const OpenedModel& model, int slots, int context) {
    impl_->configure(plan, source, model, slots, context);
}

RunResult Cluster::run(const RunRequest& request) { return impl_->run(request); }

std::vector<std::optional<NodeRates>> Cluster::measure_rates(const ModelConfig& config, WeightFormat format,
                                                             const std::vector<std::optional<RatesKey>>& keys) {
    NodeConnections& nodes = *impl_->connections;
    const int n = std::min(nodes.size(), static_cast<int>(keys.size()));
    proto::Calibrate ask;
    ask.config_json = model_config_json(config);
    ask.weight_format = format;
    for (int i = 0; i < n; ++i)
        if (keys[i]) {
            ask.threads = keys[i]->threads;
            ask.tp_size = keys[i]->tp_size;
            ask.split_head = keys[i]->split_head;
            nodes.send(i, proto::encode(ask));
        }
    std::vector<std::optional<NodeRates>> out(keys.size());
    for (int i = 0; i < n; ++i) {
        if (!keys[i]) continue;
        // A big model on a slow machine takes a while the first time.
        const auto c = nodes.expect(i, proto::Calibration::kType, std::chrono::minutes(5)).as<proto::Calibration>();
        const NodeRates r{c.layer_ms, c.layer_row_ms, c.head_ms, c.head_row_ms, c.sample_ms};
        for (double v : {r.layer_ms, r.layer_row_ms, r.head_ms, r.head_row_ms, r.sample_ms})
            if (!std::isfinite(v) || v < 0 || v > 1e7)
                throw NodeError(i, "node '" + nodes.name(i) + "' measured an impossible speed: run the same distgpt version everywhere");
        if (r.layer_ms <= 0)
            throw NodeError(i,
                            "node '" + nodes.name(i) + "' measured its layers at no time at all: run the same distgpt version everywhere");
        out[i] = r;
        impl_->status("node " + nodes.name(i) + (c.measured ? ": measured its speed" : ": its speed, as measured before"));
    }
    return out;
}
const std::vector<TraceNode>& Cluster::nodes() const { return impl_->nodes; }

}  // namespace distgpt
