#include "plan/strategy_choice.h"

#include "util/error.h"

#include <cstdio>

namespace distgpt {

std::string strategy_label(const Topology& t) {
    const int n = static_cast<int>(t.nodes.size());
    switch (t.strategy) {
        case Strategy::Pipeline: return "pipeline";
        case Strategy::Tensor: return "tensor " + std::to_string(n);
        case Strategy::Hybrid: return "hybrid " + std::to_string(n / t.tensor_parallel) + "x" + std::to_string(t.tensor_parallel);
        case Strategy::Auto: return "auto";
    }
    return "pipeline";
}

StrategyChoice choose_strategy(const Topology& topology, const OpenedModel& model, const RunChoices& choices, int micro_batch,
                               const PlanRates& rates, int local_cores) {
    const int n = static_cast<int>(topology.nodes.size());
    std::vector<Topology> candidates;
    Topology pipeline = topology;
    pipeline.strategy = Strategy::Pipeline;
    pipeline.tensor_parallel = 1;
    candidates.push_back(pipeline);
    if (n > 1) {
        Topology tensor = pipeline;
        tensor.strategy = Strategy::Tensor;
        candidates.push_back(tensor);
    }
    for (int k = 2; k < n; ++k)
        if (n % k == 0) {
            Topology hybrid = pipeline;
            hybrid.strategy = Strategy::Hybrid;
            hybrid.tensor_parallel = k;
            candidates.push_back(hybrid);
        }
    std::vector<StrategyChoice> possible;
    std::string refusals;
    for (const Topology& t : candidates) {
        try {
            StrategyChoice c{t, prepare_run(t, model, choices), {}, {}};
            const RunShape shape = run_shape(c.setup, micro_batch, choices.max_new_tokens);
            c.predicted = predict_run(t, c.setup.plan, model.config, rates(t, c.setup.plan), shape, local_cores);
            possible.push_back(std::move(c));
        } catch (const Error& e) {
            refusals += "\n  " + strategy_label(t) + ": " + e.what();
        }
    }
    if (possible.empty()) throw Error("strategy auto: no way of splitting the model over these nodes can run:" + refusals);
    std::size_t best = 0;
    for (std::size_t i = 1; i < possible.size(); ++i)
        if (possible[i].predicted.tokens_per_second > possible[best].predicted.tokens_per_second) best = i;
    StrategyChoice chosen = std::move(possible[best]);
    char line[160];
    std::snprintf(line, sizeof line, "%s: %.1f tokens/s predicted", strategy_label(chosen.topology).c_str(),
                  chosen.predicted.tokens_per_second);
    chosen.why = line;
    // The best of the others, and what holds it back.
    int runner_up = -1;
    for (std::size_t i = 0; i < possible.size(); ++i)
        if (i != best && (runner_up < 0 || possible[i].predicted.tokens_per_second > possible[runner_up].predicted.tokens_per_second))
            runner_up = static_cast<int>(i);
    if (runner_up >= 0) {
        const StrategyChoice& other = possible[runner_up];
        std::snprintf(line, sizeof line, "; %s would make %.1f, bounded by ", strategy_label(other.topology).c_str(),
                      other.predicted.tokens_per_second);
        chosen.why += line + other.predicted.bottleneck;
    }
    return chosen;
}

}  // namespace distgpt
