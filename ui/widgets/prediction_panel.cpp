#include "widgets/prediction_panel.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

namespace distgpt::ui {

namespace {

enum Column { NodeColumn, PredictedBusy, StepMs, AllReduceMs, MeasuredBusy, Columns };

QLabel* wrapping(const char* name) {
    auto* l = new QLabel;
    l->setObjectName(name);
    l->setWordWrap(true);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return l;
}

QTableWidgetItem* cell(const QString& text) {
    auto* item = new QTableWidgetItem(text);
    item->setFlags(Qt::ItemIsEnabled);
    return item;
}

}  // namespace

PredictionPanel::PredictionPanel(RunPrediction* prediction, QWidget* parent) : QWidget(parent), prediction_(prediction) {
    setObjectName("predictionPanel");
    headline_ = wrapping("predictedTokensPerSecond");
    QFont big = headline_->font();
    big.setBold(true);
    headline_->setFont(big);
    bound_ = wrapping("predictedBound");
    choice_ = wrapping("predictedStrategy");
    shape_ = wrapping("predictedShape");
    measured_ = wrapping("predictionVsMeasured");
    nodes_ = new QTableWidget(0, Columns);
    nodes_->setObjectName("predictionNodes");
    nodes_->setHorizontalHeaderLabels({"Node", "Busy", "Step", "All-reduce", "Measured"});
    nodes_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    nodes_->horizontalHeader()->setStretchLastSection(true);
    nodes_->verticalHeader()->hide();
    nodes_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    nodes_->setToolTip(
        "Each node's predicted share of the run spent computing (all-reduce waits inside, as the timeline counts them), one decode "
        "step, and of that the all-reduces; after a run, the busy share measured.");
    auto* note = new QLabel(
        "Predicted by distgpt's cost model from this machine's measured speed (once per model shape and threads, then kept) over "
        "each node's declared speed, and each link's network. Change a node's speed or network and watch it move.");
    note->setWordWrap(true);
    note->setStyleSheet("color: palette(mid)");
    auto* layout = new QVBoxLayout(this);
    // The run's numbers first: what a small screen shows without scrolling.
    for (QWidget* w : std::initializer_list<QWidget*>{headline_, measured_, bound_, choice_, shape_, nodes_, note}) layout->addWidget(w);
    layout->addStretch(1);
    choice_->hide();
    measured_->hide();
    connect(prediction_, &RunPrediction::predicted, this, &PredictionPanel::showPrediction);
    showPrediction();
}

void PredictionPanel::showPrediction() {
    const PredictedRun& r = prediction_->latest();
    measured_->hide();
    // The last run stays beside the prediction until the setup changes
    // (forgetMeasured): a prediction that moved because the run taught it
    // is still of that setup.
    if (measured_run_ && r.ok && r.nodeNames != measured_run_->first.nodeNames) measured_run_.reset();
    if (!r.ok) {
        headline_->setText(prediction_->busy() ? "Predicting…" : "No prediction");
        bound_->setText(r.problem);
        choice_->hide();
        shape_->clear();
        nodes_->setRowCount(0);
        fitRows();
        return;
    }
    const Prediction& p = r.prediction;
    headline_->setText(QString("≈ %1 tokens/s · first token %2 ms · a token every %3 ms")
                           .arg(p.tokens_per_second, 0, 'f', 1)
                           .arg(p.first_token_ms, 0, 'f', 0)
                           .arg(p.token_latency_ms, 0, 'f', 1));
    bound_->setText(QString("Bounded by %1. The nodes idle %2% of the time.%3")
                        .arg(QString::fromStdString(p.bottleneck))
                        .arg(100 * p.bubble_fraction, 0, 'f', 0)
                        .arg(p.short_steps ? QString(" ") + kShortStepsNote : QString()));
    choice_->setVisible(!r.strategyChoice.isEmpty());
    choice_->setText("Strategy auto: " + r.strategyChoice);
    shape_->setText(QString("For %1 sequence(s) of %2 prompt and %3 new tokens, %4 in flight, micro-batch %5.")
                        .arg(r.shape.sequences)
                        .arg(r.shape.prompt_tokens)
                        .arg(r.shape.new_tokens)
                        .arg(r.shape.in_flight)
                        .arg(r.shape.micro_batch));
    nodes_->setRowCount(static_cast<int>(p.nodes.size()));
    for (int i = 0; i < static_cast<int>(p.nodes.size()); ++i) {
        nodes_->setItem(i, NodeColumn, cell(i < r.nodeNames.size() ? r.nodeNames[i] : QString::number(i)));
        nodes_->setItem(i, PredictedBusy, cell(QString("%1%").arg(p.nodes[i].busy_percent, 0, 'f', 0)));
        nodes_->setItem(i, StepMs, cell(QString("%1 ms").arg(p.nodes[i].step_ms, 0, 'f', 2)));
        nodes_->setItem(i, AllReduceMs, cell(QString("%1 ms").arg(p.nodes[i].all_reduce_ms, 0, 'f', 2)));
        nodes_->setItem(i, MeasuredBusy, cell(""));
    }
    fitRows();
    showMeasuredRows();
}

// As tall as its rows, no taller (its width is the panel's).
void PredictionPanel::fitRows() {
    int height = nodes_->horizontalHeader()->height() + 2 * nodes_->frameWidth();
    for (int row = 0; row < nodes_->rowCount(); ++row) height += nodes_->rowHeight(row);
    nodes_->setFixedHeight(height);
}

void PredictionPanel::forgetMeasured() {
    measured_run_.reset();
    measured_->hide();
}

void PredictionPanel::showMeasured(const PredictedRun& predicted, const RunMetrics& measured) {
    if (!predicted.ok || predicted.prediction.tokens_per_second <= 0) return;
    measured_run_ = {predicted, measured};
    showMeasuredRows();
}

void PredictionPanel::showMeasuredRows() {
    if (!measured_run_) return;
    const auto& [predicted, measured] = *measured_run_;
    measured_->setText(QString("Measured %1 tokens/s: %2% of the %3 predicted; first token %4 ms (%5 predicted).")
                           .arg(measured.tokens_per_second, 0, 'f', 1)
                           .arg(100 * measured.tokens_per_second / predicted.prediction.tokens_per_second, 0, 'f', 0)
                           .arg(predicted.prediction.tokens_per_second, 0, 'f', 1)
                           .arg(measured.first_token_mean_ms, 0, 'f', 0)
                           .arg(predicted.prediction.first_token_ms, 0, 'f', 0));
    measured_->show();
    for (const auto& node : measured.nodes) {
        const int row = static_cast<int>(predicted.nodeNames.indexOf(QString::fromStdString(node.name)));
        if (row < 0 || row >= nodes_->rowCount()) continue;
        nodes_->setItem(row, MeasuredBusy, cell(QString("%1%").arg(node.busy_percent, 0, 'f', 0)));
    }
}

}  // namespace distgpt::ui
