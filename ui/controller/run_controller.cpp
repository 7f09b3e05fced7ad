#include "controller/run_controller.h"

#include "plan/run_setup.h"
#include "runtime/controller/cluster.h"
#include "serve/api_server.h"
#include "serve/serving_session.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace distgpt::ui {

RunController::RunController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<std::vector<TraceSpan>>();
    qRegisterMetaType<std::vector<TraceNode>>();
    qRegisterMetaType<LiveToken>();
    qRegisterMetaType<RunTrace>();
    qRegisterMetaType<RunSpec>();
}

RunController::~RunController() = default;

namespace {

// Each sequence's text as its tokens come: a character may span tokens.
class TokenText {
public:
    explicit TokenText(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
    QString push(const TokenMark& mark) {
        const std::string bytes = tokenizer_.has_token(mark.token) ? tokenizer_.token_bytes(mark.token) : std::string();
        return QString::fromStdString(utf8::escape_invalid(text_[mark.sequence].push(bytes)));
    }

private:
    const Tokenizer& tokenizer_;
    std::map<int64_t, utf8::CharacterStream> text_;
};

ClusterOptions cluster_options(RunController& c, const RunSpec& spec, void (RunController::*status)(const QString&),
                               void (RunController::*lost)(int, const QString&, bool)) {
    ClusterOptions options;
    options.controller_name = "distgpt desktop";
    if (!spec.key_file.isEmpty()) options.keys = net::read_key_pair(spec.key_file.toStdString());
    options.on_status = [&c, status](const std::string& s) { Q_EMIT(c.*status)(QString::fromStdString(s)); };
    options.on_node_lost = [&c, lost](const NodeLoss& loss) {
        Q_EMIT(c.*lost)(loss.node, QString::fromStdString(loss.why), !loss.recovery.empty());
    };
    return options;
}

}  // namespace

void RunController::start(const RunSpec& spec) {
    running_ = true;
    stop_ = false;
    if (spec.serve) {
        serve(spec);
        running_ = false;
        return;
    }
    try {
        const OpenedModel model = open_model(spec.model);
        RunChoices choices{{}, spec.sampling, spec.max_new_tokens, spec.in_flight, 0, spec.keep};
        for (const auto& p : spec.prompts) choices.prompts.push_back(p.toStdString());
        const RunSetup setup = prepare_run(spec.topology, model, choices);
        RunRequest request;
        request.prompts = setup.prompts;
        request.options.max_new_tokens = spec.max_new_tokens;
        request.options.sampling = spec.sampling;
        request.options.keep = setup.keep;
        request.in_flight = setup.slots;
        request.micro_batch = spec.micro_batch;

        const ClusterOptions options = cluster_options(*this, spec, &RunController::status, &RunController::nodeLost);
        Q_EMIT status("starting " + QString::number(spec.topology.nodes.size()) + " workers");
        Cluster cluster(spec.topology, options);
        cluster.configure(setup.plan, spec.model, model, setup.slots, setup.context);
        Q_EMIT started(cluster.nodes(), spec.prompts);
        Q_EMIT status("generating");

        TokenText text(*model.tokenizer);
        request.on_token = [&](const TokenMark& mark) {
            Q_EMIT tokenArrived({static_cast<int>(mark.sequence), mark.step, mark.token, text.push(mark), mark.at_us, 0});
        };
        request.on_spans = [this](const std::vector<TraceSpan>& spans) { Q_EMIT spansArrived(spans); };
        request.should_stop = [this] { return stop_.load(); };
        const RunResult result = cluster.run(request);
        Q_EMIT finished(result.trace, QString::fromStdString(result.error), result.node_at_fault);
    } catch (const NodeError& e) {
        Q_EMIT finished(RunTrace{}, QString::fromStdString(e.what()), e.node);
    } catch (const std::exception& e) {
        Q_EMIT finished(RunTrace{}, QString::fromStdString(e.what()), -1);
    }
    running_ = false;
}

// The topology as an OpenAI-compatible API: each request a sequence the
// views show as it comes, until Stop. The trace is kept here, as a run's is.
void RunController::serve(const RunSpec& spec) {
    RunTrace trace;
    QString error;
    try {
        const OpenedModel model = open_model(spec.model);
        const int context = model.config.n_positions;
        const ChatTemplate chat = chat_template_of(spec.model.tokenizer_files());
        const int slots = serving_slots(spec.in_flight, std::max(1, spec.topology.stage_count()));
        const Plan plan = make_plan(spec.topology, model.config, slots, context, 1, model.weight_format);
        Q_EMIT status("starting " + QString::number(spec.topology.nodes.size()) + " workers");
        Cluster cluster(spec.topology, cluster_options(*this, spec, &RunController::status, &RunController::nodeLost));
        cluster.configure(plan, spec.model, model, slots, context);
        trace.nodes = cluster.nodes();
        Q_EMIT started(cluster.nodes(), {});

        ServeMetrics metrics(cluster.nodes());
        TokenText text(*model.tokenizer);
        std::mutex arrivals;  // requests arrive on the server's threads
        int requests = 0;
        ServingObservers observers;
        observers.on_arrival = [&](int64_t sequence, const std::vector<int>& prompt) {
            std::lock_guard lock(arrivals);
            ++requests;
            Q_EMIT sequenceArrived(static_cast<int>(sequence),
                                   QString::fromStdString(utf8::escape_invalid(model.tokenizer->generated_text(prompt, false))));
        };
        observers.on_token = [&](const TokenMark& mark) {
            trace.tokens.push_back(mark);
            Q_EMIT tokenArrived({static_cast<int>(mark.sequence), mark.step, mark.token, text.push(mark), mark.at_us, 0});
        };
        observers.on_spans = [&](const std::vector<TraceSpan>& spans) {
            trace.spans.insert(trace.spans.end(), spans.begin(), spans.end());
            Q_EMIT spansArrived(spans);
        };
        const auto t0 = std::chrono::steady_clock::now();
        {
            ServingSession session(cluster, slots, 64, spec.micro_batch, &metrics, observers);
            const std::string name = spec.model.name();
            ApiServerOptions http;
            http.port = spec.port;
            ApiServer server(session, metrics, {name, model.tokenizer.get(), end_of_text_ids(model), context, chat}, http);
            server.bind();
            std::thread listening([&server] { server.listen(); });
            const QString address = "http://127.0.0.1:" + QString::number(server.port()) + "/v1";
            Q_EMIT serving(address);
            Q_EMIT status("Serving " + QString::fromStdString(name) + " on " + address + " to " + QString::number(slots) +
                          " requests at once: each request is a sequence here");
            while (!stop_ && !session.failure()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (const auto failure = session.failure()) error = QString::fromStdString(*failure);
            server.stop();
            listening.join();
        }  // the session ends its run: open requests end
        trace.wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        trace.sequences = requests;
        std::sort(trace.spans.begin(), trace.spans.end(), [](const TraceSpan& a, const TraceSpan& b) { return a.t0_us < b.t0_us; });
    } catch (const NodeError& e) {
        Q_EMIT finished(RunTrace{}, QString::fromStdString(e.what()), e.node);
        return;
    } catch (const std::exception& e) {
        Q_EMIT finished(RunTrace{}, QString::fromStdString(e.what()), -1);
        return;
    }
    Q_EMIT finished(trace, error, -1);
}

}  // namespace distgpt::ui
