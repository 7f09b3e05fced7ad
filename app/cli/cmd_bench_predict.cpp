// distgpt-cli bench predict: how close the cost model comes. Each topology
// given, as it is and on each network asked for, is predicted and then run
// on real workers; the table is predicted against measured tokens/s. Each
// row's runs teach the cache for the rows after it, as any run does.
#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/machine_rates.h"
#include "net/link_model.h"
#include "plan/cost_model.h"
#include "plan/run_setup.h"
#include "runtime/controller/cluster.h"
#include "trace/run_metrics.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace distgpt::cli {
namespace {

using json = nlohmann::json;

struct PredictBenchArgs {
    ModelOptions model;
    std::vector<std::string> topologies, networks;
    int sequences = 4, tokens = 32, rounds = 1;
    std::string prompt = "It was the best of times, it was the worst of times";
    std::string out;
    bool remeasure = false, calibration_only = false;
};

struct Row {
    std::string topology, network;
    Prediction predicted;
    RunMetrics measured;
};

// Every node of `t` on `preset`'s network.
Topology on_network(Topology t, const std::string& preset) {
    const auto network = network_preset(preset);
    if (!network) throw Error("--network '" + preset + "' is not a preset: see docs/topology.md");
    for (auto& n : t.nodes) n.network = *network;
    return t;
}

Row measure(const PredictBenchArgs& a, const ModelSource& source, const OpenedModel& model, MachineRates& machine, const std::string& file,
            const Topology& t, const std::string& network) {
    RunChoices choices;
    choices.prompts.assign(a.sequences, a.prompt);
    choices.sampling.temperature = 0;
    choices.max_new_tokens = a.tokens;
    const RunSetup setup = prepare_run(t, model, choices);
    Row row{std::filesystem::path(file).stem().string(), network, {}, {}};
    row.predicted = predict_here(machine, t, setup, model, 1, a.tokens);
    Cluster cluster(t);
    cluster.configure(setup.plan, source, model, setup.slots, setup.context);
    RunRequest request;
    request.prompts = setup.prompts;
    request.options.max_new_tokens = a.tokens;
    request.options.sampling = choices.sampling;
    request.options.stop_at_eos = false;  // every sequence makes its tokens, as predicted
    request.in_flight = setup.slots;
    // Several rounds: the median run (a shared machine has busy moments).
    // Each teaches the machine's rates, as `run --predict` and the app do:
    // the next row's prediction knows what this one cost (not with
    // --calibration-only).
    std::vector<RunMetrics> runs;
    for (int round = 0; round < a.rounds; ++round) {
        const RunResult result = cluster.run(request);
        if (!result.error.empty()) throw Error(row.topology + ": " + result.error);
        runs.push_back(run_metrics(result.trace));
        if (!a.calibration_only) {
            const auto rates = plan_node_rates(machine, t, setup.plan, model.config, model.weight_format);
            machine.learn(learn_costs(result.trace, t, setup.plan, rates, local_cores()), t, setup.plan, model.config, model.weight_format);
        }
    }
    std::sort(runs.begin(), runs.end(), [](const RunMetrics& x, const RunMetrics& y) { return x.tokens_per_second < y.tokens_per_second; });
    row.measured = runs[runs.size() / 2];
    return row;
}

int bench_predict(const PredictBenchArgs& a) {
    if (a.topologies.empty()) throw Error("give one or more topology files");
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    const ModelSource source = options.source();
    const OpenedModel model = open_model(source);
    MachineRates machine;
    std::vector<Row> rows;
    std::printf("%-22s %-18s %10s %10s %8s %12s %12s  %s\n", "topology", "network", "predicted", "measured", "ratio", "TTFT pred.",
                "TTFT meas.", "predicted bound");
    for (const auto& file : a.topologies) {
        const Topology shipped = read_topology(file);
        bool remote = false;
        for (const auto& n : shipped.nodes) remote |= !n.started_here();
        if (remote) {
            std::fprintf(stderr, "  %s: skipped, it names machines not started here\n", file.c_str());
            continue;
        }
        std::vector<std::pair<std::string, Topology>> variants{{"as written", shipped}};
        for (const auto& preset : a.networks) variants.emplace_back(preset, on_network(shipped, preset));
        for (const auto& [network, t] : variants) {
            // --remeasure: this machine's rates as they are now. --calibration-only: those alone, kept for this row alone.
            MachineRates alone{std::filesystem::path()};
            if (a.remeasure) machine.measure_again();
            rows.push_back(measure(a, source, model, a.calibration_only ? alone : machine, file, t, network));
            const Row& r = rows.back();
            std::printf("%-22s %-18s %10.2f %10.2f %8.2f %10.0f ms %10.0f ms  %s\n", r.topology.c_str(), network.c_str(),
                        r.predicted.tokens_per_second, r.measured.tokens_per_second,
                        r.measured.tokens_per_second / r.predicted.tokens_per_second, r.predicted.first_token_ms,
                        r.measured.first_token_mean_ms, r.predicted.bottleneck.c_str());
            std::fflush(stdout);
        }
    }
    if (!a.out.empty()) {
        json out = json::array();
        for (const auto& r : rows)
            out.push_back({{"topology", r.topology},
                           {"network", r.network},
                           {"predicted_tokens_per_second", r.predicted.tokens_per_second},
                           {"measured_tokens_per_second", r.measured.tokens_per_second},
                           {"ratio", r.measured.tokens_per_second / r.predicted.tokens_per_second},
                           {"predicted_first_token_ms", r.predicted.first_token_ms},
                           {"measured_first_token_ms", r.measured.first_token_mean_ms},
                           {"predicted_bound", r.predicted.bottleneck}});
        std::ofstream(a.out) << json{{"model", model.description},
                                     {"sequences", a.sequences},
                                     {"tokens", a.tokens},
                                     {"remeasured", a.remeasure || a.calibration_only},
                                     {"learning", !a.calibration_only},
                                     {"rows", out}}
                                    .dump(2)
                             << "\n";
    }
    return 0;
}

}  // namespace

void add_predict_bench(CLI::App& bench, int& exit_code) {
    auto a = std::make_shared<PredictBenchArgs>();
    auto* c = bench.add_subcommand("predict", "the cost model against real runs: each topology predicted, then run, on each network asked");
    a->model.add_to(*c);
    c->add_option("topologies", a->topologies, "topology files (those naming other machines are skipped)")->required();
    c->add_option("--network", a->networks, "also run every node on this network preset (repeatable)");
    c->add_option("--sequences", a->sequences, "sequences per run")->capture_default_str()->check(CLI::Range(1, 4096));
    c->add_option("--tokens", a->tokens, "tokens each generates")->capture_default_str()->check(CLI::Range(1, 1 << 16));
    c->add_option("--rounds", a->rounds, "run each this many times; the median run is reported")
        ->capture_default_str()
        ->check(CLI::Range(1, 99));
    c->add_option("--prompt", a->prompt, "every sequence's prompt")->capture_default_str();
    c->add_option("--out", a->out, "write the rows as JSON");
    c->add_flag("--remeasure", a->remeasure,
                "measure this machine's rates again just before each row, rather than once (kept in the cache): a shared machine's "
                "speed drifts over minutes, and this tells the model's error from that drift");
    c->add_flag("--calibration-only", a->calibration_only,
                "predict each row from a calibration just before it alone: nothing learned before is used, and the runs teach nothing "
                "(the cache untouched; without it, each row's runs teach the cache as run --predict's do, for the rows after it)");
    c->callback([a, &exit_code] { exit_code = guarded("bench predict", [&] { return bench_predict(*a); }); });
}

}  // namespace distgpt::cli
