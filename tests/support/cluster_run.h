#pragma once
#include "runtime/controller/cluster.h"

#include <vector>

namespace distgpt::test {

// One generation over a cluster's workers, the controller's way: its plan
// for a slot per prompt and `context` tokens, the shards loaded, the run.
RunResult run_on(Cluster& cluster, const Topology& topology, const ModelSource& source, const OpenedModel& model,
                 const std::vector<std::vector<int>>& prompts, const GenerateOptions& options, int context = 64);

}  // namespace distgpt::test
