#pragma once
#include "cli/run_flags.h"
#include "engine/machine_rates.h"
#include "plan/cost_model.h"
#include "plan/run_setup.h"

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

// What the prediction takes on trust: nodes run elsewhere (this machine's
// speed times their declared speed), and nodes declared faster than this
// machine yet started here (a run here cannot match them). A line each.
std::string speed_warnings(const Topology& topology);

}  // namespace distgpt::cli
