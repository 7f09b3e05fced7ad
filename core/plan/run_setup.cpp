#include "plan/run_setup.h"

#include "sample/context_window.h"
#include "util/error.h"

#include <algorithm>

namespace distgpt {

RunSetup prepare_run(const Topology& topology, const OpenedModel& model, const RunChoices& choices) {
    if (choices.prompts.empty()) throw Error("write at least one prompt");
    Sampler check(choices.sampling);  // refuses bad sampling before any worker starts
    if (choices.max_new_tokens < 1) throw Error("max new tokens must be at least 1, not " + std::to_string(choices.max_new_tokens));
    if (choices.in_flight < 0)
        throw Error("sequences in flight must be 0 (one per stage) or more, not " + std::to_string(choices.in_flight));
    if (choices.context < 0)
        throw Error("the context must be 0 (as long as the longest prompt and max new tokens need) or more, not " +
                    std::to_string(choices.context));
    RunSetup s;
    std::size_t longest = 0;
    for (const auto& p : choices.prompts) {
        s.prompts.push_back(model.tokenizer->encode_prompt(p));
        longest = std::max(longest, s.prompts.back().size());
    }
    s.slots = sequence_slots(static_cast<int>(s.prompts.size()), choices.in_flight, topology.stage_count());
    s.context =
        choices.context > 0 ? choices.context : std::min<int>(model.config.n_positions, static_cast<int>(longest) + choices.max_new_tokens);
    if (static_cast<int>(longest) >= s.context)
        throw Error("the longest prompt has " + std::to_string(longest) + " tokens; the context holds " + std::to_string(s.context) +
                    ": shorten the prompt" + (choices.context > 0 ? " or raise --context" : ""));
    s.keep = ContextWindow::of(s.context, choices.keep).keep;
    s.plan = make_plan(topology, model.config, s.slots, s.context, 1, model.weight_format);
    return s;
}

RunShape run_shape(const RunSetup& setup, int micro_batch, int new_tokens) {
    RunShape s;
    s.sequences = static_cast<int>(setup.prompts.size());
    s.in_flight = setup.slots;
    s.micro_batch = micro_batch;
    std::size_t prompt_tokens = 0;
    for (const auto& p : setup.prompts) prompt_tokens += p.size();
    s.prompt_tokens = static_cast<int>(prompt_tokens / std::max<std::size_t>(1, setup.prompts.size()));
    s.new_tokens = new_tokens;
    return s;
}

}  // namespace distgpt
