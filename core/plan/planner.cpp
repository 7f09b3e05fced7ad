#include "plan/planner.h"

#include "util/error.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace distgpt {

namespace {

constexpr int64_t kRuntimeBytes = 160ll << 20;  // libtorch, sockets and buffers: RSS of an idle worker, measured (158 MB)

std::string mib(int64_t b) { return std::to_string((b + (1 << 19)) >> 20) + " MiB"; }

// Contiguous ranges over the layers minimising the largest stage's time:
// `cost(s, begin, end)` is stage s's time for layers [begin, end), or
// infinity when they do not fit its nodes' memory.
std::vector<std::pair<int, int>> balance(int layers, int stages, const std::function<double(int, int, int)>& cost) {
    // best[s][l]: the smallest max cost of putting layers [0, l) on stages [0, s)
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<std::vector<double>> best(stages + 1, std::vector<double>(layers + 1, inf));
    std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(layers + 1, -1));
    best[0][0] = 0;
    for (int s = 1; s <= stages; ++s)
        for (int l = s; l <= layers - (stages - s); ++l)
            for (int k = s - 1; k < l; ++k) {
                if (best[s - 1][k] == inf) continue;
                const double worst = std::max(best[s - 1][k], cost(s - 1, k, l));
                if (worst < best[s][l]) {
                    best[s][l] = worst;
                    cut[s][l] = k;
                }
            }
    if (best[stages][layers] == inf) return {};
    std::vector<std::pair<int, int>> ranges(stages);
    for (int s = stages, l = layers; s > 0; --s) {
        ranges[s - 1] = {cut[s][l], l};
        l = cut[s][l];
    }
    return ranges;
}

}  // namespace

int sequence_slots(int prompts, int in_flight, int stages) { return std::max(1, std::min(prompts, in_flight > 0 ? in_flight : stages)); }

NodeMemory shard_memory(const ModelConfig& c, const ShardSpec& shard, int slots, int context, WeightFormat format) {
    const int64_t layers = shard.layer_end - shard.layer_begin, k = std::max(1, shard.tp_size);
    NodeMemory m;
    const int64_t held = std::max(1, shard.tp_ranks);
    const int64_t tied_table = c.tied_head && shard.head && !shard.embedding ? int64_t(c.vocab_size) * c.n_embd : 0;
    const int64_t params = layers * c.params_per_layer() / k * held + (shard.embedding ? c.embedding_params() : 0) +
                           (shard.head ? c.head_params() + tied_table : 0);
    m.weights = bytes_of_weights(params, format);
    m.kv_cache = 2LL * layers * slots * context * c.kv_width() / k * held * 4;
    m.runtime = kRuntimeBytes;
    return m;
}

bool StagePlan::embedding() const { return layer_begin == 0; }

Plan make_plan(const Topology& t, const ModelConfig& c, int slots, int context, int ranks_per_node, WeightFormat format) {
    Plan plan = plan_stages(t, c, slots, context, ranks_per_node, format);
    if (const std::string why = memory_shortfalls(plan, t); !why.empty()) throw Error(why);
    return plan;
}

std::string memory_shortfalls(const Plan& plan, const Topology& t) {
    std::string shortfalls;
    for (std::size_t node = 0; node < plan.memory.size(); ++node) {
        const NodeMemory& m = plan.memory[node];
        const int64_t limit = t.nodes[node].memory_limit;
        if (m.fits(limit)) continue;
        shortfalls += "\n  node '" + t.nodes[node].name + "' needs " + mib(m.total()) + " (weights " + mib(m.weights) + ", KV cache " +
                      mib(m.kv_cache) + ", runtime " + mib(m.runtime) + ") but its limit is " + mib(limit) + ": " + mib(m.total() - limit) +
                      " short";
    }
    if (shortfalls.empty()) return {};
    return "the plan does not fit:" + shortfalls + "\n  add nodes, raise their limits, or use fewer sequences or a shorter context";
}

