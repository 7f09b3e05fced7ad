#pragma once
#include "models/run_prediction.h"
#include "trace/run_metrics.h"

#include <QWidget>

#include <optional>
#include <utility>

class QLabel;
class QTableWidget;

namespace distgpt::ui {

// "What if": the cost model's prediction of the run the app is set up for,
// changing as the topology or the run settings change (change a link's
// bandwidth or a node's speed and watch the numbers move); after a run,
// what was measured beside what was predicted, per node.
class PredictionPanel : public QWidget {
    Q_OBJECT
public:
    explicit PredictionPanel(RunPrediction* prediction, QWidget* parent = nullptr);

    // A run ended: `measured` beside `predicted` (the prediction it started with).
    // The setup changed: the last run is no longer beside the prediction.
    void forgetMeasured();
    void showMeasured(const PredictedRun& predicted, const RunMetrics& measured);

private:
    void showPrediction();
    void showMeasuredRows();
    void fitRows();

    RunPrediction* prediction_;
    QLabel *headline_, *bound_, *choice_, *shape_, *measured_;
    QTableWidget* nodes_;
    // The last run measured, and the prediction it started with: shown
    // again while the prediction is the same (nothing changed since).
    std::optional<std::pair<PredictedRun, RunMetrics>> measured_run_;
};

}  // namespace distgpt::ui
