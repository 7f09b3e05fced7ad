#include "plan/cost_model.h"

#include "plan/partial_sum_wait.h"
#include "proto/wire_format.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <tuple>

namespace distgpt {

namespace {

constexpr double kMessageHeaderBytes = 64;  // a message's frame around its floats (codec.h), near enough

// The time to move `bytes` over the link between two nodes, its transport's
// own cost included; and how long the sender's wire is busy with them.
struct Move {
    double ms = 0, on_wire_ms = 0;
};

bool by_shared_memory(const Topology& t, int from, int to) {
    return t.transport == TransportChoice::Auto && t.nodes[from].started_here() && t.nodes[to].started_here();
}

// A message between stages (or a leader's relay) waits for its receiver to
// take it, as runs here have taught (NodeRates); a partial sum is taken by
// a rank spinning for it, as `bench hop` measures, unless its machine's
// cores are all taken (partial_sum_wait): then it is woken like the first.
enum class Receiver { Serving, Spinning };

double transport_ms(const Topology& t, const std::vector<NodeRates>& rates, int from, int to, Receiver receiver = Receiver::Serving) {
    const bool shm = by_shared_memory(t, from, to);
    if (receiver == Receiver::Spinning) return shm ? kSharedMemoryHopMs : kZeroMqHopMs;
    return shm ? rates[to].shared_memory_hop_ms : rates[to].zeromq_hop_ms;
}

Move move(const Topology& t, const std::vector<NodeRates>& rates, int from, int to, double bytes, Receiver receiver = Receiver::Serving) {
    const LinkModel link = t.link(from, to);
    Move m;
    m.on_wire_ms = link.bandwidth_mbps > 0 ? bytes * 8 / (link.bandwidth_mbps * 1e3) : 0;
    m.ms = transport_ms(t, rates, from, to, receiver) + link.latency_ms + m.on_wire_ms;
    return m;
}

// One all-reduce among a stage's nodes, each sending its `bytes` of partial
// sums to every other (tensor_parallel_group: all-to-all), the slowest pair
// deciding; a node's uplink carries its k-1 messages one after another.
double all_reduce_ms(const Topology& t, const std::vector<NodeRates>& rates, const std::vector<int>& group, double bytes,
                     PartialSumWait local_wait) {
    double worst = 0;
    const double others = static_cast<double>(group.size()) - 1;
    for (int a : group)
        for (int b : group) {
            if (a == b) continue;
            const bool woken = local_wait == PartialSumWait::Block && t.nodes[b].started_here();
            const Receiver receiver = woken ? Receiver::Serving : Receiver::Spinning;
            Move one = move(t, rates, a, b, bytes, receiver);
            // What runs here taught a partial sum takes, in place of the transport's hop.
            const auto& learned = t.link(a, b).emulated() ? rates[b].emulated_partial_sum_ms : rates[b].partial_sum_ms;
            if (learned) one.ms += *learned - transport_ms(t, rates, a, b, receiver);
            worst = std::max(worst, one.ms + (others - 1) * one.on_wire_ms);
        }
    return worst;
}

struct StageCost {
    double step_ms = 0;   // the stage's decode step, slowest rank
    double relay_ms = 0;  // the leader handing its input to the other ranks
    std::vector<double> node_compute_ms, node_all_reduce_ms;
};

// A stage's step of `rows` rows for `sequences` sequences: each node's
// compute (the last stage's sampling of each sequence's token included) and
// all-reduces, and the leader's relay to its followers.
StageCost stage_cost(const Topology& t, const StagePlan& stage, const ModelConfig& c, const std::vector<NodeRates>& rates, int rows,
                     int sequences, double input_bytes, PartialSumWait local_wait) {
    StageCost s;
    const int layers = stage.layer_end - stage.layer_begin;
    const int k = static_cast<int>(stage.nodes.size());
    double reduce = 0;
    if (k > 1) {
        const double activations = rows * (wire_bytes(t.wire, c.n_embd) + 0.0) + kMessageHeaderBytes;
        reduce = 2 * layers * all_reduce_ms(t, rates, stage.nodes, activations, local_wait);
        // A group on one machine splits the head by vocabulary, its logits exact in the all-reduce (shard_loader).
        if (stage.head && t.all_started_here(stage.nodes))
            reduce += all_reduce_ms(t, rates, stage.nodes, sequences * 4.0 * c.vocab_size / k + kMessageHeaderBytes, local_wait);
        for (int n : stage.nodes)
            if (n != stage.nodes.front()) s.relay_ms = std::max(s.relay_ms, move(t, rates, stage.nodes.front(), n, input_bytes).ms);
    }
    for (int n : stage.nodes) {
        const double sample = stage.head ? sequences * rates[n].sample_ms : 0;  // every rank draws (samplers in step)
        const double compute = compute_ms(rates[n], layers, stage.head, rows, sequences) + sample + rates[n].step_ms;
        s.node_compute_ms.push_back(compute);
        s.node_all_reduce_ms.push_back(reduce);
        s.step_ms = std::max(s.step_ms, compute + reduce);
    }
    return s;
}

std::string ms_text(double ms) {
    char b[32];
    std::snprintf(b, sizeof b, ms < 10 ? "%.2f ms" : "%.0f ms", ms);
    return b;
}

}  // namespace

namespace {

// The mean of the middle 90 %: what a step or a hop costs as the run goes,
// its rare outliers (a descheduled worker, a page fault) left out.
double typical(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t cut = v.size() / 20;
    double sum = 0;
    for (std::size_t i = cut; i < v.size() - cut; ++i) sum += v[i];
    return sum / static_cast<double>(v.size() - 2 * cut);
}

}  // namespace

constexpr int kWarmSteps = 3;

namespace {

// Who computed when among the nodes started on this machine, as a run
// played out (its all-reduce waits left out: they need no core), and so
// what share of the cores each computing thread had: all of one while
// their threads were no more than the cores, else a fair share.
class CoreSharing {
public:
    CoreSharing(const RunTrace& trace, const Topology& t, int cores) : cores_(std::max(1, cores)), nodes_(t.nodes.size()) {
        struct Event {
            double at;
            int node, change;
        };
        std::vector<Event> events;
        for (const auto& s : trace.spans) {
            if (s.node < 0 || s.node >= static_cast<int>(nodes_) || !t.nodes[s.node].started_here()) continue;
            const int change = s.kind == SpanKind::Compute || s.kind == SpanKind::Sample ? 1 : s.kind == SpanKind::AllReduce ? -1 : 0;
            if (change == 0) continue;
            events.push_back({s.t0_us, s.node, change});
            events.push_back({s.t1_us, s.node, -change});
        }
        std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
        std::vector<int> depth(nodes_, 0);
        for (std::size_t i = 0; i < events.size();) {
            const double at = events[i].at;
            for (; i < events.size() && events[i].at == at; ++i) depth[events[i].node] += events[i].change;
            int threads = 0;
            starts_.push_back(at);
            for (std::size_t n = 0; n < nodes_; ++n) {
                computing_.push_back(depth[n] > 0);
                if (depth[n] > 0) threads += t.nodes[n].threads;
            }
            threads_.push_back(threads);
        }
    }

