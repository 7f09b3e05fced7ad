#pragma once
#include "engine/model_source.h"
#include "plan/cost_model.h"
#include "plan/planner.h"
#include "plan/topology.h"
#include "sample/sampler.h"

#include <string>
#include <vector>

namespace distgpt {

// What a distributed run needs, worked out one way for the CLI and the app:
// the prompts encoded, the sampling checked, the sequences each stage keeps
// a cache for, the context, and the plan. Throws Error on anything that
// cannot run, before a worker starts.
struct RunSetup {
    std::vector<std::vector<int>> prompts;
    int slots = 1;    // sequences in flight, each with its KV cache on every stage
    int context = 0;  // tokens a sequence's window holds, prompt included
    int keep = 0;     // tokens a full window keeps as it slides
    Plan plan;
};
struct RunChoices {
    std::vector<std::string> prompts;
    SamplingParams sampling;
    int max_new_tokens = 64;
    int in_flight = 0;  // 0: one per stage
    int context = 0;    // 0: the longest prompt and max_new_tokens, within the model's
    int keep = 0;       // 0: half the context
};
// Throws Error naming the first choice out of range (sampling, max new
// tokens, sequences in flight, context, keep) or a prompt the context cannot hold.
RunSetup prepare_run(const Topology& topology, const OpenedModel& model, const RunChoices& choices);

// What a run of `setup` asks of its stages, as the cost model takes it:
// its sequences, those in flight, their mean prompt and `new_tokens` each.
RunShape run_shape(const RunSetup& setup, int micro_batch, int new_tokens);

}  // namespace distgpt
