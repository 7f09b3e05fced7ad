#pragma once
#include "engine/model_source.h"
#include "models/run_state.h"
#include "plan/topology.h"
#include "sample/sampler.h"

#include <QObject>
#include <QStringList>

#include <atomic>
#include <vector>

Q_DECLARE_METATYPE(std::vector<distgpt::TraceSpan>)
Q_DECLARE_METATYPE(std::vector<distgpt::TraceNode>)
Q_DECLARE_METATYPE(distgpt::ui::LiveToken)
Q_DECLARE_METATYPE(distgpt::RunTrace)

namespace distgpt::ui {

struct RunSpec {
    Topology topology;
    ModelSource model;
    QStringList prompts;
    int in_flight = 0, micro_batch = 1, max_new_tokens = 64;
    int keep = 0;  // tokens a full context keeps as it slides; 0: half
    SamplingParams sampling;
    QString key_file;  // this controller's CURVE key pair, for workers that authenticate
    // Serve: the topology answers an OpenAI-compatible API on `port` instead
    // of running the prompts; `in_flight` requests generate at once.
    bool serve = false;
    int port = 8080;
};

// Adapts core to Qt: plans, launches or attaches the workers, configures and
// runs on its own thread, and reports what happens as queued signals. The
// GUI never blocks on the network.
class RunController : public QObject {
    Q_OBJECT
public:
    explicit RunController(QObject* parent = nullptr);
    ~RunController() override;

    // Thread-safe: asks a running run to stop at its next poll.
    void requestStop() { stop_ = true; }
    bool running() const { return running_; }

public Q_SLOTS:
    void start(const distgpt::ui::RunSpec& spec);  // call through a queued connection

Q_SIGNALS:
    void status(const QString& message);
    void started(const std::vector<distgpt::TraceNode>& nodes, const QStringList& prompts);
    void spansArrived(const std::vector<distgpt::TraceSpan>& spans);
    void tokenArrived(const distgpt::ui::LiveToken& token);
    // Serving: the API listens at `address`; a request became sequence `sequence`.
    void serving(const QString& address);
    void sequenceArrived(int sequence, const QString& prompt);
    // A node lost during the run (`recovered`: the run went on without it).
    void nodeLost(int node, const QString& why, bool recovered);
    // `nodeAtFault`: the node whose failure or error ended the run, or -1.
    void finished(const distgpt::RunTrace& trace, const QString& error, int nodeAtFault);

private:
    void serve(const RunSpec& spec);
    std::atomic<bool> stop_{false};
    std::atomic<bool> running_{false};
};

}  // namespace distgpt::ui

Q_DECLARE_METATYPE(distgpt::ui::RunSpec)