    // A node's computing time within [t0, t1]: uncrowded, and crowded as the
    // cores' fair share of it (what a time-slicing free machine would have given).
    struct Share {
        double alone_ms = 0, fair_ms = 0;
    };
    Share of(int node, double t0_us, double t1_us) const {
        Share share;
        auto i = static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), t0_us) - starts_.begin());
        if (i > 0) --i;
        for (; i < starts_.size() && starts_[i] < t1_us; ++i) {
            const double end = i + 1 < starts_.size() ? std::min(starts_[i + 1], t1_us) : t1_us;
            const double ms = (end - std::max(starts_[i], t0_us)) / 1e3;
            if (ms <= 0 || !computing_[i * nodes_ + static_cast<std::size_t>(node)]) continue;
            if (threads_[i] <= cores_)
                share.alone_ms += ms;
            else
                share.fair_ms += ms * cores_ / threads_[i];
        }
        return share;
    }

private:
    int cores_;
    std::size_t nodes_;
    std::vector<double> starts_;   // each stretch's start; it lasts until the next
    std::vector<char> computing_;  // per stretch, per node
    std::vector<int> threads_;     // per stretch: the computing nodes' threads
};

}  // namespace

LearnedCosts learn_costs(const RunTrace& trace, const Topology& t, const Plan& plan, const std::vector<NodeRates>& rates, int local_cores) {
    LearnedCosts out;
    const int n = static_cast<int>(t.nodes.size());
    out.step_ms.resize(t.nodes.size());
    if (static_cast<int>(trace.nodes.size()) != n || static_cast<int>(rates.size()) != n) return out;
    // Each node's decode steps (one row a sequence) against its rates.
    // A step's all-reduces sit inside its compute span: the cost model
    // counts them from the links, so they come off first. On this machine
    // only steps its cores were not crowded for teach a step's cost; the
    // crowded ones teach what time-slicing costs.
    std::map<std::tuple<int, int, int>, double> reducing_us;  // (node, group, step)
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::AllReduce) reducing_us[{s.node, s.group, s.step}] += s.t1_us - s.t0_us;
    const CoreSharing sharing(trace, t, local_cores);
    struct Crowded {
        int node;
        double predicted_ms;
        CoreSharing::Share share;
    };
    std::vector<Crowded> crowded;
    std::vector<std::vector<double>> over(t.nodes.size());
    for (const auto& s : trace.spans) {
        // Decode steps past the first two (which touch the caches and the weights' pages for the first time).
        if (s.kind != SpanKind::Compute || s.step < kWarmSteps || s.node < 0 || s.node >= n || s.sequences.empty()) continue;
        if (s.node >= static_cast<int>(plan.stage_of_node.size()) || plan.stage_of_node[s.node] < 0) continue;
        const StagePlan& stage = plan.stages[plan.stage_of_node[s.node]];
        const int rows = static_cast<int>(s.sequences.size());
        const double predicted = compute_ms(rates[s.node], s.layer_end - s.layer_begin, stage.head, rows, rows);
        if (t.nodes[s.node].started_here()) {
            const CoreSharing::Share share = sharing.of(s.node, s.t0_us, s.t1_us);
            if (share.fair_ms > 0)
                crowded.push_back({s.node, predicted, share});
            else
                over[s.node].push_back(share.alone_ms - predicted);
            continue;
        }
        const auto reduced = reducing_us.find({s.node, s.group, s.step});
        const double own_us = s.t1_us - s.t0_us - (reduced == reducing_us.end() ? 0.0 : reduced->second);
        over[s.node].push_back(own_us / 1e3 - predicted);
    }
    for (int i = 0; i < n; ++i)
        if (!over[i].empty()) out.step_ms[i] = std::max(0.0, typical(over[i]));
    // Crowded, a step's work beyond its uncrowded stretches against the fair share it had for the rest.
    constexpr std::size_t kEnoughCrowdedSteps = 10;
    if (crowded.size() >= kEnoughCrowdedSteps) {
        double work = 0, fair = 0;
        for (const Crowded& c : crowded) {
            const double step = out.step_ms[c.node].value_or(rates[c.node].step_ms);
            work += std::max(0.0, c.predicted_ms + step - c.share.alone_ms);
            fair += c.share.fair_ms;
        }
        if (fair > 0) out.crowded_efficiency = std::clamp(work / fair, 0.1, 1.0);
    }
    // Each hop not emulated to a receiver that waited for it: from its
    // send's start to its receive's start. (A receiver still busy with
    // another micro-batch took it later: that wait is the run's queueing,
    // which predict_run plays out itself.)
    std::map<std::tuple<int, int, int>, double> arrivals;
    std::vector<std::vector<std::pair<double, double>>> work(t.nodes.size());  // per node: (start, end) of its work
    for (const auto& s : trace.spans) {
        if (s.kind == SpanKind::Receive) arrivals[{s.node, s.group, s.step}] = s.t0_us;
        if ((s.kind == SpanKind::Compute || s.kind == SpanKind::Sample || s.kind == SpanKind::Send) && s.node >= 0 && s.node < n)
            work[s.node].push_back({s.t0_us, s.t1_us});
    }
    for (auto& spans : work) std::sort(spans.begin(), spans.end());
    // Whether `node` worked at some moment within (from, to).
    const auto worked_between = [&](int node, double from, double to) {
        const auto& spans = work[node];
        auto it = std::lower_bound(spans.begin(), spans.end(), std::pair{to, to});
        while (it != spans.begin()) {
            --it;
            if (it->second > from) return true;
            if (it->first < from - 1e6) break;  // spans a second earlier: none reach past `from`
        }
        return false;
    };
    std::vector<double> shm, zmq;
    for (const auto& s : trace.spans) {
        if (s.kind != SpanKind::Send || s.peer < 0 || s.peer >= n || s.emulated || t.link(s.node, s.peer).emulated()) continue;
        const auto at = arrivals.find({s.peer, s.group, s.step});
        if (at == arrivals.end() || at->second < s.t0_us || worked_between(s.peer, s.t0_us, at->second)) continue;
        (s.transport == Transport::SharedMemory ? shm : zmq).push_back((at->second - s.t0_us) / 1e3);
    }
    if (!shm.empty()) out.shared_memory_hop_ms = typical(shm);
    if (!zmq.empty()) out.zeromq_hop_ms = typical(zmq);
    // Each all-reduce of a decode step among ranks all here, less its link's
    // own delay. The rank that came to it last waited for the partial sums
    // alone; the others waited for that rank too, which is its compute
    // (slowed when the cores were crowded, as learned above): the shortest
    // of the ranks' spans for one all-reduce is the one that teaches.
    out.partial_sum_wait = plan_partial_sum_wait(t, plan, local_cores);
    std::map<std::tuple<int, int, int>, std::vector<std::vector<const TraceSpan*>>> reduces;  // (stage, group, step) -> per rank, in order
    for (const auto& s : trace.spans) {
        if (s.kind != SpanKind::AllReduce || s.step < kWarmSteps || s.node < 0 || s.node >= n) continue;
        if (s.node >= static_cast<int>(plan.stage_of_node.size()) || plan.stage_of_node[s.node] < 0) continue;
        const StagePlan& stage = plan.stages[plan.stage_of_node[s.node]];
        if (!t.all_started_here(stage.nodes)) continue;
        const auto rank = static_cast<std::size_t>(std::find(stage.nodes.begin(), stage.nodes.end(), s.node) - stage.nodes.begin());
        auto& ranks = reduces[{plan.stage_of_node[s.node], s.group, s.step}];
        ranks.resize(stage.nodes.size());
        ranks[rank].push_back(&s);
    }
    std::vector<double> partial, emulated_partial;
    for (auto& [at, ranks] : reduces) {
        std::size_t count = SIZE_MAX;
        for (auto& spans : ranks) {
            std::sort(spans.begin(), spans.end(), [](const TraceSpan* a, const TraceSpan* b) { return a->t0_us < b->t0_us; });
            count = std::min(count, spans.size());
        }
        for (std::size_t k = 0; k < count; ++k) {
            double shortest = INFINITY;
            bool emulated = false;
            for (const auto& spans : ranks) {
                const TraceSpan& s = *spans[k];
                shortest = std::min(shortest, (s.t1_us - s.t0_us - (s.emulated ? s.emulated->total_us() : 0.0)) / 1e3);
                emulated = emulated || s.emulated.has_value();
            }
            (emulated ? emulated_partial : partial).push_back(std::max(0.0, shortest));
        }
    }
    if (!partial.empty()) out.partial_sum_ms = typical(partial);
    if (!emulated_partial.empty()) out.emulated_partial_sum_ms = typical(emulated_partial);
    return out;
}

