#include "controller/run_controller.h"

#include "plan/run_setup.h"
#include "runtime/controller/cluster.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <map>

namespace distgpt::ui {

RunController::RunController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<std::vector<TraceSpan>>();
    qRegisterMetaType<std::vector<TraceNode>>();
    qRegisterMetaType<LiveToken>();
    qRegisterMetaType<RunTrace>();
    qRegisterMetaType<RunSpec>();
}

RunController::~RunController() = default;

void RunController::start(const RunSpec& spec) {
    running_ = true;
    stop_ = false;
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

        ClusterOptions options;
        options.controller_name = "distgpt desktop";
        if (!spec.key_file.isEmpty()) options.keys = net::read_key_pair(spec.key_file.toStdString());
        options.on_status = [this](const std::string& s) { Q_EMIT status(QString::fromStdString(s)); };
        options.on_node_lost = [this](const NodeLoss& loss) {
            Q_EMIT nodeLost(loss.node, QString::fromStdString(loss.why), !loss.recovery.empty());
        };
        Q_EMIT status("starting " + QString::number(spec.topology.nodes.size()) + " workers");
        Cluster cluster(spec.topology, options);
        cluster.configure(setup.plan, spec.model, model, setup.slots, setup.context);
        Q_EMIT started(cluster.nodes(), spec.prompts);
        Q_EMIT status("generating");

        std::map<int64_t, utf8::CharacterStream> text;  // per sequence: a character may span tokens
        request.on_token = [&](const TokenMark& mark) {
            const std::string bytes = model.tokenizer->has_token(mark.token) ? model.tokenizer->token_bytes(mark.token) : std::string();
            Q_EMIT tokenArrived({static_cast<int>(mark.sequence), mark.step, mark.token,
                                 QString::fromStdString(utf8::escape_invalid(text[mark.sequence].push(bytes))), mark.at_us, 0});
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

}  // namespace distgpt::ui
