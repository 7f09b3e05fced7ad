#pragma once
#include "plan/cost_model.h"
#include "plan/run_setup.h"
#include "plan/topology.h"

#include <functional>
#include <string>
#include <vector>

namespace distgpt {

// Each node's rates for a plan (the machine measured, or cached).
using PlanRates = std::function<std::vector<NodeRates>(const Topology&, const Plan&)>;

struct StrategyChoice {
    Topology topology;  // the strategy chosen, tensor_parallel set
    RunSetup setup;     // its plan
    Prediction predicted;
    std::string why;  // one line: what it beat, and what held the best other back
};

// `strategy: auto`: every way the topology's nodes can split the model —
// pipeline, tensor parallel over them all, and hybrid with each degree that
// divides the nodes — planned (those impossible for the model or the
// nodes' memory left out) and predicted for the run `choices` and
// `micro_batch` describe; the most tokens/s wins. Throws Error naming why
// each failed when none can run.
StrategyChoice choose_strategy(const Topology& topology, const OpenedModel& model, const RunChoices& choices, int micro_batch,
                               const PlanRates& rates, int local_cores);

// A strategy and its degree as a person names it: "pipeline", "tensor 2", "hybrid 2x2".
std::string strategy_label(const Topology& t);

}  // namespace distgpt