PartialSumWait plan_partial_sum_wait(const Topology& t, const Plan& plan, int local_cores) {
    int threads_here = 0;  // the plan's worker threads on this machine
    for (const StagePlan& stage : plan.stages)
        for (int n : stage.nodes)
            if (t.nodes[n].started_here()) threads_here += t.nodes[n].threads;
    return partial_sum_wait(threads_here, local_cores);
}

double compute_ms(const NodeRates& r, int layers, bool head, int rows, int head_rows) {
    return layers * (r.layer_ms + std::max(0, rows - 1) * r.layer_row_ms) +
           (head ? r.head_ms + std::max(0, head_rows - 1) * r.head_row_ms : 0);
}

namespace {

// One stage's work on one micro-batch: its nodes computing side by side
// (their threads sharing the machine's cores when they are local), then
// the waits that need no core: a relay to its followers, its all-reduces.
struct StageJob {
    int group = 0;
    double cpu_ms = 0, wait_ms = 0;
};

struct Arrival {
    double at_ms = 0;
    int stage = 0;
    StageJob job;
};

// The run played out, event by event (see predict_run).
class RunPlay {
public:
    RunPlay(const Topology& t, const Plan& plan, const std::vector<StageCost>& decode, const std::vector<StageCost>& prefill,
            const RunShape& shape, int batch, int local_cores, double crowded_efficiency, std::vector<Move> hop_decode,
            std::vector<Move> hop_prefill)
        : decode_(decode),
          prefill_(prefill),
          shape_(shape),
          batch_(batch),
          cores_(local_cores),
          crowded_efficiency_(crowded_efficiency),
          hop_decode_(std::move(hop_decode)),
          hop_prefill_(std::move(hop_prefill)) {
        const int S = static_cast<int>(plan.stages.size());
        queue_.resize(S);
        busy_ms_.assign(S, 0);
        wire_free_.assign(S, 0);
        wire_busy_ms_.assign(S, 0);
        for (int s = 0; s < S; ++s) {
            threads_.push_back(0);
            local_.push_back(true);
            for (int n : plan.stages[s].nodes) {
                threads_.back() += t.nodes[n].threads;
                local_.back() = local_.back() && t.nodes[n].started_here();
            }
        }
    }