Plan plan_stages(const Topology& t, const ModelConfig& c, int slots, int context, int ranks_per_node, WeightFormat format) {
    if (t.strategy == Strategy::Auto)
        throw Error(
            "strategy auto is chosen before planning (distgpt-cli plan and run choose it, for their prompts); choose pipeline, tensor or "
            "hybrid here");
    const int k = t.ranks_per_stage(), stages = t.stage_count();
    if (k < 1 || stages < 1 || ranks_per_node < 1) throw Error("the topology has no stage to run");
    const int tp = k * ranks_per_node;
    if (t.nodes.size() % k != 0)
        throw Error(std::to_string(k) + " tensor-parallel ranks per stage need a node count that " + std::to_string(k) +
                    " divides, but the topology has " + std::to_string(t.nodes.size()) +
                    " nodes: add or remove a node, or choose another strategy");
    if (const std::string why = tensor_parallel_refusal(c, tp); !why.empty()) throw Error(why);
    if (stages > c.n_layer)
        throw Error(std::to_string(stages) + " pipeline stages but the model has only " + std::to_string(c.n_layer) +
                    " layers: use at most " + std::to_string(c.n_layer) + " stages");
    std::vector<std::pair<int, int>> ranges = t.layers;
    if (ranges.empty()) {
        // A stage's time per token: the bytes it reads (the head counts on the
        // last) over its slowest node's speed (tensor-parallel ranks wait for each other).
        auto speed = [&](int s) {
            double slowest = t.nodes[s * k].speed;
            for (int r = 1; r < k; ++r) slowest = std::min(slowest, t.nodes[s * k + r].speed);
            return slowest;
        };
        auto time = [&](int s, int begin, int end) {
            return ((end - begin) * double(c.params_per_layer()) + (s == stages - 1 ? double(c.vocab_size) * c.n_embd : 0)) / speed(s);
        };
        auto fits = [&](int s, int begin, int end) {
            for (int r = 0; r < k; ++r) {
                ShardSpec shard;
                shard.layer_begin = begin;
                shard.layer_end = end;
                shard.embedding = begin == 0;
                shard.head = s == stages - 1;
                shard.tp_rank = r * ranks_per_node;
                shard.tp_ranks = ranks_per_node;
                shard.tp_size = tp;
                if (!shard_memory(c, shard, slots, context, format).fits(t.nodes[s * k + r].memory_limit)) return false;
            }
            return true;
        };
        ranges = balance(c.n_layer, stages, [&](int s, int begin, int end) {
            return fits(s, begin, end) ? time(s, begin, end) : std::numeric_limits<double>::infinity();
        });
        // No split fits every node: the balanced one, its shortfalls named by memory_shortfalls.
        if (ranges.empty()) ranges = balance(c.n_layer, stages, time);
    } else {
        int expect = 0;
        for (auto [b, e] : ranges) {
            if (b != expect || e <= b)
                throw Error("manual layer ranges must cover 0.." + std::to_string(c.n_layer) + " in order, each non-empty; [" +
                            std::to_string(b) + ", " + std::to_string(e) + ") does not follow " + std::to_string(expect));
            expect = e;
        }
        if (expect != c.n_layer)
            throw Error("manual layer ranges end at " + std::to_string(expect) + " but the model has " + std::to_string(c.n_layer) +
                        " layers");
    }
    Plan plan;
    plan.ranks_per_node = ranks_per_node;
    plan.memory.resize(t.nodes.size());
    plan.stage_of_node.assign(t.nodes.size(), 0);
    plan.rank_of_node.assign(t.nodes.size(), 0);
    for (int s = 0; s < stages; ++s) {
        StagePlan sp;
        sp.layer_begin = ranges[s].first;
        sp.layer_end = ranges[s].second;
        sp.head = s == stages - 1;
        sp.tp_size = tp;
        for (int r = 0; r < k; ++r) {
            const int node = s * k + r;
            sp.nodes.push_back(node);
            plan.stage_of_node[node] = s;
            plan.rank_of_node[node] = r * ranks_per_node;
            ShardSpec shard;
            shard.layer_begin = sp.layer_begin;
            shard.layer_end = sp.layer_end;
            shard.embedding = sp.embedding();
            shard.head = sp.head;
            shard.tp_rank = r * ranks_per_node;
            shard.tp_ranks = ranks_per_node;
            shard.tp_size = tp;
            plan.memory[node] = shard_memory(c, shard, slots, context, format);
        }
        plan.stages.push_back(sp);
    }
    return plan;
}

int keep_tensor_parallel_ranks(Topology& rest, int tp_size) {
    const int survivors = static_cast<int>(rest.nodes.size());
    int per_stage = std::max(1, tp_size);
    while (per_stage > 1 && (tp_size % per_stage != 0 || survivors % per_stage != 0)) --per_stage;
    rest.tensor_parallel = per_stage;
    rest.strategy = per_stage == 1 ? Strategy::Pipeline : survivors == per_stage ? Strategy::Tensor : Strategy::Hybrid;
    return std::max(1, tp_size) / per_stage;
}

std::string Plan::describe(const Topology& t) const {
    std::string out;
    for (std::size_t s = 0; s < stages.size(); ++s) {
        out += "stage " + std::to_string(s) + ": layers " + std::to_string(stages[s].layer_begin) + "-" +
               std::to_string(stages[s].layer_end - 1) + (s == 0 ? " + embedding" : "") + (stages[s].head ? " + head" : "") + " on ";
        for (std::size_t r = 0; r < stages[s].nodes.size(); ++r) {
            const int n = stages[s].nodes[r];
            out += (r ? ", " : "") + t.nodes[n].name + " (" + mib(memory[n].total()) + ")";
        }
        if (ranks_per_node > 1 && ranks_per_node == stages[s].tp_size)
            out += ", holding all " + std::to_string(ranks_per_node) + " tensor-parallel ranks";
        else if (ranks_per_node > 1)
            out += ", each holding " + std::to_string(ranks_per_node) + " of the " + std::to_string(stages[s].tp_size) +
                   " tensor-parallel ranks";
        out += "\n";
    }
    return out;
}

}  // namespace distgpt
