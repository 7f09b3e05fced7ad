#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/machine_rates.h"
#include "net/curve_keys.h"
#include "plan/planner.h"
#include "runtime/controller/cluster.h"
#include "serve/api_server.h"
#include "serve/chat_template.h"
#include "serve/serving_session.h"
#include "util/error.h"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <thread>

namespace distgpt::cli {
namespace {

struct ServeArgs {
    ModelOptions model;
    std::string topology;
    int threads = 0;  // the one local node's, without --topology
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string api_key;
    int max_in_flight = 8, queue = 64, context = 0, micro_batch = 1;
    std::string name, key;
};

// The topology serve runs: the file's, or one local worker.
Topology serve_topology(const ServeArgs& a) {
    if (!a.topology.empty()) return read_topology(a.topology);
    Topology t;
    t.nodes.push_back({"local", "local", a.threads > 0 ? a.threads : default_threads(), 0, WeightSource::Auto, ""});
    return t;
}

int serve(const ServeArgs& a) {
    // SIGINT and SIGTERM are taken by one thread, which stops the server:
    // blocked here, before any thread starts, so every thread inherits that.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a death

    ApiServerOptions http;
    http.host = a.host;
    http.port = a.port;
    http.api_key = a.api_key;
    if (http.api_key.empty())
        if (const char* key = std::getenv("DISTGPT_API_KEY")) http.api_key = key;
    ServingSession::check_limits(a.max_in_flight, a.queue, a.micro_batch);  // before the plan that takes them

    Topology topology = serve_topology(a);
    ModelSource source = a.model.source();
    if (!source.weight_format) source.weight_format = topology.weights_dtype;
    const OpenedModel model = open_model(source);
    const int context = a.context > 0 ? std::min(a.context, model.config.n_positions) : model.config.n_positions;
    if (topology.strategy == Strategy::Auto) {
        // Chosen for a server's day: as many requests at once as it takes, each a short question and a 64-token answer.
        MachineRates machine;
        topology = with_measured_speeds(topology, machine, model.config, model.weight_format);
        RunChoices load;
        load.prompts.assign(static_cast<std::size_t>(a.max_in_flight), "A short question from a client, about this long.");
        load.in_flight = a.max_in_flight;
        load.max_new_tokens = std::min(64, std::max(1, context / 2));
        const StrategyChoice choice = choose_strategy_here(machine, topology, model, load, a.micro_batch);
        std::cerr << "strategy auto: " << choice.why << "\n";
        topology = choice.topology;
    }
    const ChatTemplate chat = chat_template_of(source.tokenizer_files());
    const Plan plan = make_plan(topology, model.config, a.max_in_flight, context, 1, model.weight_format);
    std::cerr << "plan (" << strategy_name(topology.strategy) << ", " << model.description << "):\n" << plan.describe(topology);

    ClusterOptions options;
    options.controller_name = "distgpt-cli serve";
    options.keys = a.key.empty() ? net::generate_key_pair() : net::read_key_pair(a.key);
    options.on_status = [](const std::string& s) { std::cerr << "  " << s << "\n"; };
    options.on_node_lost = [](const NodeLoss& loss) {
        std::cerr << "lost: " << loss.why << (loss.recovery.empty() ? "" : "; " + loss.recovery) << "\n";
    };
    Cluster cluster(topology, options);
    cluster.configure(plan, source, model, a.max_in_flight, context);

    ServeMetrics metrics(cluster.nodes());
    ServingSession session(cluster, a.max_in_flight, a.queue, a.micro_batch, &metrics);
    ServedModel served{a.name.empty() ? source.name() : a.name, model.tokenizer.get(), end_of_text_ids(model), context, chat};
    ApiServer server(session, metrics, served, http);
    server.bind();

    std::thread stopper([&server, signals] {
        int got = 0;
        sigwait(&signals, &got);
        std::cerr << "stopping (" << (got == SIGINT ? "interrupt" : "terminate") << ")\n";
        server.stop();
    });
    std::cerr << "serving " << served.name << " (" << model.description << ", " << context << "-token context, chat format "
              << chat_template_name(chat) << ") to " << a.max_in_flight << " request(s) at once, " << a.queue << " more waiting"
              << (http.api_key.empty() ? "" : "; an API key is needed") << "\n";
    std::cout << "listening on http://" << (a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host) << ":" << server.port()
              << std::endl;
    server.listen();
    // listen() returns on stop(): from a signal, or when the run failed.
    pthread_kill(stopper.native_handle(), SIGTERM);  // if no signal came, the stopper still waits for one
    stopper.join();
    if (const auto failure = session.failure()) throw Error(*failure);
    return 0;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<ServeArgs>();
    auto* c = app.add_subcommand("serve", "serve a model over an OpenAI-compatible HTTP API, across the workers of a topology");
    a->model.add_to(*c);
    a->model.add_weights_dtype_to(*c);
    c->add_option("--topology", a->topology, "the cluster to serve from (a topology file); default: one worker on this machine");
    c->add_option("--threads", a->threads, "threads of the one local worker, without --topology (default: the machine's cores)");
    c->add_option("--host", a->host, "the address to listen on (loopback unless told otherwise; 0.0.0.0: every network)")
        ->capture_default_str();
    c->add_option("--port", a->port, "the port to listen on (0: any free one, printed)")->capture_default_str();
    c->add_option("--api-key", a->api_key,
                  "every request must send 'Authorization: Bearer KEY' (or set DISTGPT_API_KEY, which stays off the command line)");
    c->add_option("--max-in-flight", a->max_in_flight, "requests generating at once, each with its cache on every node")
        ->capture_default_str();
    c->add_option("--queue", a->queue, "requests that may wait for a slot; beyond that, HTTP 429")->capture_default_str();
    c->add_option("--micro-batch", a->micro_batch,
                  "requests waiting together start as one micro-batch of up to this many: a stage computes their rows in one step, "
                  "reading its weights once for all")
        ->capture_default_str();
    c->add_option("--context", a->context, "tokens a prompt and its completion share (default: the model's)");
    c->add_option("--name", a->name, "the model's name in the API (default: its folder's)");
    c->add_option("--key", a->key, "this controller's CURVE key file, for workers that authenticate (default: a fresh one)");
    c->callback([a, &exit_code] { exit_code = guarded("serve", [&] { return serve(*a); }); });
}

}  // namespace distgpt::cli