    void play() {
        const int slots = std::min(shape_.in_flight, shape_.sequences);
        for (int started = 0; started < slots; started += batch_) start_group(std::min(batch_, slots - started), 0);
        while (true) {
            // Which stages compute now, and how fast: local threads beyond the cores share them.
            int active_threads = 0;
            for (std::size_t s = 0; s < queue_.size(); ++s)
                if (!queue_[s].empty() && queue_[s].front().cpu_ms > 0 && local_[s]) active_threads += threads_[s];
            // Crowded, each thread gets its fair share of the cores, less what time-slicing wastes.
            const bool crowded = active_threads > cores_;
            const double fair = crowded ? double(cores_) / active_threads : 1.0;
            const double share = crowded ? crowded_efficiency_ * fair : 1.0;
            double dt = INFINITY;
            for (std::size_t s = 0; s < queue_.size(); ++s) {
                if (queue_[s].empty()) continue;
                const StageJob& j = queue_[s].front();
                dt = std::min(dt, j.cpu_ms > 0 ? j.cpu_ms / (local_[s] ? share : 1.0) : j.wait_ms);
            }
            for (const auto& a : arrivals_) dt = std::min(dt, a.at_ms - now_);
            if (dt == INFINITY) break;
            dt = std::max(0.0, dt);
            now_ += dt;
            for (std::size_t s = 0; s < queue_.size(); ++s) {
                if (queue_[s].empty()) continue;
                StageJob& j = queue_[s].front();
                busy_ms_[s] += dt;
                if (j.cpu_ms > 0 && local_[s]) core_ms_ += dt * fair * threads_[s];
                if (j.cpu_ms > 0)
                    j.cpu_ms = std::max(0.0, j.cpu_ms - dt * (local_[s] ? share : 1.0));
                else
                    j.wait_ms = std::max(0.0, j.wait_ms - dt);
                if (j.cpu_ms <= 1e-9 && j.wait_ms <= 1e-9) {
                    const StageJob done = j;
                    queue_[s].erase(queue_[s].begin());
                    finished(static_cast<int>(s), done);
                }
            }
            for (std::size_t i = 0; i < arrivals_.size();) {
                if (arrivals_[i].at_ms <= now_ + 1e-9) {
                    queue_[arrivals_[i].stage].push_back(arrivals_[i].job);
                    arrivals_.erase(arrivals_.begin() + static_cast<std::ptrdiff_t>(i));
                } else {
                    ++i;
                }
            }
        }
    }

