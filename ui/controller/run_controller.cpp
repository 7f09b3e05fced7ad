#include "controller/run_controller.h"

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
        RunRequest request;
        std::size_t longest = 0;
        for (const auto& p : spec.prompts) {
            const std::string text = p.toStdString();
            request.prompts.push_back(text.empty() && model.tokenizer->eos_id() ? std::vector<int>{*model.tokenizer->eos_id()}
                                                                                : model.tokenizer->encode(text));
            longest = std::max(longest, request.prompts.back().size());
        }
        if (request.prompts.empty()) throw Error("write at least one prompt");
        request.options.max_new_tokens = spec.max_new_tokens;
        request.options.sampling = spec.sampling;
        Sampler check(spec.sampling);
        const int stages = spec.topology.stage_count();
        const int slots = sequence_slots(static_cast<int>(request.prompts.size()), spec.in_flight, stages);
        request.in_flight = slots, request.micro_batch = spec.micro_batch;
        const int context = std::min<int>(model.config.n_positions, static_cast<int>(longest) + spec.max_new_tokens);
        if (static_cast<int>(longest) >= context) throw Error("the longest prompt fills the model's whole context");
        const Plan plan = make_plan(spec.topology, model.config, slots, context);

        ClusterOptions options;
        options.controller_name = "distgpt desktop";
        options.key_file = spec.key_file.toStdString();
        options.on_status = [this](const std::string& s) { Q_EMIT status(QString::fromStdString(s)); };
        options.on_node_lost = [this](const NodeLoss& loss) {
            Q_EMIT nodeLost(loss.node, QString::fromStdString(loss.why), !loss.recovery.empty());
        };
        Q_EMIT status("starting " + QString::number(spec.topology.nodes.size()) + " workers");
        Cluster cluster(spec.topology, options);
        cluster.configure(plan, spec.model, model, slots, context);
        Q_EMIT started(cluster.nodes(), spec.prompts);
        Q_EMIT status("generating");

        std::map<int64_t, std::string> pending;  // bytes of a character split across tokens, per sequence
        request.on_token = [&](const TokenMark& mark) {
            auto& bytes = pending[mark.sequence];
            if (model.tokenizer->has_token(mark.token)) bytes += model.tokenizer->token_bytes(mark.token);
            const std::size_t ready = utf8::complete_prefix(bytes);
            LiveToken t{static_cast<int>(mark.sequence), mark.step, mark.token,
                        QString::fromStdString(utf8::escape_invalid(bytes.substr(0, ready))), mark.at_us, 0};
            bytes.erase(0, ready);
            Q_EMIT tokenArrived(t);
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
