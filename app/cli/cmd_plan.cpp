// distgpt-cli plan: what a topology would do with a model, before any
// worker starts: its stages, their memory and, with --predict, the cost
// model's tokens/s, latencies, busy nodes and bytes on each link.
#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/prediction.h"
#include "cli/run_flags.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

namespace distgpt::cli {
namespace {

struct PlanArgs {
    RunArgs run;
    bool recalibrate = false;
};

nlohmann::json stages_json(const Plan& plan, const Topology& t) {
    auto stages = nlohmann::json::array();
    for (const auto& s : plan.stages) {
        auto nodes = nlohmann::json::array();
        for (int n : s.nodes)
            nodes.push_back(
                {{"name", t.nodes[n].name}, {"memory_bytes", plan.memory[n].total()}, {"weight_bytes", plan.memory[n].weights}});
        stages.push_back({{"layers", {s.layer_begin, s.layer_end}}, {"embedding", s.embedding()}, {"head", s.head}, {"nodes", nodes}});
    }
    return stages;
}

int plan(const PlanArgs& a) {
    if (a.run.slurm) throw Error("plan reads a topology file: give --topology FILE (--slurm starts workers)");
    if (a.run.topology.empty()) throw Error("plan needs --topology FILE");
    Topology topology = read_topology(a.run.topology);
    if (!a.run.wire.empty()) topology.wire = *wire_format_named(a.run.wire);
    ModelSource source = a.run.model.source();
    if (!source.weight_format) source.weight_format = topology.weights_dtype;
    const OpenedModel model = open_model(source);
    std::vector<std::string> texts =
        a.run.prompts.empty() && a.run.prompts_file.empty() ? std::vector<std::string>{"Hello"} : read_prompts(a.run);
    MachineRates machine(MachineRates::default_cache(), a.recalibrate);
    std::ostringstream choice;                                                              // strategy auto: which, and why
    topology = with_measured_speeds(topology, machine, model.config, model.weight_format);  // nodes elsewhere met before
    topology = with_strategy_chosen(topology, model, a.run, texts, machine, choice);
    const RunSetup setup = prepare_run(topology, model, run_choices(a.run, texts));
    nlohmann::json doc = {
        {"strategy", strategy_name(topology.strategy)}, {"model", model.description}, {"stages", stages_json(setup.plan, topology)}};
    if (!choice.str().empty()) doc["strategy_choice"] = choice.str().substr(0, choice.str().size() - 1);
    if (!a.run.json)
        std::cout << choice.str() << "plan (" << strategy_name(topology.strategy) << ", " << model.description << "):\n"
                  << setup.plan.describe(topology);
    if (a.run.predict) {
        const Prediction p = predict_here(machine, topology, setup, model, a.run.micro_batch, a.run.max_new_tokens);
        const RunShape shape = run_shape(setup, a.run.micro_batch, a.run.max_new_tokens);  // as predicted, to say so
        if (a.run.json) {
            doc["prediction"] = prediction_json(p, topology);
        } else {
            std::cout << "predicted for " << shape.sequences << " sequence(s) of " << shape.prompt_tokens << " prompt and "
                      << shape.new_tokens << " new tokens, " << shape.in_flight << " in flight, micro-batch " << shape.micro_batch
                      << (machine.measured() ? " (this machine measured now, then kept in " + MachineRates::default_cache().string() + ")"
                                             : "")
                      << ":\n"
                      << prediction_text(p, topology) << speed_warnings(topology, setup.plan, model, machine);
        }
    }
    if (a.run.json) std::cout << doc.dump(2) << "\n";
    return 0;
}

}  // namespace

void add_plan(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<PlanArgs>();
    auto* c = app.add_subcommand("plan", "how a topology splits a model, and with --predict what a run of it would do, without running it");
    add_run_flags(*c, a->run);
    c->add_flag("--recalibrate", a->recalibrate, "with --predict: measure this machine again instead of using what was kept");
    c->callback([a, &exit_code] { exit_code = guarded("plan", [&] { return plan(*a); }); });
}

}  // namespace distgpt::cli