    double wall_ms() const { return now_; }
    double core_ms() const { return core_ms_; }  // the local cores' time spent computing (not waiting on peers)
    double busy_ms(int stage) const { return busy_ms_[stage]; }
    double wire_busy_ms(int hop) const { return wire_busy_ms_[hop]; }
    double first_token_mean_ms() const { return first_token_sum_ / std::max(1, sequences_started_); }
    double token_gap_mean_ms() const { return gaps_ ? gap_sum_ / gaps_ : 0; }
    int tokens() const { return tokens_; }

private:
    struct Group {
        int sequences = 0, tokens = 0;  // tokens each of its sequences has
        double last_token_ms = 0;
    };

    void start_group(int sequences, double at) {
        groups_.push_back({sequences, 0, 0});
        sequences_started_ += sequences;
        const StageCost& c = prefill_[0];
        arrivals_.push_back({at, 0, {static_cast<int>(groups_.size()) - 1, max_compute(c), c.relay_ms + c.node_all_reduce_ms.front()}});
    }

    static double max_compute(const StageCost& c) { return *std::max_element(c.node_compute_ms.begin(), c.node_compute_ms.end()); }

    // A stage done with a micro-batch: on to the next stage, or its tokens made.
    void finished(int s, const StageJob& j) {
        Group& g = groups_[j.group];
        const bool prefill = g.tokens == 0;
        const int S = static_cast<int>(queue_.size());
        if (s < S - 1) {
            send(s, s + 1, j.group, prefill);
            return;
        }
        // The last stage sampled a token for each of the group's sequences.
        ++g.tokens;
        tokens_ += g.sequences;
        if (prefill)
            first_token_sum_ += now_ * g.sequences;
        else {
            gap_sum_ += now_ - g.last_token_ms;
            ++gaps_;
        }
        g.last_token_ms = now_;
        if (g.tokens < shape_.new_tokens) {
            send(S - 1, 0, j.group, false);
            return;
        }
        // Its slots free: the sequences still waiting start.
        const int waiting = shape_.sequences - sequences_started_;
        if (waiting > 0) start_group(std::min(waiting, g.sequences), now_);
    }

