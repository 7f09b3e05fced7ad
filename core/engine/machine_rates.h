#pragma once
#include "plan/cost_model.h"
#include "plan/run_setup.h"
#include "plan/strategy_choice.h"
#include "weights/model_config.h"
#include "weights/weight_format.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace distgpt {

// Measures how fast this machine computes a shard of `config` in `format`:
// a real Stage over random weights of the model's shape (enough layers to
// read past the caches, as a run does), timed over decode steps of one row,
// a prefill of several (the cost of each further row), the head and the
// sampler, each in rounds spread over a second or two (a large head: a few).
NodeRates measure_node_rates(const ModelConfig& config, WeightFormat format, const RatesKey& key);

// The same, kept per machine in `cache` (a JSON file; default: the user's
// cache folder, distgpt/node-rates.json) so that a plan is predicted at once
// after the first time; `recalibrate` measures again. The file is read once
// and written when something new was measured; an empty path keeps the
// rates in this object alone.
class MachineRates {
public:
    explicit MachineRates(std::filesystem::path cache = default_cache(), bool recalibrate = false);
    NodeRates rates(const ModelConfig& config, WeightFormat format, const RatesKey& key);
    int measured() const { return measured_; }  // how many this object measured rather than found
    // This machine's rates are measured again when next asked (once each);
    // what runs taught stays.
    void measure_again();
    static std::filesystem::path default_cache();

    // Rates another machine measured of itself (a worker asked on first
    // contact, Cluster::measure_rates), kept in the same file under that
    // machine's name: the host its endpoint names ("10.0.0.7", "pi.local").
    std::optional<NodeRates> measured_on(const std::string& machine, const ModelConfig& config, WeightFormat format, const RatesKey& key);
    void remember(const std::string& machine, const ModelConfig& config, WeightFormat format, const RatesKey& key, const NodeRates& r);
    // The host a node's endpoint names (for a node not started here), or "".
    static std::string machine_of(const NodeSpec& node);

    // What a run here taught (learn_costs): each step's cost beyond the
    // layers for each shard shape its nodes ran (the nodes of one shape
    // averaged, at speed 1), each transport's hop, and for each shard shape
    // here what its crowded cores gave; kept beside the rates and used by
    // every later prediction on this machine.
    void learn(const LearnedCosts& learned, const Topology& topology, const Plan& plan, const ModelConfig& config, WeightFormat format);
    double learned_step_ms(const ModelConfig& config, WeightFormat format, const RatesKey& key);
    std::optional<double> learned_hop_ms(Transport transport);
    std::optional<double> learned_partial_sum_ms(PartialSumWait wait, bool emulated);
    std::optional<double> learned_crowded_efficiency(const ModelConfig& config, WeightFormat format, const RatesKey& key);

private:
    std::optional<double> learned(const std::string& name, const char* field);  // a learned value, if any (none when recalibrating)
    const nlohmann::json& kept();
    void save();
    std::filesystem::path cache_;
    bool recalibrate_;
    std::optional<nlohmann::json> kept_;  // the cache file's entries, once read
    int measured_ = 0;
};

// `topology` with each node elsewhere whose machine measured itself on
// first contact given the speed it measured against this machine's (a
// layer's decode step here over there): what the planner splits the layers
// by. Nodes not measured keep their declared speed.
Topology with_measured_speeds(Topology topology, MachineRates& machine, const ModelConfig& config, WeightFormat format);

// The shard node `node` of `stage` runs, as its speed is measured: its
// threads, its tensor-parallel share, whether its head is split.
RatesKey rates_key(const Topology& topology, const StagePlan& stage, int node);

// This machine's cores (at least 1): what the workers started here share.
int local_cores();

// Every node's rates for `plan`: for a node elsewhere that was asked on
// first contact, what its machine measured; else this machine's, measured or
// cached, for the node's threads and shard, divided by its declared speed.
std::vector<NodeRates> plan_node_rates(MachineRates& machine, const Topology& topology, const Plan& plan, const ModelConfig& config,
                                       WeightFormat format);

// The cost model's prediction of `setup` on `topology`, with this machine's
// rates and cores: the one way the CLI, the bench and the app predict.
Prediction predict_here(MachineRates& machine, const Topology& topology, const RunSetup& setup, const OpenedModel& model, int micro_batch,
                        int new_tokens);

// `strategy: auto` decided with this machine's rates and cores.
StrategyChoice choose_strategy_here(MachineRates& machine, const Topology& topology, const OpenedModel& model, const RunChoices& choices,
                                    int micro_batch);

}  // namespace distgpt
