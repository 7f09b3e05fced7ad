#include "widgets/run_panel.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

namespace distgpt::ui {

namespace {
// The slow-motion stops: how many times slower than measured.
constexpr double kSlowMotion[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
constexpr int kSlowMotionStops = static_cast<int>(std::size(kSlowMotion));
}  // namespace

RunPanel::RunPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("runPanel");
    createFields();
    createSlowMotion();
    createButtons();
    createServe();
    layOut();
    connect(run_, &QPushButton::clicked, this, &RunPanel::runRequested);
    connect(stop_, &QPushButton::clicked, this, &RunPanel::stopRequested);
    connect(prompts_, &QPlainTextEdit::textChanged, this, &RunPanel::changed);
    // What the plan and the prediction depend on.
    for (QSpinBox* b : {inFlight_, microBatch_, maxTokens_}) connect(b, &QSpinBox::valueChanged, this, &RunPanel::changed);
    connect(serve_, &QCheckBox::toggled, this, [this](bool on) {
        QSettings().setValue("run/serve", on);
        updateServe();
        Q_EMIT changed();
    });
    updateServe();
}

void RunPanel::createServe() {
    QSettings s;
    serve_ = new QCheckBox("Serve an API");
    serve_->setObjectName("serveSwitch");
    serve_->setChecked(s.value("run/serve", false).toBool());
    serve_->setToolTip(
        "Instead of running the prompts, the topology answers an OpenAI-compatible API (chat and completions) on this machine: "
        "every request is a sequence, shown live in the token stream, the live view and the timeline. Requests bring their own "
        "sampling; Sequences in flight is how many generate at once.");
    servePort_ = new QSpinBox;
    servePort_->setObjectName("servePort");
    servePort_->setRange(1, 65535);
    servePort_->setValue(s.value("run/servePort", 8080).toInt());
    servePort_->setToolTip("The port the API listens on, on loopback (127.0.0.1)");
    serveAddress_ = new QLabel;
    serveAddress_->setObjectName("serveAddress");
    serveAddress_->setWordWrap(true);
    serveAddress_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    serveAddress_->hide();
}

// Serving, the prompts and the sampling are the requests': their fields rest.
void RunPanel::updateServe() {
    const bool on = serve_->isChecked();
    for (QWidget* w : std::initializer_list<QWidget*>{prompts_, maxTokens_, keep_, temperature_, topK_, topP_, seed_}) w->setEnabled(!on);
    servePort_->setEnabled(on && !running_);
    inFlight_->setSpecialValueText(on ? "at least 4, one per stage" : "one per stage");
    run_->setText(on ? "Serve" : "Run");
    run_->setToolTip(on ? "Start the workers and serve the API (Ctrl+R)" : "Start the workers and generate (Ctrl+R)");
}

bool RunPanel::serving() const { return serve_->isChecked(); }
int RunPanel::servePort() const { return servePort_->value(); }

void RunPanel::setServingAddress(const QString& address) {
    serveAddress_->setText(address.isEmpty() ? QString()
                                             : "Serving on " + address + "\ncurl " + address +
                                                   "/chat/completions -d '{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}'");
    serveAddress_->setVisible(!address.isEmpty());
}

// The run's settings, as the last session left them.
void RunPanel::createFields() {
    QSettings s;
    // Three prompts for the three stages of the default pipeline: every stage busy.
    prompts_ = new QPlainTextEdit(s.value("run/prompts", "ROMEO:\nJULIET:\nHAMLET:").toString());
    prompts_->setObjectName("prompts");
    prompts_->setToolTip("One prompt per line; each is one sequence. With as many sequences as stages, no stage waits for another.");
    prompts_->setMinimumHeight(48);
    prompts_->setMaximumHeight(80);
    auto spin = [](const char* name, int lo, int hi, int value, const QString& tip) {
        auto* b = new QSpinBox;
        b->setObjectName(name);
        b->setRange(lo, hi);
        b->setValue(value);
        b->setToolTip(tip);
        return b;
    };
    inFlight_ = spin("inFlight", 0, 64, s.value("run/inFlight", 0).toInt(),
                     "Sequences in flight: how many sequences move through the pipeline at once. While one stage works on a "
                     "sequence, the others work on the others (recurrent pipelining). \"one per stage\" keeps every stage busy.");
    inFlight_->setSpecialValueText("one per stage");
    microBatch_ = spin("microBatch", 1, 16, s.value("run/microBatch", 1).toInt(),
                       "Micro-batch: how many sequences travel together in one message. Larger batches send fewer, bigger messages.");
    // A scene's length: past the demo models' 128-token context, the window slides.
    maxTokens_ = spin("maxTokens", 1, 1 << 20, s.value("run/maxTokens", 400).toInt(),
                      "How many tokens each sequence generates at most. Past the model's context the window slides: its last "
                      "tokens (Keep) are fed again from the start, and generation goes on.");
    keep_ = spin("keepTokens", 0, 1 << 20, s.value("run/keep", 0).toInt(),
                 "When a sequence fills its context, the tokens it keeps: every stage shifts its window (the timeline shows it as "
                 "its own span) and generation goes on. Must be less than the context.");
    keep_->setSpecialValueText("half the context");
    topK_ = spin("topK", 0, 100000, s.value("run/topK", 0).toInt(), "Sample only among the k likeliest tokens; off: all of them.");
    topK_->setSpecialValueText("off");
    seed_ = spin("seed", 0, 1 << 30, s.value("run/seed", 1).toInt(), "The same seed gives the same text on every topology.");
    temperature_ = new QDoubleSpinBox;
    temperature_->setObjectName("temperature");
    temperature_->setRange(0, 5);
    temperature_->setSingleStep(0.1);
    temperature_->setValue(s.value("run/temperature", 0.8).toDouble());
    temperature_->setSpecialValueText("0 (greedy)");
    temperature_->setToolTip("Lower: safer, more repetitive text. 0 always takes the likeliest token.");
    topP_ = new QDoubleSpinBox;
    topP_->setObjectName("topP");
    topP_->setRange(0.01, 1);
    topP_->setSingleStep(0.05);
    topP_->setValue(s.value("run/topP", 1.0).toDouble());
    topP_->setToolTip("Sample among the likeliest tokens that together hold this much probability; 1: all of them.");
}

void RunPanel::createSlowMotion() {
    QSettings s;
    slowMotion_ = new QSlider(Qt::Horizontal);
    slowMotion_->setObjectName("slowMotion");
    slowMotion_->setRange(0, kSlowMotionStops - 1);
    slowMotion_->setPageStep(1);
    slowMotion_->setValue(std::clamp(s.value("run/slowMotionStop", 0).toInt(), 0, kSlowMotionStops - 1));
    slowMotion_->setToolTip(
        "Show the measured run this many times slower: compute and messages stretch alike, so it looks like the "
        "real run, only slower. The run itself goes at full speed; the views catch up after it ends.");
    slowLabel_ = new QLabel;
    slowLabel_->setObjectName("slowMotionLabel");
    slowLabel_->setMinimumWidth(QFontMetrics(font()).horizontalAdvance("5000× slower"));
    slowMotion_->setMinimumWidth(60);
    auto updateSlow = [this] { slowLabel_->setText(slowMotion() > 1 ? QString::number(slowMotion()) + "× slower" : "real time"); };
    updateSlow();
    connect(slowMotion_, &QSlider::valueChanged, this, [this, updateSlow] {
        updateSlow();
        QSettings().setValue("run/slowMotionStop", slowMotion_->value());
        Q_EMIT slowMotionChanged(slowMotion());
    });
}

void RunPanel::createButtons() {
    run_ = new QPushButton("Run");
    run_->setObjectName("runButton");
    run_->setToolTip("Start the workers and generate (Ctrl+R)");
    stop_ = new QPushButton("Stop");
    stop_->setObjectName("stopButton");
    stop_->setToolTip("Stop the run; every token made so far is kept (Esc)");
    stop_->setShortcut(QKeySequence(Qt::Key_Escape));
    stop_->setEnabled(false);
    reason_ = new QLabel;
    reason_->setObjectName("runBlockedReason");
    reason_->setWordWrap(true);
    reason_->setStyleSheet("color: #b91c1c");
    reason_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    reason_->hide();
}

void RunPanel::layOut() {
    // Rows keep their height; spare room goes below the last one.
    auto* outer = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    outer->addLayout(form);
    outer->addStretch(1);
    form->setLabelAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(run_);
    buttons->addWidget(stop_);
    form->addRow(buttons);
    form->addRow(reason_);
    auto* serve = new QHBoxLayout;
    serve->addWidget(serve_);
    serve->addWidget(new QLabel("port"));
    serve->addWidget(servePort_);
    serve->addStretch(1);
    form->addRow(serve);
    form->addRow(serveAddress_);
    form->addRow("Prompts", prompts_);
    auto* slow = new QHBoxLayout;
    slow->addWidget(slowMotion_, 1);
    slow->addWidget(slowLabel_);
    form->addRow("Slow motion", slow);
    form->addRow("Sequences in flight", inFlight_);
    form->addRow("Micro-batch", microBatch_);
    form->addRow("Max new tokens", maxTokens_);
    form->addRow("Keep at a shift", keep_);
    form->addRow("Temperature", temperature_);
    form->addRow("Top-k", topK_);
    form->addRow("Top-p", topP_);
    form->addRow("Seed", seed_);
    for (int row = 0; row < form->rowCount(); ++row)
        if (auto* label = form->itemAt(row, QFormLayout::LabelRole); label && label->widget())
            if (auto* field = form->itemAt(row, QFormLayout::FieldRole); field && field->widget())
                label->widget()->setToolTip(field->widget()->toolTip());
}

QStringList RunPanel::prompts() const { return prompts_->toPlainText().split('\n', Qt::SkipEmptyParts); }
int RunPanel::inFlight() const { return inFlight_->value(); }
int RunPanel::microBatch() const { return microBatch_->value(); }
int RunPanel::maxNewTokens() const { return maxTokens_->value(); }
int RunPanel::keep() const { return keep_->value(); }
double RunPanel::slowMotion() const { return kSlowMotion[std::clamp(slowMotion_->value(), 0, kSlowMotionStops - 1)]; }

SamplingParams RunPanel::sampling() const {
    return {static_cast<float>(temperature_->value()), topK_->value(), static_cast<float>(topP_->value()),
            static_cast<uint64_t>(seed_->value())};
}

void RunPanel::setRunnable(bool runnable, const QString& reason) {
    runnable_ = runnable;
    reason_->setText(reason);
    reason_->setVisible(!runnable && !reason.isEmpty());
    updateRunButton();
}

void RunPanel::updateRunButton() {
    run_->setEnabled(!running_ && runnable_);
    stop_->setEnabled(running_);
}

void RunPanel::setRunning(bool running) {
    running_ = running;
    updateRunButton();
    servePort_->setEnabled(serve_->isChecked() && !running);
    serve_->setEnabled(!running);
    if (!running) setServingAddress({});
    if (running) {
        QSettings s;
        s.setValue("run/prompts", prompts_->toPlainText());
        s.setValue("run/inFlight", inFlight_->value());
        s.setValue("run/microBatch", microBatch_->value());
        s.setValue("run/maxTokens", maxTokens_->value());
        s.setValue("run/keep", keep_->value());
        s.setValue("run/temperature", temperature_->value());
        s.setValue("run/topK", topK_->value());
        s.setValue("run/topP", topP_->value());
        s.setValue("run/seed", seed_->value());
        s.setValue("run/servePort", servePort_->value());
    }
}

}  // namespace distgpt::ui