    // A micro-batch's message from stage `from` to `to`: it waits for the wire, takes its bytes' time, then the latency.
    void send(int from, int to, int group, bool prefill) {
        const int hop = from;  // hop s leaves stage s (the last: back to stage 0)
        const Move m = prefill && to != 0 ? hop_prefill_[hop] : hop_decode_[hop];
        const double leaves = std::max(now_, wire_free_[hop]);
        wire_free_[hop] = leaves + m.on_wire_ms;
        wire_busy_ms_[hop] += m.on_wire_ms;
        const bool next_is_prefill = prefill && to != 0;
        const StageCost& c = next_is_prefill ? prefill_[to] : decode_[to];
        arrivals_.push_back({leaves + m.ms, to, {group, max_compute(c), c.relay_ms + c.node_all_reduce_ms.front()}});
    }

    const std::vector<StageCost>&decode_, &prefill_;
    RunShape shape_;
    int batch_, cores_;
    double crowded_efficiency_;
    std::vector<Move> hop_decode_, hop_prefill_;
    std::vector<std::vector<StageJob>> queue_;
    std::vector<Arrival> arrivals_;
    std::vector<Group> groups_;
    std::vector<int> threads_;
    std::vector<bool> local_;
    std::vector<double> busy_ms_, wire_free_, wire_busy_ms_;
    double now_ = 0, first_token_sum_ = 0, gap_sum_ = 0, core_ms_ = 0;
    int gaps_ = 0, tokens_ = 0, sequences_started_ = 0;
};

}  // namespace

