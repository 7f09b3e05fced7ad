#include "cli/prediction.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace distgpt::cli {

Topology with_strategy_chosen(Topology t, const OpenedModel& model, const RunArgs& a, const std::vector<std::string>& prompts,
                              MachineRates& machine, std::ostream& log) {
    if (t.strategy != Strategy::Auto) return t;
    const StrategyChoice choice = choose_strategy_here(machine, t, model, run_choices(a, prompts), a.micro_batch);
    log << "strategy auto: " << choice.why << "\n";
    return choice.topology;
}

std::string prediction_text(const Prediction& p, const Topology& t) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "  %.1f tokens/s; first token %.1f ms (mean, from the start); a sequence's token every %.1f ms\n",
                  p.tokens_per_second, p.first_token_ms, p.token_latency_ms);
    out += line;
    std::snprintf(line, sizeof line, "  bounded by %s; the nodes idle %.0f%% of the time (the pipeline's bubble)\n", p.bottleneck.c_str(),
                  100 * p.bubble_fraction);
    out += line;
    if (p.short_steps) out += std::string("  ") + kShortStepsNote + "\n";
    for (std::size_t n = 0; n < p.nodes.size(); ++n) {
        const auto& node = p.nodes[n];
        std::snprintf(line, sizeof line, "  %-10s busy %5.1f%%  a step %7.2f ms (compute %.2f, all-reduce %.2f)\n", t.nodes[n].name.c_str(),
                      node.busy_percent, node.step_ms, node.compute_ms, node.all_reduce_ms);
        out += line;
    }
    for (const auto& l : p.links) {
        std::snprintf(line, sizeof line, "  %s → %s: %.0f bytes/token, %.3f ms/token on its network\n", t.nodes[l.from].name.c_str(),
                      t.nodes[l.to].name.c_str(), l.bytes_per_token, l.ms_per_token);
        out += line;
    }
    return out;
}

nlohmann::json prediction_json(const Prediction& p, const Topology& t) {
    nlohmann::json nodes = nlohmann::json::array(), links = nlohmann::json::array();
    for (std::size_t n = 0; n < p.nodes.size(); ++n)
        nodes.push_back({{"name", t.nodes[n].name},
                         {"busy_percent", p.nodes[n].busy_percent},
                         {"step_ms", p.nodes[n].step_ms},
                         {"compute_ms", p.nodes[n].compute_ms},
                         {"all_reduce_ms", p.nodes[n].all_reduce_ms}});
    for (const auto& l : p.links)
        links.push_back({{"from", t.nodes[l.from].name},
                         {"to", t.nodes[l.to].name},
                         {"bytes_per_token", l.bytes_per_token},
                         {"ms_per_token", l.ms_per_token}});
    return {{"tokens_per_second", p.tokens_per_second},
            {"first_token_ms", p.first_token_ms},
            {"token_latency_ms", p.token_latency_ms},
            {"wall_seconds", p.wall_seconds},
            {"bubble_fraction", p.bubble_fraction},
            {"bottleneck", p.bottleneck},
            {"short_steps", p.short_steps},
            {"nodes", nodes},
            {"links", links}};
}

std::string speed_warnings(const Topology& t, const Plan& plan, const OpenedModel& model, MachineRates& machine) {
    std::string out, measured, guessed;
    for (const StagePlan& stage : plan.stages)
        for (int n : stage.nodes) {
            if (t.nodes[n].started_here()) continue;
            const bool known =
                machine.measured_on(MachineRates::machine_of(t.nodes[n]), model.config, model.weight_format, rates_key(t, stage, n))
                    .has_value();
            std::string& list = known ? measured : guessed;
            list += (list.empty() ? "" : ", ") + t.nodes[n].name;
        }
    if (!measured.empty()) out += "  note: " + measured + " run elsewhere: as measured there on first contact\n";
    if (!guessed.empty())
        out += "  note: " + guessed +
               " run elsewhere, not measured yet: taken as this machine's speed times their declared \"speed\" (run --predict measures "
               "them on first contact)\n";
    for (const auto& n : t.nodes)
        if (n.started_here() && n.speed > 1)
            out += "  note: node '" + n.name + "' is declared faster than this machine (speed " + std::to_string(n.speed).substr(0, 4) +
                   "); a run here cannot go faster than the machine, so it will not match the prediction\n";
    return out;
}

int measure_nodes_elsewhere(Cluster& cluster, const Topology& t, const Plan& plan, const OpenedModel& model, MachineRates& machine) {
    std::vector<std::optional<RatesKey>> keys(t.nodes.size());
    int asked = 0;
    for (const StagePlan& stage : plan.stages)
        for (int n : stage.nodes) {
            const std::string there = MachineRates::machine_of(t.nodes[n]);
            const RatesKey key = rates_key(t, stage, n);
            if (there.empty() || machine.measured_on(there, model.config, model.weight_format, key)) continue;
            keys[n] = key;
            ++asked;
        }
    if (asked == 0) return 0;
    const auto rates = cluster.measure_rates(model.config, model.weight_format, keys);
    for (std::size_t n = 0; n < keys.size(); ++n)
        if (keys[n] && rates[n])
            machine.remember(MachineRates::machine_of(t.nodes[n]), model.config, model.weight_format, *keys[n], *rates[n]);
    return asked;
}

}  // namespace distgpt::cli
