#include "bench/addmv_chain.h"
#include "bench/memory_bandwidth.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/local_engine.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace distgpt::cli {
namespace {

struct BenchArgs {
    ModelOptions model;
    int threads = default_threads();
    int tokens = 32;
    int rounds = 5;
    std::string out;
    bool json = false;
};

double median(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// Single-process decode against its two bounds: the machine's read bandwidth
// over the bytes a token must read, and a plain chain of torch addmv calls.
int run_decode(const BenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    const OpenedModel model = open_model(options.source());
    const auto& c = model.config;
    // Every layer weight, the final norm and the head matrix are read once per token.
    const double bytes_per_token = static_cast<double>(c.decode_params_read()) * 4;

    // The host is shared: measure bandwidth, the addmv chain and the engine
    // in turn, several rounds, and take medians of each and of the paired
    // ratios, so drift between measurements does not skew the ratios.
    LocalEngine engine(model, a.threads, 1);
    GenerateOptions g;
    g.max_new_tokens = a.tokens + 1;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    const auto prompt = model.tokenizer->encode_prompt("The quick brown fox jumps over the lazy dog.");
    std::vector<double> bandwidths, floors, addmvs, engines, to_bound, to_addmv, steps_all;
    for (int round = 0; round < a.rounds; ++round) {
        std::cerr << "round " << round + 1 << "/" << a.rounds << ": bandwidth, addmv chain, engine...\n";
        const double bw = measure_read_bandwidth(static_cast<std::size_t>(bytes_per_token), a.threads, 4);
        const double floor_round = bytes_per_token / bw * 1e3;
        const double addmv_round = addmv_chain_ms_per_token(c, a.threads, 6);
        std::vector<double> steps;
        engine.generate({prompt}, g, [&](const TokenEvent& e) {
            if (e.step >= 3) steps.push_back(e.latency_ms);  // past the warm-up
        });
        const double engine_round = median(steps);
        steps_all.insert(steps_all.end(), steps.begin(), steps.end());
        bandwidths.push_back(bw);
        floors.push_back(floor_round);
        addmvs.push_back(addmv_round);
        engines.push_back(engine_round);
        to_bound.push_back(floor_round / engine_round);
        to_addmv.push_back(addmv_round / engine_round);
    }
    const double bandwidth = median(bandwidths), floor_ms = median(floors), addmv_ms = median(addmvs), engine_ms = median(engines);
    const double ratio_bound = median(to_bound), ratio_addmv = median(to_addmv);
    const nlohmann::json j = {
        {"model", model.description},
        {"threads", a.threads},
        {"bytes_per_token", bytes_per_token},
        {"read_bandwidth_gb_s", bandwidth / 1e9},
        {"bandwidth_floor_ms_per_token", floor_ms},
        {"addmv_chain_ms_per_token", addmv_ms},
        {"engine_ms_per_token", engine_ms},
        {"engine_tokens_per_second", 1e3 / engine_ms},
        {"ratio_to_bandwidth_bound", ratio_bound},
        {"speedup_over_addmv_chain", ratio_addmv},
        {"ratio_to_bandwidth_bound_per_round", to_bound},
        {"rounds", a.rounds},
        {"tokens_timed", steps_all.size()},
    };
    if (!a.out.empty()) std::ofstream(a.out) << j.dump(2) << "\n";
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("single-process decode, %s, %d threads\n", model.description.c_str(), a.threads);
    std::printf("  weights read per token   %10.1f MB\n", bytes_per_token / 1e6);
    std::printf("  read bandwidth           %10.1f GB/s\n", bandwidth / 1e9);
    std::printf("  bandwidth floor          %10.2f ms/token\n", floor_ms);
    std::printf("  addmv chain              %10.2f ms/token\n", addmv_ms);
    std::printf("  engine                   %10.2f ms/token  (%.1f tokens/s)\n", engine_ms, 1e3 / engine_ms);
    std::printf("  engine vs bound          %10.0f %%  (median over %d rounds of floor / engine; rounds:", 100 * ratio_bound, a.rounds);
    for (double r : to_bound) std::printf(" %.0f%%", 100 * r);
    std::printf(")\n  engine vs addmv chain    %10.2f x faster\n", ratio_addmv);
    return 0;
}

}  // namespace

void add_bench(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<BenchArgs>();
    auto* c = app.add_subcommand("bench", "benchmarks; `bench decode`: single-process decode against the memory-bandwidth bound");
    auto* decode =
        c->add_subcommand("decode", "ms/token of single-process decode, its ratio to the read-bandwidth bound and to a plain addmv chain");
    args->model.add_to(*decode);
    decode->add_option("--threads", args->threads, "compute threads")->capture_default_str();
    decode->add_option("--tokens", args->tokens, "decode steps to time per round")->capture_default_str();
    decode->add_option("--rounds", args->rounds, "rounds of bandwidth, addmv chain and engine, interleaved")->capture_default_str();
    decode->add_option("--out", args->out, "also write the results as JSON to this file");
    decode->add_flag("--json", args->json, "print JSON");
    decode->callback([args, &exit_code] { exit_code = guarded("bench decode", [&] { return run_decode(*args); }); });
    add_cluster_benches(*c, exit_code);
    add_fault_bench(*c, exit_code);
    c->require_subcommand(1);
}

}  // namespace distgpt::cli