Prediction predict_run(const Topology& t, const Plan& plan, const ModelConfig& c, const std::vector<NodeRates>& rates,
                       const RunShape& shape, int local_cores) {
    Prediction p;
    const int S = static_cast<int>(plan.stages.size());
    const int batch = std::max(1, std::min({shape.micro_batch, shape.in_flight, shape.sequences}));
    const int prefill_rows = batch * std::max(1, shape.prompt_tokens);
    const double row_bytes = wire_bytes(t.wire, c.n_embd);
    const double activation_bytes = batch * row_bytes + kMessageHeaderBytes;
    const double token_bytes = batch * 4.0 + kMessageHeaderBytes;
    const int first_node = plan.stages.front().nodes.front();
    double crowded_efficiency = 0;
    int nodes_here = 0;
    for (const StagePlan& stage : plan.stages)
        for (int n : stage.nodes)
            if (t.nodes[n].started_here()) {
                crowded_efficiency += rates[n].crowded_efficiency;
                ++nodes_here;
            }
    crowded_efficiency = nodes_here ? std::clamp(crowded_efficiency / nodes_here, 0.1, 1.0) : 1.0;  // the mean of its shards' measures
    const PartialSumWait local_wait = plan_partial_sum_wait(t, plan, local_cores);

    std::vector<StageCost> decode, prefill;
    std::vector<Move> hop_decode, hop_prefill;
    for (int s = 0; s < S; ++s) {
        decode.push_back(stage_cost(t, plan.stages[s], c, rates, batch, batch, s == 0 ? token_bytes : activation_bytes, local_wait));
        prefill.push_back(stage_cost(t, plan.stages[s], c, rates, prefill_rows, batch,
                                     s == 0 ? prefill_rows * 4.0 + kMessageHeaderBytes : prefill_rows * row_bytes + kMessageHeaderBytes,
                                     local_wait));
        const bool back = s == S - 1;
        const int from = plan.stages[s].nodes.front(), to = back ? first_node : plan.stages[s + 1].nodes.front();
        hop_decode.push_back(move(t, rates, from, to, back ? token_bytes : activation_bytes));
        hop_prefill.push_back(move(t, rates, from, to, back ? token_bytes : prefill_rows * row_bytes + kMessageHeaderBytes));
        p.links.push_back(
            {from, to, (back ? token_bytes : activation_bytes) / batch, (hop_decode.back().ms - transport_ms(t, rates, from, to)) / batch});
    }

    RunPlay play(t, plan, decode, prefill, shape, batch, local_cores, crowded_efficiency, hop_decode, hop_prefill);
    play.play();
    const double wall_ms = std::max(1e-9, play.wall_ms());
    p.wall_seconds = wall_ms / 1e3;
    p.tokens_per_second = play.tokens() / p.wall_seconds;
    p.first_token_ms = play.first_token_mean_ms();
    p.token_latency_ms = play.token_gap_mean_ms();

    p.nodes.resize(t.nodes.size());
    double busy_sum = 0, busiest = 0;
    int busiest_stage = 0, local_threads = 0;
    for (int s = 0; s < S; ++s) {
        const double busy = play.busy_ms(s) / wall_ms;
        if (busy > busiest) {
            busiest = busy;
            busiest_stage = s;
        }
        for (std::size_t r = 0; r < plan.stages[s].nodes.size(); ++r) {
            const int n = plan.stages[s].nodes[r];
            auto& node = p.nodes[n];
            node.compute_ms = decode[s].node_compute_ms[r];
            node.all_reduce_ms = decode[s].node_all_reduce_ms[r] + decode[s].relay_ms;
            node.step_ms = node.compute_ms + node.all_reduce_ms;
            node.busy_percent = 100 * busy;
            busy_sum += node.busy_percent;
            if (t.nodes[n].started_here()) local_threads += t.nodes[n].threads;
        }
    }
    p.bubble_fraction = 1 - busy_sum / 100 / static_cast<double>(t.nodes.size());
    p.short_steps =
        std::all_of(p.nodes.begin(), p.nodes.end(), [](const Prediction::Node& n) { return n.step_ms < Prediction::kShortStepMs; });

    // What bounds it: the busiest of a stage, a link's wire and the cores; else the round trip.
    int busiest_wire = 0;
    for (int s = 0; s < S; ++s)
        if (play.wire_busy_ms(s) > play.wire_busy_ms(busiest_wire)) busiest_wire = s;
    const double wire = play.wire_busy_ms(busiest_wire) / wall_ms;
    const double cores = local_threads > local_cores ? play.core_ms() / wall_ms / local_cores : 0;
    if (wire >= 0.85 && wire >= busiest)
        p.bottleneck = "the link " + t.nodes[p.links[busiest_wire].from].name + " → " + t.nodes[p.links[busiest_wire].to].name + ": " +
                       ms_text(hop_decode[busiest_wire].on_wire_ms) + " on the wire a step, busy " + std::to_string(int(100 * wire + 0.5)) +
                       "% of the time";
    else if (cores >= 0.85)
        p.bottleneck =
            "this machine's " + std::to_string(local_cores) + " cores, shared by " + std::to_string(local_threads) + " worker threads";
    else if (busiest >= 0.85)
        p.bottleneck = (S == 1 && t.nodes.size() == 1 ? "the node's compute: "
                                                      : "stage " + std::to_string(busiest_stage) + " (" +
                                                            t.nodes[plan.stages[busiest_stage].nodes.front()].name + "): ") +
                       ms_text(decode[busiest_stage].step_ms) + " a step" +
                       (decode[busiest_stage].node_all_reduce_ms.front() > 0
                            ? ", " + ms_text(decode[busiest_stage].node_all_reduce_ms.front()) + " of it in all-reduces"
                            : "");
    else
        p.bottleneck = "the round trip: " + std::to_string(std::min(shape.in_flight, shape.sequences)) +
                       " sequence(s) in flight leave stages idle (more in flight, or fewer stages, would fill them)";
    return p;
}

}  // namespace distgpt
