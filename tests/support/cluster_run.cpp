#include "support/cluster_run.h"

#include "plan/planner.h"

namespace distgpt::test {

RunResult run_on(Cluster& cluster, const Topology& topology, const ModelSource& source, const OpenedModel& model,
                 const std::vector<std::vector<int>>& prompts, const GenerateOptions& options, int context) {
    const int slots = static_cast<int>(prompts.size());
    cluster.configure(make_plan(topology, model.config, slots, context), source, model, slots, context);
    RunRequest request;
    request.prompts = prompts;
    request.options = options;
    return cluster.run(request);
}

}  // namespace distgpt::test
