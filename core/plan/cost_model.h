#pragma once
#include "plan/planner.h"
#include "plan/partial_sum_wait.h"
#include "plan/topology.h"
#include "trace/run_trace.h"
#include "weights/model_config.h"

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace distgpt {

// How long one node takes for its part of a step, as measured on a machine
// (plan/calibration) and divided by the node's declared speed. A step's
// time grows with its rows (a prefill's prompt, a micro-batch's sequences):
// `*_ms` is one row, `*_row_ms` each further row.
// The cost of moving a message on one machine, without a network: measured
// by `distgpt-cli bench hop` (docs/performance.md): the shared-memory ring
// between workers of one machine, ZeroMQ between machines.
inline constexpr double kSharedMemoryHopMs = 0.015;
inline constexpr double kZeroMqHopMs = 0.15;

struct NodeRates {
    double layer_ms = 0, layer_row_ms = 0;  // one of its layers
    double head_ms = 0, head_row_ms = 0;    // the final norm and the head (with the head only)
    double sample_ms = 0;                   // drawing one token from a row of logits (the last stage)
    // Learned from a run here (learn_costs), until then as `bench hop` and a
    // microbenchmark say: each step's cost beyond its layers (its message's
    // handling, caches refilled between steps), and a message's hop to this
    // node by each transport, without a network.
    double step_ms = 0;
    double shared_memory_hop_ms = kSharedMemoryHopMs, zeromq_hop_ms = kZeroMqHopMs;
    // What a partial sum took to reach this node beyond its link's own
    // delay (an all-reduce's span less the emulated queue, wire and
    // latency): learned from runs here whose ranks waited the same way
    // (plan_partial_sum_wait), over links not emulated and emulated ones
    // apart (there the emulator's thread is woken too); until then the hop
    // of the transport, as a spinning or a woken rank takes it.
    std::optional<double> partial_sum_ms, emulated_partial_sum_ms;
    // The share of a fair core a computing thread gets when more threads
    // compute than the machine has cores (time-slicing evicts caches and
    // hands cores round): learned from crowded runs here (learn_costs),
    // until then measured with one more copy of the layers than the cores
    // hold (measure_node_rates); 1 for a machine not measured so.
    double crowded_efficiency = 1;
};

// A shard's shape, as far as its speed is concerned: what a machine's rates
// are measured (and kept) for.
struct RatesKey {
    int threads = 1;
    int tp_size = 1;          // the shard is one rank of this many
    bool split_head = false;  // a tensor-parallel head split by vocabulary (a group on one machine)
    bool operator<(const RatesKey& o) const {
        return std::tie(threads, tp_size, split_head) < std::tie(o.threads, o.tp_size, o.split_head);
    }
};

// What a run is asked to do.
struct RunShape {
    int sequences = 1;
    int in_flight = 1;    // sequences the stages hold at once
    int micro_batch = 1;  // sequences a stage computes in one step
    int prompt_tokens = 16;
    int new_tokens = 64;
};

// What the cost model expects of a run (docs/performance.md, "Predicting a run").
struct Prediction {
    struct Node {
        double step_ms = 0;        // one decode step: its compute and, tensor-parallel, its all-reduces
        double compute_ms = 0;     // of which its own layers
        double all_reduce_ms = 0;  // of which exchanging partial sums with its peers, and its leader relaying the input
        double busy_percent = 0;   // of the run's wall time, computing (all-reduces inside, as traces count them)
    };
    struct Link {
        int from = 0, to = 0;  // node indices
        double bytes_per_token = 0;
        double ms_per_token = 0;  // on its network: a token's share of the latency and serialization of each step's message
    };
    double tokens_per_second = 0;  // every token over the run's wall time, prefills included, as `run` measures it
    double first_token_ms = 0;     // from the start, mean over the sequences (the later ones wait for a slot)
    double token_latency_ms = 0;   // one sequence's time between two tokens, mean
    double wall_seconds = 0;
    double bubble_fraction = 0;  // of the nodes' time, idle: waiting on another stage, a link or a slot
    std::string bottleneck;      // what bounds tokens/s, in a line
    // Every step is shorter than this: costs the model does not count yet
    // (the worker's handling of each message, caches refilled between steps,
    // time-slicing when there are more workers than cores) weigh as much as
    // the layers, and a run makes fewer tokens/s than predicted.
    static constexpr double kShortStepMs = 1.0;
    bool short_steps = false;
    std::vector<Node> nodes;  // per topology node
    std::vector<Link> links;  // the hops between stages, in order (the last back to stage 0)
};

// What a person is told when every step is short (Prediction::short_steps).
inline constexpr const char* kShortStepsNote =
    "Every step here is under a millisecond: costs the model does not count yet (each message's handling, caches refilled between "
    "steps, time-slicing when there are more workers than cores) weigh as much as the layers, so expect fewer tokens/s than this. "
    "Each run here with the prediction asked (run --predict, or any run in the app) teaches the model more of them.";

// Predicts `shape` on `plan` over `topology`: each node's step from its
// rates, each hop and all-reduce from the link between its nodes (the
// topology's emulated networks, else the transport alone); then the run
// itself, played out: micro-batches of sequences go round the stages, each
// stage computing one at a time in the order they come, each link carrying
// one message at a time; a sequence that finishes frees its slot for the
// next; nodes started on this machine share its `local_cores` (when more
// threads compute than there are cores, each goes that much slower, and
// slower again by the machine's crowded_efficiency; and tensor-parallel
// ranks here are woken for their partial sums rather than spinning for
// them: partial_sum_wait).
// `rates` is per topology node.
Prediction predict_run(const Topology& topology, const Plan& plan, const ModelConfig& config, const std::vector<NodeRates>& rates,
                       const RunShape& shape, int local_cores);

// How the plan's tensor-parallel ranks on this machine wait for partial
// sums: by its worker threads here against `local_cores` (partial_sum_wait).
PartialSumWait plan_partial_sum_wait(const Topology& topology, const Plan& plan, int local_cores);

// A node's step over its layers for `rows` rows, and its head (if it has
// it) for `head_rows`: the head computes only each sequence's last row.
double compute_ms(const NodeRates& rates, int layers, bool head, int rows, int head_rows);

// What a run measured beyond what the rates predict, for the next
// prediction: each node's decode steps over its rates' compute (the mean of
// the middle 90 % of the differences, never below 0; on this machine, only
// steps taken while its `local_cores` were not crowded), a message's hop by
// each transport (from a send's start to its receive, likewise; links not
// emulated, receivers that waited for it), what the crowded steps had of a
// fair share of the cores (their compute the rates predict against the fair
// share they were given, as predict_run shares the cores; at least 10 such
// steps), and what a partial sum takes among ranks here (each all-reduce's
// shortest span among its ranks, less the emulated link's own delay).
// `rates` per topology node, as predicted; the trace's nodes are the topology's.
struct LearnedCosts {
    std::vector<std::optional<double>> step_ms;  // per node: none when it made no decode step
    std::optional<double> shared_memory_hop_ms, zeromq_hop_ms;
    // Its all-reduces among ranks here, as NodeRates::partial_sum_ms says, and how the ranks waited.
    std::optional<double> partial_sum_ms, emulated_partial_sum_ms;
    PartialSumWait partial_sum_wait = PartialSumWait::Spin;
    std::optional<double> crowded_efficiency;  // none when this machine's cores were not crowded
};
LearnedCosts learn_costs(const RunTrace& trace, const Topology& topology, const Plan& plan, const std::vector<NodeRates>& rates,
                         int local_cores);

}  // namespace distgpt
