#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/prediction.h"
#include "cli/run_flags.h"
#include "plan/run_setup.h"
#include "net/curve_keys.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "runtime/controller/slurm_workers.h"
#include "trace/run_metrics.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <iostream>

namespace distgpt::cli {
namespace {

nlohmann::json sequences_json(const RunResult& r, const std::vector<std::string>& texts, const Tokenizer& tokenizer) {
    auto j = nlohmann::json::array();
    for (std::size_t i = 0; i < r.sequences.size(); ++i) {
        const auto& s = r.sequences[i];
        j.push_back({{"prompt", texts[i]},
                     {"prompt_ids", s.prompt_ids},
                     {"generated_ids", s.generated_ids},
                     {"text", tokenizer.generated_text(s.generated_ids, s.finish == FinishReason::EndOfText)},
                     {"finish", finish_reason_name(s.finish.value_or(FinishReason::Interrupted))}});
    }
    return j;
}

nlohmann::json losses_json(const RunResult& r, const Topology& topology) {
    auto j = nlohmann::json::array();
    for (const auto& loss : r.losses)
        j.push_back({{"node", topology.nodes[loss.node].name},
                     {"why", loss.why},
                     {"recovery", loss.recovery.empty() ? nlohmann::json() : nlohmann::json(loss.recovery)}});
    return j;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"; }

// The topology a run uses: its file, or the Slurm allocation's workers,
// started here (`workers` holds them for the run).
Topology run_topology(const RunArgs& a, const net::KeyPair& keys, std::unique_ptr<SlurmWorkers>& workers) {
    if (!a.slurm) {
        if (a.topology.empty()) throw Error("run needs --topology FILE, or --slurm inside a Slurm allocation");
        return read_topology(a.topology);
    }
    const SlurmAllocation allocation = read_slurm_allocation();
    std::cerr << "Slurm job " << allocation.job_id << ": " << allocation.tasks << " task(s) of " << allocation.cpus_per_task
              << " CPU(s) on " << allocation.hosts.size() << " host(s); starting a worker per task\n";
    workers = std::make_unique<SlurmWorkers>(allocation, a.worker_program.empty() ? LocalWorker::program() : a.worker_program, keys);
    const Strategy strategy = a.strategy == "tensor" ? Strategy::Tensor : a.strategy == "hybrid" ? Strategy::Hybrid : Strategy::Pipeline;
    // Through the file's rules, so an impossible split is refused as a file's would be.
    return parse_topology(topology_to_json(workers->topology(strategy, a.tensor_parallel)), "the Slurm allocation");
}

int run(const RunArgs& a) {
    const net::KeyPair keys = a.key.empty() ? net::generate_key_pair() : net::read_key_pair(a.key);
    std::unique_ptr<SlurmWorkers> slurm_workers;
    Topology topology = run_topology(a, keys, slurm_workers);
    if (!a.wire.empty()) topology.wire = *wire_format_named(a.wire);  // --wire wins over the file
    ModelSource source = a.model.source();
    if (!source.weight_format) source.weight_format = topology.weights_dtype;  // --weights-dtype wins over the file
    const OpenedModel model = open_model(source);
    const auto texts = read_prompts(a);
    MachineRates machine;
    topology = with_measured_speeds(topology, machine, model.config, model.weight_format);  // nodes elsewhere met before
    topology = with_strategy_chosen(topology, model, a, texts, machine, std::cerr);
    const RunSetup setup = prepare_run(topology, model, run_choices(a, texts));
    RunRequest request;
    request.prompts = setup.prompts;
    request.options.max_new_tokens = a.max_new_tokens;
    request.options.sampling = {a.temperature, a.top_k, a.top_p, a.seed};
    request.options.stop_at_eos = !a.ignore_eos;
    request.options.keep = setup.keep;
    request.in_flight = setup.slots;
    request.micro_batch = a.micro_batch;
    std::cerr << "plan (" << strategy_name(topology.strategy) << ", " << model.description << "):\n" << setup.plan.describe(topology);
    // Predicted before any worker starts: the machine is measured while it is quiet.
    std::optional<Prediction> predicted;
    if (a.predict) predicted = predict_here(machine, topology, setup, model, a.micro_batch, a.max_new_tokens);

    ClusterOptions options;
    options.controller_name = "distgpt-cli";
    options.keys = keys;
    options.on_status = [](const std::string& s) { std::cerr << "  " << s << "\n"; };
    Cluster cluster(topology, options);
    // First contact with nodes elsewhere: their own speed, measured there, in place of this machine's guess.
    if (a.predict && measure_nodes_elsewhere(cluster, topology, setup.plan, model, machine) > 0) {
        predicted = predict_here(machine, topology, setup, model, a.micro_batch, a.max_new_tokens);
        std::cerr << speed_warnings(topology, setup.plan, model, machine);
    }
    cluster.configure(setup.plan, source, model, setup.slots, setup.context);
    const RunResult r = cluster.run(request);
    // What this run cost beyond the layers (each step's handling, each hop), kept for the next prediction here.
    if (a.predict && r.error.empty()) {
        const auto rates = plan_node_rates(machine, topology, setup.plan, model.config, model.weight_format);
        const LearnedCosts learned = learn_costs(r.trace, topology, setup.plan, rates, local_cores());
        machine.learn(learned, topology, setup.plan, model.config, model.weight_format);
        double most = 0;
        for (const auto& step : learned.step_ms) most = std::max(most, step.value_or(0));
        std::fprintf(stderr, "  learned from this run (kept for the next prediction): steps up to %.3f ms beyond their layers", most);
        if (learned.shared_memory_hop_ms) std::fprintf(stderr, ", a shared-memory hop %.3f ms", *learned.shared_memory_hop_ms);
        if (learned.zeromq_hop_ms) std::fprintf(stderr, ", a ZeroMQ hop %.3f ms", *learned.zeromq_hop_ms);
        if (learned.partial_sum_ms) std::fprintf(stderr, ", a partial sum %.3f ms", *learned.partial_sum_ms);
        if (learned.emulated_partial_sum_ms)
            std::fprintf(stderr, ", a partial sum %.3f ms beyond its emulated link", *learned.emulated_partial_sum_ms);
        if (learned.crowded_efficiency)
            std::fprintf(stderr, ", this machine's crowded cores gave %.2f of a fair share", *learned.crowded_efficiency);
        std::fprintf(stderr, "\n");
    }
    for (const auto& loss : r.losses)
        if (!loss.recovery.empty()) std::cerr << "recovered: " << loss.why << "; " << loss.recovery;
    if (!r.error.empty()) {
        // Every token made before the failure is printed before the error.
        if (a.json) {
            print_json({{"error", r.error},
                        {"node_at_fault", r.node_at_fault >= 0 ? nlohmann::json(topology.nodes[r.node_at_fault].name) : nlohmann::json()},
                        {"losses", losses_json(r, topology)},
                        {"sequences", sequences_json(r, texts, *model.tokenizer)}});
            std::cerr << "distgpt-cli run: " << r.error << "\n";
            return 1;
        }
        for (std::size_t i = 0; i < r.sequences.size(); ++i)
            std::cout << "--- sequence " << i + 1 << " (" << finish_reason_name(r.sequences[i].finish.value_or(FinishReason::Interrupted))
                      << ") ---\n"
                      << texts[i] << utf8::escape_invalid(model.tokenizer->generated_text(r.sequences[i].generated_ids, false)) << "\n";
        throw Error(r.error);
    }

    if (!a.trace.empty()) write_chrome_trace(r.trace, a.trace);
    if (!a.csv.empty()) write_events_csv(r.trace, a.csv);
    const RunMetrics m = run_metrics(r.trace);
    const std::string metrics = metrics_json(m);
    if (!a.metrics.empty()) std::ofstream(a.metrics) << metrics << "\n";

    auto text_of = [&](const DistributedSequence& s) {
        return model.tokenizer->generated_text(s.generated_ids, s.finish == FinishReason::EndOfText);
    };
    if (a.json) {
        nlohmann::json doc = {{"sequences", sequences_json(r, texts, *model.tokenizer)},
                              {"losses", losses_json(r, topology)},
                              {"metrics", metrics_document(m)}};
        if (predicted) doc["prediction"] = prediction_json(*predicted, topology);
        print_json(doc);
        return 0;
    }
    for (std::size_t i = 0; i < r.sequences.size(); ++i)
        std::cout << "--- sequence " << i + 1 << " (" << finish_reason_name(r.sequences[i].finish.value_or(FinishReason::Interrupted))
                  << ") ---\n"
                  << texts[i] << utf8::escape_invalid(text_of(r.sequences[i])) << "\n";
    std::fprintf(stderr, "%d tokens in %.2f s: %.1f tokens/s; time to first token %.1f ms; token latency p50 %.1f ms, p95 %.1f ms\n",
                 m.tokens, m.wall_seconds, m.tokens_per_second, m.first_token_mean_ms, m.token_latency_p50_ms, m.token_latency_p95_ms);
    if (m.window_shifts > 0)
        std::fprintf(stderr, "  the context shifted %d time(s) (%d tokens kept each): %.1f ms of the nodes' time in those steps\n",
                     m.window_shifts, setup.keep, m.window_shift_ms);
    if (predicted)
        std::fprintf(stderr, "  predicted %.1f tokens/s (measured %.0f%% of it); time to first token %.1f ms; token latency %.1f ms\n",
                     predicted->tokens_per_second, 100 * m.tokens_per_second / predicted->tokens_per_second, predicted->first_token_ms,
                     predicted->token_latency_ms);
    for (std::size_t i = 0; i < m.nodes.size(); ++i) {
        const auto& n = m.nodes[i];
        std::fprintf(stderr, "  %-10s %-28s busy %5.1f%%  compute %8.1f ms  communication %7.1f ms  RSS %6.1f MB", n.name.c_str(),
                     n.shard.c_str(), n.busy_percent, n.compute_ms, n.communication_ms, n.rss_bytes / 1e6);
        if (predicted && i < predicted->nodes.size()) std::fprintf(stderr, "  (predicted busy %.1f%%)", predicted->nodes[i].busy_percent);
        std::fprintf(stderr, "\n");
    }
    for (const auto& l : m.links)
        if (l.to != "controller") std::fprintf(stderr, "  %s → %s: %.0f bytes/token\n", l.from.c_str(), l.to.c_str(), l.bytes_per_token);
    for (const auto& n : m.nodes)
        if (n.all_reduce_bytes > 0)
            std::fprintf(stderr, "  %s: all-reduces received %.0f bytes/token\n", n.name.c_str(), n.all_reduce_bytes_per_token);
    return 0;
}

}  // namespace

void add_run(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<RunArgs>();
    auto* c = app.add_subcommand("run", "generate across the workers of a topology (pipeline, tensor or hybrid)");
    add_run_flags(*c, *a);
    c->callback([a, &exit_code] {
        exit_code = guarded("run", [&] {
            if (!a->json) return run(*a);
            try {
                return run(*a);
            } catch (const std::exception& e) {
                print_json({{"error", e.what()}});  // with --json, a failure is JSON too
                throw;
            }
        });
    });
}

}  // namespace distgpt::cli
