#pragma once
#include "controller/run_controller.h"
#include "plan/cost_model.h"

#include <QObject>
#include <QString>
#include <QStringList>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace distgpt::ui {

// What the cost model expects of the run the app is set up for.
struct PredictedRun {
    bool ok = false;
    QString problem;         // why there is no prediction
    QString strategyChoice;  // strategy auto: which, and why
    // Strategy auto: the strategy it chose and its tensor-parallel degree (the topology predicted).
    std::optional<std::pair<Strategy, int>> chosen;
    Prediction prediction;
    QStringList nodeNames;  // the topology's, in order
    RunShape shape;
};

// The app's "what if": every change to the topology or the run asks for a
// prediction; a thread of its own opens the model, plans, measures this
// machine if it never has (a few seconds, once per model shape; then
// cached) and predicts; the newest request wins, and `predicted` says when
// latest() holds its answer.
class RunPrediction : public QObject {
    Q_OBJECT
public:
    explicit RunPrediction(QObject* parent = nullptr);
    ~RunPrediction() override;

    void request(const RunSpec& spec);
    void clear(const QString& why);  // nothing to predict, and why
    // A finished run of `spec` teaches the model its costs beyond the layers
    // (learn_costs), kept with this machine's rates for every later
    // prediction; done on the prediction's thread, before its next request.
    void learnFrom(const RunSpec& spec, const RunTrace& trace);
    const PredictedRun& latest() const { return latest_; }
    bool busy() const { return busy_; }

Q_SIGNALS:
    void predicted();

private:
    void work();
    static PredictedRun compute(const RunSpec& spec);
    static void learn(const RunSpec& spec, const RunTrace& trace);

    std::mutex mutex_;
    std::condition_variable wake_;
    std::optional<RunSpec> pending_;
    std::optional<std::pair<RunSpec, RunTrace>> lesson_;
    quint64 asked_ = 0;  // requests so far: an answer to an older one is dropped
    bool stopping_ = false, busy_ = false;
    PredictedRun latest_;
    std::thread thread_;  // last: started once the rest exists
};

}  // namespace distgpt::ui
