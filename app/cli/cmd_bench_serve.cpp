// distgpt-cli bench serve: the HTTP API under load. A pipeline of local
// workers serves; 1, 2, 4, 8, 16 clients stream completions at once, each a
// few requests in a row. Tokens/s, time to first token and time per token
// (p50, p95), against one process generating as many sequences together
// and against the bandwidth floor of a token.
#include "bench/memory_bandwidth.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/local_engine.h"
#include "plan/planner.h"
#include "runtime/controller/cluster.h"
#include "serve/api_server.h"
#include "serve/serving_session.h"
#include "util/error.h"
#include "weights/weight_format.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

namespace distgpt::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct ServeBenchArgs {
    ModelOptions model;
    int stages = 2, threads = 1, requests = 2, tokens = 32, micro_batch = 1;
    std::vector<int> clients{1, 2, 4, 8, 16};
    std::string out;
};

// One streamed request as its client saw it.
struct Timing {
    double first_token_s = 0;  // from sending to the first text
    double per_token_s = 0;    // from the first text to the last, over the tokens between
    int tokens = 0;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// A streamed completion over HTTP, read as its server-sent events come.
Timing stream_completion(int port, const std::string& prompt, int tokens, uint64_t seed) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(600, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.set_header("Content-Type", "application/json");
    req.body =
        json{{"prompt", prompt}, {"max_tokens", tokens}, {"seed", seed}, {"temperature", 0.8}, {"stream", true}, {"ignore_eos", true}}
            .dump();
    Timing t;
    const auto sent = Clock::now();
    std::optional<Clock::time_point> first;
    Clock::time_point last;
    std::string pending;
    req.content_receiver = [&](const char* data, std::size_t n, uint64_t, uint64_t) {
        pending.append(data, n);
        for (std::size_t end; (end = pending.find("\n\n")) != std::string::npos; pending.erase(0, end + 2)) {
            const std::string event = pending.substr(0, end);
            if (event.rfind("data: {", 0) != 0) continue;
            const json chunk = json::parse(event.substr(6));
            if (chunk.contains("error")) throw Error("the server failed a request: " + chunk["error"]["message"].get<std::string>());
            if (!chunk["choices"][0]["text"].get<std::string>().empty()) {
                last = Clock::now();
                if (!first) first = last;
            }
            if (chunk.contains("usage")) t.tokens = chunk["usage"]["completion_tokens"].get<int>();
        }
        return true;
    };
    const auto res = client.send(req);
    if (!res || res->status != 200)
        throw Error("a benchmark request failed: " + (res ? std::to_string(res->status) : to_string(res.error())));
    if (!first) throw Error("a benchmark request streamed no text");
    t.first_token_s = std::chrono::duration<double>(*first - sent).count();
    t.per_token_s = t.tokens > 1 ? std::chrono::duration<double>(last - *first).count() / (t.tokens - 1) : 0;
    return t;
}

// One process generating `sequences` together, with every core the cluster had.
double single_process_tokens_per_second(const OpenedModel& m, int threads, int sequences, const std::vector<int>& prompt, int tokens,
                                        int context) {
    LocalEngine engine(m, threads, sequences, context);
    GenerateOptions g;
    g.max_new_tokens = tokens;
    g.sampling.temperature = 0.8f;
    g.stop_at_eos = false;
    const auto t0 = Clock::now();
    int made = 0;
    for (const auto& s : engine.generate(std::vector<std::vector<int>>(sequences, prompt), g).sequences)
        made += static_cast<int>(s.generated_ids.size());
    return made / std::chrono::duration<double>(Clock::now() - t0).count();
}

int run_serve_bench(const ServeBenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "gpt2";
    const ModelSource source = options.source();
    const OpenedModel m = open_model(source);
    const int most = *std::max_element(a.clients.begin(), a.clients.end());
    const std::string prompt = "It was the best of times, it was the worst of times";
    const auto prompt_ids = m.tokenizer->encode_prompt(prompt);
    const int context = std::min<int>(m.config.n_positions, static_cast<int>(prompt_ids.size()) + a.tokens + 1);

    Topology t;
    for (int i = 0; i < a.stages; ++i) t.nodes.push_back({"stage" + std::to_string(i), "local", a.threads, 0, WeightSource::Auto, ""});
    Cluster cluster(t);
    cluster.configure(make_plan(t, m.config, most, context, 1, m.weight_format), source, m, most, context);
    ServeMetrics metrics(cluster.nodes());
    ServingSession session(cluster, most, most, a.micro_batch, &metrics);
    ApiServerOptions http;
    http.port = 0;
    ApiServer server(session, metrics, {"bench", m.tokenizer.get(), end_of_text_ids(m), context, ChatTemplate::Plain}, http);
    server.bind();
    std::thread listening([&] { server.listen(); });

    const double bytes_per_token = static_cast<double>(m.config.decode_params_read()) * bytes_per_weight(m.weight_format);
    const int cores = a.stages * a.threads;
    std::printf("%s, %d stages of %d thread(s), micro-batch %d, %d requests per client of %d tokens, prompt %zu tokens\n",
                m.description.c_str(), a.stages, a.threads, a.micro_batch, a.requests, a.tokens, prompt_ids.size());
    std::printf("%7s %8s %9s %10s %9s %10s %10s %10s %10s %9s\n", "clients", "tokens", "tokens/s", "1-process", "ratio", "TTFT p50",
                "TTFT p95", "ms/tok p50", "ms/tok p95", "vs floor");
    json rows = json::array();
    for (int clients : a.clients) {
        std::cerr << "  " << clients << " client(s)...\n";
        std::vector<std::vector<Timing>> seen(clients);
        std::vector<std::string> errors(clients);
        const auto t0 = Clock::now();
        std::vector<std::thread> threads;
        for (int c = 0; c < clients; ++c)
            threads.emplace_back([&, c] {
                try {
                    for (int r = 0; r < a.requests; ++r)
                        seen[c].push_back(stream_completion(server.port(), prompt, a.tokens, static_cast<uint64_t>(c * 1000 + r)));
                } catch (const std::exception& e) {
                    errors[c] = e.what();
                }
            });
        for (auto& th : threads) th.join();
        const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        for (const auto& e : errors)
            if (!e.empty()) throw Error(e);
        std::vector<double> ttft, tpot;
        int tokens = 0;
        for (const auto& client : seen)
            for (const auto& r : client) {
                ttft.push_back(r.first_token_s * 1e3);
                tpot.push_back(r.per_token_s * 1e3);
                tokens += r.tokens;
            }
        const double rate = tokens / wall;
        const double single = single_process_tokens_per_second(m, cores, clients, prompt_ids, a.tokens, context);
        const double floor_ms = bytes_per_token / measure_read_bandwidth(static_cast<std::size_t>(bytes_per_token), cores, 4) * 1e3;
        const double tpot50 = percentile(tpot, 0.5);
        std::printf("%7d %8d %9.1f %10.1f %9.2f %10.1f %10.1f %10.2f %10.2f %8.0f%%\n", clients, tokens, rate, single, rate / single,
                    percentile(ttft, 0.5), percentile(ttft, 0.95), tpot50, percentile(tpot, 0.95), 100 * floor_ms / tpot50);
        std::fflush(stdout);
        rows.push_back({{"clients", clients},
                        {"requests", clients * a.requests},
                        {"tokens", tokens},
                        {"wall_seconds", wall},
                        {"tokens_per_second", rate},
                        {"single_process_tokens_per_second", single},
                        {"ratio_to_single_process", rate / single},
                        {"time_to_first_token_ms_p50", percentile(ttft, 0.5)},
                        {"time_to_first_token_ms_p95", percentile(ttft, 0.95)},
                        {"ms_per_token_p50", tpot50},
                        {"ms_per_token_p95", percentile(tpot, 0.95)},
                        {"bandwidth_floor_ms_per_token", floor_ms},
                        {"ratio_to_bandwidth_floor", floor_ms / tpot50}});
    }
    std::printf(
        "  tokens/s: all clients' tokens over the wall time; 1-process: one process with the same %d core(s) generating as many sequences "
        "together; ms/tok: a request's time per token after its first; vs floor: a token's bandwidth floor (the weights read once) over "
        "ms/tok p50\n",
        cores);
    server.stop();
    listening.join();
    if (!a.out.empty())
        std::ofstream(a.out) << json{{"model", m.description},
                                     {"stages", a.stages},
                                     {"threads_per_stage", a.threads},
                                     {"tokens_per_request", a.tokens},
                                     {"requests_per_client", a.requests},
                                     {"rows", rows}}
                                    .dump(2)
                             << "\n";
    return 0;
}

}  // namespace

void add_serve_bench(CLI::App& bench, int& exit_code) {
    auto a = std::make_shared<ServeBenchArgs>();
    auto* c =
        bench.add_subcommand("serve", "the HTTP API under 1, 2, 4, 8, 16 concurrent streaming clients, on a pipeline of local workers");
    a->model.add_to(*c);
    a->model.add_weights_dtype_to(*c);
    c->add_option("--stages", a->stages, "pipeline stages, one local worker each")->capture_default_str();
    c->add_option("--threads", a->threads, "threads per worker")->capture_default_str();
    c->add_option("--clients", a->clients, "concurrent clients, one row each (1,2,4)")->delimiter(',')->capture_default_str();
    c->add_option("--requests", a->requests, "requests each client makes, one after another")->capture_default_str();
    c->add_option("--tokens", a->tokens, "tokens per request")->capture_default_str();
    c->add_option("--micro-batch", a->micro_batch, "as serve's --micro-batch")->capture_default_str();
    c->add_option("--out", a->out, "write the results as JSON");
    c->callback([a, &exit_code] { exit_code = guarded("bench serve", [&] { return run_serve_bench(*a); }); });
}

}  // namespace distgpt::cli
