#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "engine/machine_rates.h"

#include "net/endpoint.h"

#include "model/random_model.h"
#include "model/stage.h"
#include "sample/sampler.h"
#include "util/error.h"
#include "util/json_file.h"

#include <ATen/ops/randn.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

namespace distgpt {

namespace {

using Clock = std::chrono::steady_clock;

double median_of(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

// The median time of `step`, repeated for about `budget_s` (at least 5 times, at most 200).
double median_ms(const std::function<void()>& step, double budget_s) {
    step();  // warm: first touches of the weights and the cache
    std::vector<double> times;
    const auto start = Clock::now();
    while (times.size() < 5 || (times.size() < 200 && std::chrono::duration<double>(Clock::now() - start).count() < budget_s)) {
        const auto t0 = Clock::now();
        step();
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median_of(std::move(times));
}

// Layers enough to read past the caches, as a run's shard does (a small
// model: all of them).
int layers_to_time(const ModelConfig& c, WeightFormat format, int tp_size) {
    constexpr int64_t kPastTheCaches = 192ll << 20;
    const int64_t layer = std::max<int64_t>(1, bytes_of_weights(c.params_per_layer() / tp_size, format));
    return static_cast<int>(std::clamp<int64_t>((kPastTheCaches + layer - 1) / layer, 1, c.n_layer));
}

Stage make_stage(const TensorSource& source, const ModelConfig& c, WeightFormat format, const RatesKey& key, int begin, int end, bool head,
                 int slots, int context) {
    ShardSpec shard;
    shard.layer_begin = begin;
    shard.layer_end = end;
    shard.embedding = false;
    shard.head = head;
    shard.tp_size = key.tp_size;
    Stage stage(load_stage_weights(source, c, shard, format), slots, context, key.threads);
    stage.split_head_by_vocabulary(key.split_head);
    // One rank timed alone: its partial sums are the sum (the all-reduce's
    // waits are the cost model's, from the links); a split head needs one set.
    if (key.tp_size > 1) stage.set_all_reduce([](std::span<const at::Tensor> partials, Stage::PartialSums) { return partials[0]; });
    return stage;
}

// One decode step of `rows` sequences (slots 0..rows-1, each at position `pos`).
std::vector<Segment> decode_rows(int rows, int pos) {
    std::vector<Segment> s;
    for (int i = 0; i < rows; ++i) s.push_back({i, pos, 1});
    return s;
}

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown cpu";
}

std::string host_name() {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    return name;
}

// What was measured: the model's shape, the format, the shard.
std::string shard_key(const ModelConfig& c, WeightFormat format, const RatesKey& k) {
    return c.model_type + " " + std::to_string(c.n_embd) + "x" + std::to_string(c.n_head) + "/" + std::to_string(c.kv_heads()) + "x" +
           std::to_string(c.head_dim()) + " mlp " + std::to_string(c.hidden()) + " vocab " + std::to_string(c.vocab_size) + " | " +
           std::string(weight_format_name(format)) + " | threads " + std::to_string(k.threads) + " tp " + std::to_string(k.tp_size) +
           (k.split_head ? " split head" : "");
}

// This machine's entry; another machine's is kept as "elsewhere <host> | …".
std::string cache_key(const ModelConfig& c, WeightFormat format, const RatesKey& k) {
    return host_name() + " | " + cpu_name() + " | " + shard_key(c, format, k);
}
std::string elsewhere_key(const std::string& machine, const ModelConfig& c, WeightFormat format, const RatesKey& k) {
    return "elsewhere " + machine + " | " + shard_key(c, format, k);
}

nlohmann::json to_json(const NodeRates& r) {
    return {{"layer_ms", r.layer_ms},       {"layer_row_ms", r.layer_row_ms}, {"head_ms", r.head_ms},
            {"head_row_ms", r.head_row_ms}, {"sample_ms", r.sample_ms},       {"crowded_efficiency", r.crowded_efficiency}};
}

NodeRates from_json(const nlohmann::json& j) {
    NodeRates r;
    r.layer_ms = j.at("layer_ms").get<double>();
    r.layer_row_ms = j.at("layer_row_ms").get<double>();
    r.head_ms = j.at("head_ms").get<double>();
    r.head_row_ms = j.at("head_row_ms").get<double>();
    r.sample_ms = j.at("sample_ms").get<double>();
    r.crowded_efficiency = j.at("crowded_efficiency").get<double>();  // absent (an older entry): measured again
    return r;
}

// Time-slicing's cost: copies of a few layers (each with the shard's
// threads) decoding side by side, as many as the cores hold, then one more
// sharing them, in turns; the cores' steps a second crowded against as
// many copies not crowded, the median of a few pairs of turns. Each pair is
// timed within half a second, so a shared machine's drift over minutes
// cancels out (against a rate timed earlier, alone, four calibrations in a
// row measured 0.88 to 1.00). 1 where not one copy fits, where a layer for
// each copy would not fit in the memory allowed (a large model on many
// cores: not measured), or where a copy failed.
double measure_crowded_efficiency(const TensorSource& source, const ModelConfig& c, WeightFormat format, const RatesKey& key, int layers,
                                  int context) {
    constexpr auto kTurn = std::chrono::milliseconds(200);
    constexpr int kPairs = 3;
    constexpr int64_t kAllCopiesBytes = 1ll << 30;             // a 4 GB Pi has room for them beside its own work
    const int fit = local_cores() / std::max(1, key.threads);  // copies the cores hold
    if (fit < 1) return 1;
    const int copies = fit + 1;
    // Each copy past the caches where there is room, at least one layer.
    const int64_t layer_bytes = std::max<int64_t>(1, bytes_of_weights(c.params_per_layer() / key.tp_size, format));
    if (copies * layer_bytes > kAllCopiesBytes) return 1;
    const int each = static_cast<int>(std::clamp<int64_t>(kAllCopiesBytes / 2 / copies / layer_bytes, 1, layers));
    std::vector<Stage> stages;
    stages.reserve(static_cast<std::size_t>(copies));
    for (int i = 0; i < copies; ++i) stages.push_back(make_stage(source, c, format, key, 0, each, false, 1, context));
    const at::Tensor row = at::randn({1, c.n_embd});  // [1, C]
    const auto one = decode_rows(1, 1);
    // The last copy is the one too many: it decodes only while `crowding`,
    // saying whether it does in `extra_running`.
    std::atomic<int> warm{0};
    std::atomic<bool> crowding{false}, extra_running{false}, stop{false}, failed{false};
    std::atomic<int64_t> steps{0};
    std::vector<std::jthread> threads;
    struct StopFirst {  // destroyed before `threads` joins them: however this returns
        std::atomic<bool>& flag;
        ~StopFirst() { flag = true; }
    } stop_first{stop};
    for (int i = 0; i < copies; ++i)
        threads.emplace_back([&, i] {
            const bool extra = i == copies - 1;
            try {
                stages[i].forward(row, one);  // first touches of its weights
                ++warm;
                while (!stop) {
                    if (extra) {
                        extra_running = crowding.load();
                        if (!extra_running) {
                            std::this_thread::sleep_for(std::chrono::milliseconds(1));
                            continue;
                        }
                    }
                    stages[i].forward(row, one);
                    ++steps;
                }
            } catch (const std::exception&) {
                failed = true;
                ++warm;
            }
            if (extra) extra_running = false;
        });
    while (warm < copies) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Steps a second over one turn, once the extra copy runs (or rests) as asked.
    const auto turn = [&](bool crowded) {
        crowding = crowded;
        while (extra_running != crowded && !failed) std::this_thread::sleep_for(std::chrono::microseconds(200));
        const int64_t before = steps;
        const auto t0 = Clock::now();
        std::this_thread::sleep_for(kTurn);
        const int64_t made = steps - before;
        return static_cast<double>(made) / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    std::vector<double> ratios;
    for (int pair = 0; pair < kPairs && !failed; ++pair) {
        const double alone = turn(false);
        const double crowded = turn(true);
        if (alone > 0) ratios.push_back(crowded / alone);
    }
    stop = true;
    threads.clear();  // joined
    if (failed || ratios.empty()) return 1;
    // The cores do the same work crowded or not: their steps a second would be the same, time-slicing free.
    return std::clamp(median_of(ratios), 0.1, 1.0);
}

}  // namespace

NodeRates measure_node_rates(const ModelConfig& c, WeightFormat format, const RatesKey& key) {
    constexpr int kPrefillRows = 16, kBatchRows = 4;
    // Each quantity timed in rounds spread over a second or two, their
    // median kept: on a shared machine one short window can catch a lull or
    // a neighbour's burst (a head timed at 6.4 ms in one window, 9.0 in another).
    constexpr int kRounds = 5;
    constexpr double kRoundBudgetS = 0.06;
    const int context = std::min(c.n_positions, 64);
    const RandomModelSource source(c, 1);

    // Layers: a decode step of one row, and a prefill of several (each further row's cost).
    const int layers = layers_to_time(c, format, key.tp_size);
    Stage layer_stage = make_stage(source, c, format, key, 0, layers, false, kBatchRows, context);
    const at::Tensor prompt = at::randn({kPrefillRows, c.n_embd});  // [P, C]
    const Segment prefill{0, 0, kPrefillRows};
    const at::Tensor row = at::randn({1, c.n_embd});  // [1, C]
    const auto one_at_the_end = decode_rows(1, kPrefillRows);
    // The head, beside one layer (a stage holds at least one): what it adds, for one row and for several sequences.
    Stage head_stage = make_stage(source, c, format, key, c.n_layer - 1, c.n_layer, true, kBatchRows, context);
    const at::Tensor rows = at::randn({kBatchRows, c.n_embd});  // [B, C]
    const auto one = decode_rows(1, 1), several = decode_rows(kBatchRows, 1);
    // Drawing a token from a row of logits (top-k and top-p off: a run's default).
    Sampler sampler({1.0f, 0, 1.0f, 7});
    const at::Tensor logits = at::randn({c.vocab_size});  // [V]
    const std::span<const float> view(logits.data_ptr<float>(), static_cast<std::size_t>(c.vocab_size));

    std::vector<double> prefill_ms, decode_ms, head_one_ms, head_several_ms, sample_ms;
    for (int round = 0; round < kRounds; ++round) {
        prefill_ms.push_back(median_ms([&] { layer_stage.forward(prompt, {&prefill, 1}); }, kRoundBudgetS));
        decode_ms.push_back(median_ms([&] { layer_stage.forward(row, one_at_the_end); }, kRoundBudgetS));
        head_one_ms.push_back(median_ms([&] { head_stage.forward(row, one); }, kRoundBudgetS));
        head_several_ms.push_back(median_ms([&] { head_stage.forward(rows, several); }, kRoundBudgetS));
        sample_ms.push_back(median_ms([&] { sampler.sample(view); }, kRoundBudgetS / 3));
    }
    NodeRates r;
    r.layer_ms = median_of(decode_ms) / layers;
    r.layer_row_ms = std::max(0.0, (median_of(prefill_ms) / layers - r.layer_ms) / (kPrefillRows - 1));
    r.head_ms = std::max(0.0, median_of(head_one_ms) - r.layer_ms);
    r.head_row_ms = std::max(0.0, (median_of(head_several_ms) - median_of(head_one_ms)) / (kBatchRows - 1) - r.layer_row_ms);
    r.sample_ms = median_of(sample_ms);
    r.crowded_efficiency = measure_crowded_efficiency(source, c, format, key, layers, context);
    return r;
}

std::filesystem::path MachineRates::default_cache() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    const std::filesystem::path base = xdg && *xdg ? xdg : home && *home ? std::filesystem::path(home) / ".cache" : "/tmp";
    return base / "distgpt" / "node-rates.json";
}

MachineRates::MachineRates(std::filesystem::path cache, bool recalibrate) : cache_(std::move(cache)), recalibrate_(recalibrate) {}

const nlohmann::json& MachineRates::kept() {
    if (!kept_) {
        kept_ = nlohmann::json::object();
        try {
            if (!cache_.empty() && std::filesystem::exists(cache_)) kept_ = read_json_file(cache_);
        } catch (const std::exception&) {
            // a damaged cache: what it held is measured again, and it is rewritten
        }
        if (!kept_->is_object()) kept_ = nlohmann::json::object();
    }
    return *kept_;
}

void MachineRates::save() {
    if (cache_.empty()) return;  // kept in this object alone
    std::error_code ignored;
    std::filesystem::create_directories(cache_.parent_path(), ignored);
    const std::filesystem::path partial = cache_.string() + ".partial";
    std::ofstream(partial) << kept_->dump(2) << "\n";
    std::filesystem::rename(partial, cache_, ignored);  // whole or not at all: never a half-written cache
}

NodeRates MachineRates::rates(const ModelConfig& c, WeightFormat format, const RatesKey& key) {
    const std::string name = cache_key(c, format, key);
    if (!recalibrate_ && kept().contains(name)) {
        try {
            return from_json(kept().at(name));
        } catch (const nlohmann::json::exception&) {
            // an entry of another shape: measured again below
        }
    }
    const NodeRates r = measure_node_rates(c, format, key);
    ++measured_;
    (*kept_)[name] = to_json(r);
    save();
    return r;
}

void MachineRates::measure_again() {
    kept();
    const std::string mine = host_name() + " | ";
    for (auto it = kept_->begin(); it != kept_->end();) it = it.key().starts_with(mine) ? kept_->erase(it) : std::next(it);
}

std::optional<NodeRates> MachineRates::measured_on(const std::string& machine, const ModelConfig& c, WeightFormat format,
                                                   const RatesKey& key) {
    const std::string name = elsewhere_key(machine, c, format, key);
    if (machine.empty() || !kept().contains(name)) return std::nullopt;
    try {
        return from_json(kept().at(name));
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // an entry of another shape: asked again
    }
}

void MachineRates::remember(const std::string& machine, const ModelConfig& c, WeightFormat format, const RatesKey& key,
                            const NodeRates& r) {
    if (machine.empty()) return;
    kept();
    (*kept_)[elsewhere_key(machine, c, format, key)] = to_json(r);
    save();
}

namespace {
std::string learned_key(const std::string& rates_key) { return "learned | " + rates_key; }
std::string crowding_key(const std::string& rates_key) { return "learned crowding | " + rates_key; }
std::string hop_key(Transport transport) { return "learned hop | " + host_name() + " | " + std::string(transport_name(transport)); }
std::string partial_sum_key(PartialSumWait wait, bool emulated) {
    return "learned partial sum | " + host_name() + " | " + (wait == PartialSumWait::Block ? "blocking" : "spinning") + " | " +
           (emulated ? "emulated link" : "link");
}
}  // namespace

void MachineRates::learn(const LearnedCosts& learned, const Topology& t, const Plan& plan, const ModelConfig& c, WeightFormat format) {
    kept();
    std::map<std::string, std::pair<double, int>> steps;  // key -> (sum, nodes)
    for (const StagePlan& stage : plan.stages)
        for (int n : stage.nodes) {
            if (n >= static_cast<int>(learned.step_ms.size()) || !learned.step_ms[n] || !t.nodes[n].started_here()) continue;
            auto& [sum, count] = steps[learned_key(cache_key(c, format, rates_key(t, stage, n)))];
            sum += *learned.step_ms[n] * t.nodes[n].speed;  // as at speed 1: a slowed node's steps were stretched
            ++count;
        }
    // Each run weighs as much as all before it: one run's luck (another
    // process on a core) fades, a change of machine shows within a few runs.
    auto keep = [&](const std::string& key, const char* field, double value) {
        if (kept_->contains(key) && (*kept_)[key].contains(field)) value = ((*kept_)[key].value(field, value) + value) / 2;
        (*kept_)[key] = {{field, value}};
    };
    for (const auto& [key, total] : steps) keep(key, "step_ms", total.first / total.second);
    // Time-slicing is this machine's: every shard here of the run learns it.
    if (learned.crowded_efficiency) {
        std::set<std::string> shards;
        for (const StagePlan& stage : plan.stages)
            for (int n : stage.nodes)
                if (t.nodes[n].started_here()) shards.insert(crowding_key(cache_key(c, format, rates_key(t, stage, n))));
        for (const auto& key : shards) keep(key, "efficiency", *learned.crowded_efficiency);
    }
    if (learned.shared_memory_hop_ms) keep(hop_key(Transport::SharedMemory), "ms", *learned.shared_memory_hop_ms);
    if (learned.zeromq_hop_ms) keep(hop_key(Transport::ZeroMQ), "ms", *learned.zeromq_hop_ms);
    if (learned.partial_sum_ms) keep(partial_sum_key(learned.partial_sum_wait, false), "ms", *learned.partial_sum_ms);
    if (learned.emulated_partial_sum_ms) keep(partial_sum_key(learned.partial_sum_wait, true), "ms", *learned.emulated_partial_sum_ms);
    save();
}

double MachineRates::learned_step_ms(const ModelConfig& c, WeightFormat format, const RatesKey& key) {
    return std::max(0.0, learned(learned_key(cache_key(c, format, key)), "step_ms").value_or(0));
}

std::optional<double> MachineRates::learned_crowded_efficiency(const ModelConfig& c, WeightFormat format, const RatesKey& key) {
    const auto efficiency = learned(crowding_key(cache_key(c, format, key)), "efficiency");
    return efficiency && *efficiency > 0 ? std::optional(std::min(1.0, *efficiency)) : std::nullopt;
}

std::optional<double> MachineRates::learned_partial_sum_ms(PartialSumWait wait, bool emulated) {
    return learned(partial_sum_key(wait, emulated), "ms");
}

std::optional<double> MachineRates::learned_hop_ms(Transport transport) { return learned(hop_key(transport), "ms"); }

std::optional<double> MachineRates::learned(const std::string& name, const char* field) {
    if (recalibrate_ || !kept().contains(name)) return std::nullopt;
    const double value = kept().at(name).value(field, -1.0);
    return value >= 0 ? std::optional(value) : std::nullopt;
}

std::string MachineRates::machine_of(const NodeSpec& node) {
    if (node.started_here()) return {};
    if (const auto ssh = net::parse_ssh_endpoint(node.endpoint)) return ssh->host;
    return net::host_of(node.endpoint);
}

Topology with_measured_speeds(Topology t, MachineRates& machine, const ModelConfig& c, WeightFormat format) {
    const int tp = std::max(1, t.ranks_per_stage());
    for (auto& node : t.nodes) {
        const auto there = machine.measured_on(MachineRates::machine_of(node), c, format, {node.threads, tp, false});
        if (!there || there->layer_ms <= 0) continue;
        const NodeRates here = machine.rates(c, format, {std::min(node.threads, local_cores()), tp, false});
        node.speed = std::clamp(here.layer_ms / there->layer_ms, 0.01, 100.0);
    }
    return t;
}

RatesKey rates_key(const Topology& t, const StagePlan& stage, int node) {
    RatesKey key;
    key.threads = t.nodes[node].threads;
    key.tp_size = stage.tp_size;
    key.split_head = stage.head && stage.tp_size > 1 && t.all_started_here(stage.nodes);  // its head split by vocabulary (shard_loader)
    return key;
}

int local_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::vector<NodeRates> plan_node_rates(MachineRates& machine, const Topology& t, const Plan& plan, const ModelConfig& c,
                                       WeightFormat format) {
    std::vector<NodeRates> out(t.nodes.size());
    const PartialSumWait wait = plan_partial_sum_wait(t, plan, local_cores());
    for (const StagePlan& stage : plan.stages) {
        for (int n : stage.nodes) {
            RatesKey key = rates_key(t, stage, n);
            // Measured there on first contact: its own numbers, its speed with them.
            if (const auto there = machine.measured_on(MachineRates::machine_of(t.nodes[n]), c, format, key)) {
                out[n] = *there;
                continue;
            }
            // Else a machine elsewhere is taken as this one: at most this one's cores (more threads here would only share them).
            if (!t.nodes[n].started_here()) key.threads = std::min(key.threads, local_cores());
            NodeRates r = machine.rates(c, format, key);
            if (t.nodes[n].started_here()) {  // what runs here taught, for a node here
                r.step_ms = machine.learned_step_ms(c, format, key);
                r.shared_memory_hop_ms = machine.learned_hop_ms(Transport::SharedMemory).value_or(kSharedMemoryHopMs);
                r.zeromq_hop_ms = machine.learned_hop_ms(Transport::ZeroMQ).value_or(kZeroMqHopMs);
                if (const auto crowded = machine.learned_crowded_efficiency(c, format, key)) r.crowded_efficiency = *crowded;
                r.partial_sum_ms = machine.learned_partial_sum_ms(wait, false);
                r.emulated_partial_sum_ms = machine.learned_partial_sum_ms(wait, true);
            }
            const double slower = 1 / t.nodes[n].speed;
            for (double* v : {&r.layer_ms, &r.layer_row_ms, &r.head_ms, &r.head_row_ms, &r.sample_ms, &r.step_ms}) *v *= slower;
            out[n] = r;
        }
    }
    return out;
}

Prediction predict_here(MachineRates& machine, const Topology& t, const RunSetup& setup, const OpenedModel& model, int micro_batch,
                        int new_tokens) {
    return predict_run(t, setup.plan, model.config, plan_node_rates(machine, t, setup.plan, model.config, model.weight_format),
                       run_shape(setup, micro_batch, new_tokens), local_cores());
}

StrategyChoice choose_strategy_here(MachineRates& machine, const Topology& t, const OpenedModel& model, const RunChoices& choices,
                                    int micro_batch) {
    const auto rates = [&](const Topology& candidate, const Plan& plan) {
        return plan_node_rates(machine, candidate, plan, model.config, model.weight_format);
    };
    return choose_strategy(t, model, choices, micro_batch, rates, local_cores());
}

}  // namespace distgpt
