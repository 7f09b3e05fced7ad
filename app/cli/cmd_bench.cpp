#include "bench/addmv_chain.h"
#include "bench/kernel_rate.h"
#include "bench/mm_chain.h"
#include "bench/memory_bandwidth.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/local_engine.h"
#include "sample/context_window.h"
#include "model/rows_times_weight.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace distgpt::cli {
namespace {

struct BenchArgs {
    ModelOptions model;
    int threads = default_threads();
    int tokens = 32;
    int prompt = 256;  // bench prefill
    int rounds = 5;
    std::string out;
    bool json = false;
};

double median(std::vector<double> v) {
    if (v.empty()) throw Error("nothing was timed");
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// The model a bench runs: the one named, else a random gpt2.
ModelSource bench_model(const BenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    return options.source();
}

// One weight format's engine and what it measured, round by round.
struct DecodeRow {
    WeightFormat format;
    double bytes_per_token = 0;
    std::unique_ptr<OpenedModel> model;  // the engine keeps references into it
    std::unique_ptr<LocalEngine> engine;
    double roofline_ms = 0;  // the token's weights at the kernel's in-cache rate
    std::vector<double> ms, matrices_ms, floors, to_floor, to_bound, to_addmv;
};

// Single-process decode against its bounds, for each weight format: the
// machine's read bandwidth over the bytes a token must read (the floor), the
// kernel's own rate on data in cache over the weights (its compute roofline;
// the bound is the larger of the two), and a plain chain of fp32 torch addmv
// calls. Each token's time is split into the matrices and the rest.
int run_decode(const BenchArgs& a) {
    const ModelSource source = bench_model(a);
    const OpenedModel model = open_model(source);
    const auto& c = model.config;
    // One row per format asked for, or one for each.
    std::vector<DecodeRow> rows;
    for (WeightFormat f : source.weight_format ? std::vector<WeightFormat>{*source.weight_format} : weight_formats()) {
        DecodeRow row;
        row.format = f;
        // Every layer weight, the final norm and the head matrix are read once per token.
        row.bytes_per_token = static_cast<double>(c.decode_params_read()) * bytes_per_weight(f);
        ModelSource as = source;
        as.weight_format = f;
        row.model = std::make_unique<OpenedModel>(open_model(as));
        row.engine = std::make_unique<LocalEngine>(*row.model, a.threads, 1);
        row.roofline_ms = static_cast<double>(c.decode_params_read()) / measure_kernel_rate_in_cache(f, c.n_embd, a.threads) * 1e3;
        rows.push_back(std::move(row));
    }

    // The host is shared: measure bandwidth, the addmv chain and each engine
    // in turn, several rounds, and take medians of each and of the paired
    // ratios, so drift between measurements does not skew the ratios.
    // The first steps warm the caches and the allocator up; the next
    // `tokens` are timed.
    constexpr int kWarmupSteps = 3;
    GenerateOptions g;
    g.max_new_tokens = kWarmupSteps + a.tokens;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    const auto prompt = model.tokenizer->encode_prompt("The quick brown fox jumps over the lazy dog.");
    std::vector<double> bandwidths, addmvs;
    std::size_t tokens_timed = 0;
    std::vector<double> shift_ms;  // steps that shifted a full context first (--tokens beyond it), all formats and rounds
    for (int round = 0; round < a.rounds; ++round) {
        std::cerr << "round " << round + 1 << "/" << a.rounds << ": bandwidth, addmv chain, engines...\n";
        const double bw = measure_read_bandwidth(static_cast<std::size_t>(rows.front().bytes_per_token), a.threads, 4);
        const double addmv_round = addmv_chain_ms_per_token(c, a.threads, 6);
        bandwidths.push_back(bw);
        addmvs.push_back(addmv_round);
        for (auto& row : rows) {
            std::vector<double> steps, matrices;
            int64_t inside = rows_times_weight_nanoseconds();
            row.engine->generate({prompt}, g, [&](const TokenEvent& e) {
                const int64_t now = rows_times_weight_nanoseconds();
                if (e.window_shift) {
                    shift_ms.push_back(e.latency_ms);
                } else if (e.step >= kWarmupSteps) {
                    steps.push_back(e.latency_ms);
                    matrices.push_back(static_cast<double>(now - inside) / 1e6);
                }
                inside = now;
            });
            tokens_timed += steps.size();
            const double engine_round = median(steps), floor_round = row.bytes_per_token / bw * 1e3;
            row.ms.push_back(engine_round);
            row.matrices_ms.push_back(median(matrices));
            row.floors.push_back(floor_round);
            row.to_floor.push_back(floor_round / engine_round);
            row.to_bound.push_back(std::max(floor_round, row.roofline_ms) / engine_round);
            row.to_addmv.push_back(addmv_round / engine_round);
        }
    }
    const double bandwidth = median(bandwidths), addmv_ms = median(addmvs);
    nlohmann::json j = {
        {"model", model.description},           {"threads", a.threads}, {"read_bandwidth_gb_s", bandwidth / 1e9},
        {"addmv_chain_ms_per_token", addmv_ms}, {"rounds", a.rounds},   {"tokens_timed", tokens_timed},
        {"formats", nlohmann::json::array()},
    };
    // Past the context the window slides: what one shift costs, against a decode step.
    const double shift_median = shift_ms.empty() ? 0 : median(shift_ms);
    if (!shift_ms.empty())
        j["window_shift"] = {{"context", c.n_positions},
                             {"keep", ContextWindow::of(c.n_positions, 0).keep},
                             {"shifts_timed", shift_ms.size()},
                             {"ms_per_shift", shift_median},
                             {"decode_steps_per_shift", shift_median / median(rows.front().ms)}};
    for (const auto& row : rows)
        j["formats"].push_back({
            {"weights_dtype", weight_format_name(row.format)},
            {"bytes_per_token", row.bytes_per_token},
            {"bandwidth_floor_ms_per_token", median(row.floors)},
            {"kernel_in_cache_ms_per_token", row.roofline_ms},
            {"engine_ms_per_token", median(row.ms)},
            {"matrices_ms_per_token", median(row.matrices_ms)},
            {"engine_tokens_per_second", 1e3 / median(row.ms)},
            {"ratio_to_bandwidth_bound", median(row.to_floor)},
            {"ratio_to_bandwidth_bound_per_round", row.to_floor},
            {"ratio_to_bound", median(row.to_bound)},
            {"speedup_over_fp32_addmv_chain", median(row.to_addmv)},
        });
    if (!a.out.empty()) std::ofstream(a.out) << j.dump(2) << "\n";
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("single-process decode, %s, %d threads\n", model.description.c_str(), a.threads);
    std::printf("  read bandwidth %.1f GB/s; fp32 addmv chain %.2f ms/token (medians of %d rounds)\n\n", bandwidth / 1e9, addmv_ms,
                a.rounds);
    std::printf("  %-8s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s   %s\n", "weights", "MB/token", "floor ms", "in-cache", "engine ms",
                "matrices", "rest ms", "tokens/s", "vs floor", "vs bound", "vs addmv", "rounds vs floor");
    for (const auto& row : rows) {
        const double engine = median(row.ms), matrices = median(row.matrices_ms);
        std::printf("  %-8s %9.1f %9.2f %9.2f %9.2f %9.2f %9.2f %9.1f %8.0f%% %8.0f%% %8.2fx  ", weight_format_name(row.format).c_str(),
                    row.bytes_per_token / 1e6, median(row.floors), row.roofline_ms, engine, matrices, engine - matrices, 1e3 / engine,
                    100 * median(row.to_floor), 100 * median(row.to_bound), median(row.to_addmv));
        for (double r : row.to_floor) std::printf(" %.0f%%", 100 * r);
        std::printf("\n");
    }
    std::printf(
        "\n  in-cache: the token's weights at the kernel's own rate on data in cache (its compute roofline);\n"
        "  vs bound: the larger of floor and in-cache over engine; matrices: time inside the matrix kernel\n");
    if (!shift_ms.empty())
        std::printf(
            "\n  past the context (%d tokens) the window shifted %zu times: %.2f ms per shift (%s %d tokens), "
            "%.1f %s decode steps\n",
            c.n_positions, shift_ms.size(), shift_median,
            window_shift_for(c.positions()) == WindowShift::Slide ? "sliding the cache to keep" : "re-prefilling",
            ContextWindow::of(c.n_positions, 0).keep, shift_median / median(rows.front().ms),
            weight_format_name(rows.front().format).c_str());
    return 0;
}

// Single-process prefill of one prompt against BLAS: the same matrices
// multiplied by at::mm (gemm), nothing else. Interleaved rounds, medians.
int run_prefill(const BenchArgs& a) {
    const ModelSource source = bench_model(a);
    const OpenedModel model = open_model(source);
    const auto& c = model.config;
    if (a.prompt < 1 || a.prompt >= c.n_positions)
        throw Error("--prompt-tokens " + std::to_string(a.prompt) + " does not fit the context of " + std::to_string(c.n_positions));
    LocalEngine engine(model, a.threads, 1, a.prompt + 1);
    std::vector<int> prompt;
    const auto text = model.tokenizer->encode_prompt("It was the best of times, it was the worst of times, it was the age of wisdom. ");
    for (int i = 0; i < a.prompt; ++i) prompt.push_back(text[i % text.size()]);
    GenerateOptions g;
    g.max_new_tokens = 1;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    std::vector<double> engine_ms, mm_ms, ratios;
    for (int round = 0; round < a.rounds; ++round) {
        std::cerr << "round " << round + 1 << "/" << a.rounds << ": engine, gemm chain...\n";
        engine_ms.push_back(engine.generate({prompt}, g).prefill_ms);
        mm_ms.push_back(mm_chain_ms(c, a.prompt, a.threads, 3));
        ratios.push_back(engine_ms.back() / mm_ms.back());
    }
    const nlohmann::json j = {{"model", model.description},
                              {"weights_dtype", weight_format_name(model.weight_format)},
                              {"threads", a.threads},
                              {"prompt_tokens", a.prompt},
                              {"engine_prefill_ms", median(engine_ms)},
                              {"gemm_chain_ms", median(mm_ms)},
                              {"ratio_to_gemm_chain", median(ratios)},
                              {"ratio_to_gemm_chain_per_round", ratios}};
    if (!a.out.empty()) std::ofstream(a.out) << j.dump(2) << "\n";
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("single-process prefill of %d tokens, %s, weights %s, %d threads (medians of %d rounds)\n", a.prompt,
                model.description.c_str(), weight_format_name(model.weight_format).c_str(), a.threads, a.rounds);
    std::printf("  engine %.1f ms (attention, norms and all); gemm chain (at::mm over the same matrices, nothing else) %.1f ms\n",
                median(engine_ms), median(mm_ms));
    std::printf("  engine / gemm chain: %.2fx  (rounds:", median(ratios));
    for (double r : ratios) std::printf(" %.2f", r);
    std::printf(")\n");
    return 0;
}

}  // namespace

void add_bench(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<BenchArgs>();
    auto* c = app.add_subcommand("bench", "benchmarks; `bench decode`: single-process decode against the memory-bandwidth bound");
    auto* decode =
        c->add_subcommand("decode", "ms/token of single-process decode, its ratio to the read-bandwidth bound and to a plain addmv chain");
    // What both single-process benches take.
    auto add_common = [&](CLI::App* bench, const std::string& rounds_help) {
        args->model.add_to(*bench);
        args->model.add_weights_dtype_to(*bench);
        bench->add_option("--threads", args->threads, "compute threads")->capture_default_str();
        bench->add_option("--rounds", args->rounds, rounds_help)->capture_default_str()->check(CLI::Range(1, 1000000));
        bench->add_option("--out", args->out, "also write the results as JSON to this file");
        bench->add_flag("--json", args->json, "print JSON");
    };
    add_common(decode, "rounds of bandwidth, addmv chain and engine, interleaved");
    decode->add_option("--tokens", args->tokens, "decode steps to time per round")->capture_default_str()->check(CLI::Range(1, 1000000));
    decode->callback([args, &exit_code] { exit_code = guarded("bench decode", [&] { return run_decode(*args); }); });
    auto* prefill =
        c->add_subcommand("prefill", "ms of a single-process prefill of one prompt, against at::mm (gemm) over the same matrices");
    add_common(prefill, "rounds of engine and gemm chain, interleaved");
    prefill->add_option("--prompt-tokens", args->prompt, "prompt length")->capture_default_str();
    prefill->callback([args, &exit_code] { exit_code = guarded("bench prefill", [&] { return run_prefill(*args); }); });
    add_cluster_benches(*c, exit_code);
    add_fault_bench(*c, exit_code);
    add_serve_bench(*c, exit_code);
    add_predict_bench(*c, exit_code);
    c->require_subcommand(1);
}

}  // namespace distgpt::cli
