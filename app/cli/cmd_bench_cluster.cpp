// distgpt-cli bench scaling | hop: the studies our users run before buying
// hardware, on real worker processes.
#include "bench/zmq_hop.h"
#include "trace/run_metrics.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "runtime/controller/cluster.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <tuple>

namespace distgpt::cli {
namespace {

using nlohmann::json;

struct ClusterBenchArgs {
    ModelOptions model;
    int threads = 1, max_stages = 4, tokens = 32, prompt_tokens = 16, rounds = 1;
    std::string out, csv;
    std::vector<std::string> studies;  // empty: all
};

struct Measured {
    double tokens_per_second = 0, wall_s = 0, hop_p50_us = 0, busy_mean = 0, busy_min = 100, busy_max = 0;
    int tokens = 0, hops = 0;
};

Topology pipeline(int stages, int threads, TransportChoice transport = TransportChoice::Auto) {
    Topology t;
    t.transport = transport;
    for (int i = 0; i < stages; ++i) t.nodes.push_back({"stage" + std::to_string(i), "local", threads, 0, WeightSource::Auto, ""});
    return t;
}

std::vector<std::vector<int>> prompts(const OpenedModel& m, int count, int length) {
    std::vector<std::vector<int>> out;
    const auto base = m.tokenizer->encode_prompt(
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness");
    for (int i = 0; i < count; ++i) {
        std::vector<int> p;
        for (int k = 0; k < length; ++k) p.push_back(base[(k + i * 3) % base.size()]);
        out.push_back(p);
    }
    return out;
}

GenerateOptions greedy(int tokens) {
    GenerateOptions g;
    g.max_new_tokens = tokens;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    return g;
}

// k tensor-parallel ranks of one stage, `threads` each.
Topology tensor(int ranks, int threads) {
    Topology t = pipeline(ranks, threads);
    t.strategy = Strategy::Tensor;
    for (int i = 0; i < ranks; ++i) t.nodes[i].name = "rank" + std::to_string(i);
    return t;
}

Measured distributed(const ClusterBenchArgs& a, const ModelSource& source, const OpenedModel& m, const Topology& t, int in_flight,
                     int micro_batch, int sequences) {
    const int context = a.prompt_tokens + a.tokens;
    Cluster cluster(t);
    cluster.configure(make_plan(t, m.config, in_flight, context, 1, m.weight_format), source, m, in_flight, context);
    RunRequest r;
    r.prompts = prompts(m, sequences, a.prompt_tokens);
    r.options = greedy(a.tokens);
    r.in_flight = in_flight;
    r.micro_batch = micro_batch;
    const RunResult result = cluster.run(r);
    const RunMetrics metrics = run_metrics(result.trace);
    Measured out;
    out.tokens = static_cast<int>(result.trace.tokens.size());
    out.wall_s = result.trace.wall_us / 1e6;
    out.tokens_per_second = result.tokens_per_second();
    out.hop_p50_us = metrics.hop_p50_us;
    out.hops = metrics.hops;
    double sum = 0;
    for (const auto& n : metrics.nodes) {
        sum += n.busy_percent;
        out.busy_min = std::min(out.busy_min, n.busy_percent);
        out.busy_max = std::max(out.busy_max, n.busy_percent);
    }
    out.busy_mean = sum / metrics.nodes.size();
    return out;
}

// The same sequences in one process with `threads` threads.
double single_process(const ClusterBenchArgs& a, const OpenedModel& m, int in_flight, int sequences, int threads) {
    LocalEngine engine(m, threads, in_flight, a.prompt_tokens + a.tokens);
    const auto all = prompts(m, sequences, a.prompt_tokens);
    int tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < sequences; i += in_flight) {
        std::vector<std::vector<int>> batch(all.begin() + i, all.begin() + std::min(sequences, i + in_flight));
        for (const auto& s : engine.generate(batch, greedy(a.tokens)).sequences) tokens += static_cast<int>(s.generated_ids.size());
    }
    return tokens / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_scaling(const ClusterBenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    const ModelSource source = options.source();
    const OpenedModel m = open_model(source);
    std::map<std::tuple<int, int, int>, double> single;  // (in_flight, sequences, threads) -> tokens/s
    auto reference = [&](int in_flight, int sequences, int threads) {
        auto key = std::tuple{in_flight, sequences, threads};
        if (a.rounds > 1 || !single.count(key))
            single[key] = single_process(a, m, in_flight, sequences, threads);  // paired: measured again
        return single[key];
    };
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    json rows = json::array();
    std::printf("%-7s %6s %9s %11s %9s %7s %10s %9s %8s %16s %9s\n", "study", "nodes", "in-flight", "micro-batch", "sequences", "tokens",
                "tokens/s", "1-process", "ratio", "busy% mean/min", "hop µs");
    // "tensor": one stage of `stages` ranks against one process with all their threads.
    auto row = [&](const char* study, int stages, int in_flight, int micro_batch, int sequences) {
        if (!a.studies.empty() && std::find(a.studies.begin(), a.studies.end(), study) == a.studies.end()) return;
        const bool tensor_parallel = std::string(study) == "tensor";
        std::fprintf(stderr, "  %s: %d %s, %d in flight, micro-batch %d, %d sequences...\n", study, stages,
                     tensor_parallel ? "ranks" : "stages", in_flight, micro_batch, sequences);
        const Topology t = tensor_parallel ? tensor(stages, a.threads) : pipeline(stages, a.threads);
        // Rounds alternate the two, so that a busy minute of a shared host
        // weighs on both: the medians, and the median of the paired ratios.
        std::vector<Measured> runs;
        std::vector<double> refs, ratios, rates;
        for (int round = 0; round < a.rounds; ++round) {
            runs.push_back(distributed(a, source, m, t, in_flight, micro_batch, sequences));
            refs.push_back(reference(in_flight, sequences, tensor_parallel ? stages * a.threads : a.threads));
            rates.push_back(runs.back().tokens_per_second);
            ratios.push_back(rates.back() / refs.back());
        }
        Measured d = runs[0];
        for (const auto& r : runs)
            if (r.tokens_per_second == median(rates)) d = r;  // the median run's busy and hop figures
        d.tokens_per_second = median(rates);
        const double ref = median(refs), ratio = median(ratios);
        std::printf("%-7s %6d %9d %11d %9d %7d %10.2f %9.2f %8.2f %9.1f/%5.1f %9.0f\n", study, stages, in_flight, micro_batch, sequences,
                    d.tokens, d.tokens_per_second, ref, ratio, d.busy_mean, d.busy_min, d.hop_p50_us);
        std::fflush(stdout);
        rows.push_back({{"study", study},
                        {"strategy", tensor_parallel ? "tensor" : "pipeline"},
                        {"stages", tensor_parallel ? 1 : stages},
                        {"nodes", stages},
                        {"in_flight", in_flight},
                        {"micro_batch", micro_batch},
                        {"sequences", sequences},
                        {"tokens", d.tokens},
                        {"wall_seconds", d.wall_s},
                        {"tokens_per_second", d.tokens_per_second},
                        {"single_process_tokens_per_second", ref},
                        {"ratio_to_single_process", ratio},
                        {"ratio_to_single_process_per_round", ratios},
                        {"busy_percent_mean", d.busy_mean},
                        {"busy_percent_min", d.busy_min},
                        {"busy_percent_max", d.busy_max},
                        {"hop_latency_us_p50", d.hop_p50_us}});
    };
    // Strong scaling: fixed work (one sequence per possible stage), 1 in flight and one per stage.
    for (int n = 1; n <= a.max_stages; ++n) {
        row("strong", n, 1, 1, a.max_stages);
        if (n > 1) row("strong", n, n, 1, a.max_stages);
    }
    // Weak scaling: one sequence per stage.
    for (int n = 1; n <= a.max_stages; ++n) row("weak", n, n, 1, n);
    // Sequences in flight and micro-batch, on two stages.
    for (int s : {1, 2, 4})
        for (int b : {1, 2})
            if (b <= s) row("sweep", 2, s, b, 4);
    // Tensor parallel on two nodes against one process with both nodes' threads.
    row("tensor", 2, 1, 1, 1);
    row("tensor", 2, 4, 4, 4);

    const json out = {{"model", m.description},
                      {"threads_per_node", a.threads},
                      {"tokens_per_sequence", a.tokens},
                      {"prompt_tokens", a.prompt_tokens},
                      {"cores", std::thread::hardware_concurrency()},
                      {"rows", rows}};
    if (!a.out.empty()) std::ofstream(a.out) << out.dump(2) << "\n";
    if (!a.csv.empty()) {
        std::ofstream csv(a.csv);
        csv << "study,stages,in_flight,micro_batch,sequences,tokens,wall_seconds,tokens_per_second,single_process_tokens_per_second,"
               "ratio_to_single_process,busy_percent_mean,busy_percent_min,busy_percent_max,hop_latency_us_p50\n";
        for (const auto& r : rows)
            csv << r["study"].get<std::string>() << ',' << r["stages"] << ',' << r["in_flight"] << ',' << r["micro_batch"] << ','
                << r["sequences"] << ',' << r["tokens"] << ',' << r["wall_seconds"] << ',' << r["tokens_per_second"] << ','
                << r["single_process_tokens_per_second"] << ',' << r["ratio_to_single_process"] << ',' << r["busy_percent_mean"] << ','
                << r["busy_percent_min"] << ',' << r["busy_percent_max"] << ',' << r["hop_latency_us_p50"] << '\n';
    }
    return 0;
}

int run_hop(const ClusterBenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    const ModelSource source = options.source();
    const OpenedModel m = open_model(source);
    const std::size_t bytes = static_cast<std::size_t>(m.config.n_embd) * sizeof(float);
    const Measured over_zmq = distributed(a, source, m, pipeline(2, a.threads, TransportChoice::ZeroMQ), 1, 1, 1);
    const Measured over_shm = distributed(a, source, m, pipeline(2, a.threads, TransportChoice::Auto), 1, 1, 1);
    // ZeroMQ alone, at the pace of this pipeline: one stage's compute between messages.
    const double zmq_back_to_back = zmq_loopback_one_way_us(bytes);
    const int pace_us = static_cast<int>(over_shm.wall_s * 1e6 / std::max(1, over_shm.tokens) / 2);
    const double zmq_two_process = zmq_two_process_one_way_us(bytes, 300, pace_us);
    std::printf("decode hop of %zu bytes between two workers on one machine (medians):\n", bytes);
    std::printf("  ZeroMQ alone, one process, back to back (half a round trip)            %8.1f µs\n", zmq_back_to_back);
    std::printf("  ZeroMQ alone, two processes, one message per %4.1f ms, receiver polling %8.1f µs\n", pace_us / 1e3, zmq_two_process);
    std::printf("  distgpt hop, transport \"zeromq\" (workers on different machines)      %8.1f µs  (%d hops)\n", over_zmq.hop_p50_us,
                over_zmq.hops);
    std::printf("  distgpt hop, transport \"auto\": shared memory on one machine          %8.1f µs  (%d hops)\n", over_shm.hop_p50_us,
                over_shm.hops);
    std::printf(
        "  (a hop: from the sender starting to encode to the receiver holding the message; tokens/s %.1f over ZeroMQ, %.1f over shared "
        "memory)\n",
        over_zmq.tokens_per_second, over_shm.tokens_per_second);
    if (!a.out.empty())
        std::ofstream(a.out) << json{{"bytes", bytes},
                                     {"zmq_one_process_back_to_back_us", zmq_back_to_back},
                                     {"zmq_two_processes_us", zmq_two_process},
                                     {"pace_us", pace_us},
                                     {"hop_zeromq_p50_us", over_zmq.hop_p50_us},
                                     {"hop_shared_memory_p50_us", over_shm.hop_p50_us},
                                     {"hops", over_shm.hops}}
                                    .dump(2)
                             << "\n";
    return 0;
}

}  // namespace

void add_cluster_benches(CLI::App& bench, int& exit_code) {
    auto a = std::make_shared<ClusterBenchArgs>();
    auto* scaling = bench.add_subcommand(
        "scaling",
        "strong and weak scaling over 1..N pipeline stages, a sweep of sequences in flight and micro-batch, and tensor parallel on 2 nodes "
        "against one process with their threads");
    auto* hop = bench.add_subcommand("hop", "latency of one decode hop between two workers, against ZeroMQ alone");
    for (auto* c : {scaling, hop}) {
        a->model.add_to(*c);
        a->model.add_weights_dtype_to(*c);
        c->add_option("--threads", a->threads, "threads per worker")->capture_default_str();
        c->add_option("--tokens", a->tokens, "tokens generated per sequence")->capture_default_str();
        c->add_option("--out", a->out, "write the results as JSON");
    }
    scaling->add_option("--max-stages", a->max_stages)->capture_default_str();
    scaling->add_option("--rounds", a->rounds, "measure each row this many times, alternating with its single process; report medians")
        ->check(CLI::Range(1, 99))
        ->capture_default_str();
    scaling->add_option("--study", a->studies, "only these studies (default: all)")
        ->check(CLI::IsMember({"strong", "weak", "sweep", "tensor"}));
    scaling->add_option("--prompt-tokens", a->prompt_tokens)->capture_default_str();
    scaling->add_option("--csv", a->csv, "write the results as CSV");
    scaling->callback([a, &exit_code] { exit_code = guarded("bench scaling", [&] { return run_scaling(*a); }); });
    hop->callback([a, &exit_code] { exit_code = guarded("bench hop", [&] { return run_hop(*a); }); });
}

}  // namespace distgpt::cli
