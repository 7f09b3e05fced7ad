#pragma once
#include "cli/run_flags.h"
#include "engine/machine_rates.h"
#include "plan/cost_model.h"
#include "plan/run_setup.h"
#include "runtime/controller/cluster.h"

#include <nlohmann/json_fwd.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace distgpt::cli {

// A topology whose strategy is auto with the strategy the cost model
// predicts the most tokens/s for (saying which, and why, on `log`); any
// other as it is.
Topology with_strategy_chosen(Topology topology, const OpenedModel& model, const RunArgs& args, const std::vector<std::string>& prompts,
                              MachineRates& machine, std::ostream& log);

// The prediction as `plan --predict` prints it, and as JSON.
std::string prediction_text(const Prediction& p, const Topology& topology);
nlohmann::json prediction_json(const Prediction& p, const Topology& topology);

// Where each node's speed comes from, when not from this machine: nodes run
// elsewhere measured there on first contact, or not yet (this machine's speed
// times their declared speed); and nodes declared faster than this machine
// yet started here (a run here cannot match them). A line each.
std::string speed_warnings(const Topology& topology, const Plan& plan, const OpenedModel& model, MachineRates& machine);

// First contact: the nodes of `plan` run elsewhere whose machines this one
// has no rates of are asked (their workers measure themselves, once per
// shape), and the answers kept with this machine's. Returns how many were asked.
int measure_nodes_elsewhere(Cluster& cluster, const Topology& topology, const Plan& plan, const OpenedModel& model, MachineRates& machine);

}  // namespace distgpt::cli
