#include "widgets/run_panel.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>

namespace distgpt::ui {

RunPanel::RunPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("runPanel");
    QSettings s;
    prompts_ = new QPlainTextEdit(s.value("run/prompts", "ROMEO:\nJULIET:").toString());
    prompts_->setObjectName("prompts");
    prompts_->setToolTip("One prompt per line; each is one sequence.");
    prompts_->setMaximumHeight(90);
    auto spin = [](const char* name, int lo, int hi, int value) {
        auto* b = new QSpinBox;
        b->setObjectName(name);
        b->setRange(lo, hi);
        b->setValue(value);
        return b;
    };
    inFlight_ = spin("inFlight", 0, 64, s.value("run/inFlight", 0).toInt());
    inFlight_->setSpecialValueText("one per stage");
    microBatch_ = spin("microBatch", 1, 16, s.value("run/microBatch", 1).toInt());
    maxTokens_ = spin("maxTokens", 1, 4096, s.value("run/maxTokens", 80).toInt());
    topK_ = spin("topK", 0, 100000, s.value("run/topK", 0).toInt());
    topK_->setSpecialValueText("off");
    seed_ = spin("seed", 0, 1 << 30, s.value("run/seed", 1).toInt());
    temperature_ = new QDoubleSpinBox;
    temperature_->setObjectName("temperature");
    temperature_->setRange(0, 5);
    temperature_->setSingleStep(0.1);
    temperature_->setValue(s.value("run/temperature", 0.8).toDouble());
    temperature_->setSpecialValueText("0 (greedy)");
    topP_ = new QDoubleSpinBox;
    topP_->setObjectName("topP");
    topP_->setRange(0.01, 1);
    topP_->setSingleStep(0.05);
    topP_->setValue(s.value("run/topP", 1.0).toDouble());
    slowMotion_ = new QSlider(Qt::Horizontal);
    slowMotion_->setObjectName("slowMotion");
    slowMotion_->setRange(0, 1000);
    slowMotion_->setValue(s.value("run/slowMotion", 0).toInt());
    slowLabel_ = new QLabel;
    auto updateSlow = [this] { slowLabel_->setText(slowMotion_->value() ? QString::number(slowMotion_->value()) + " ms per hop" : "full speed"); };
    updateSlow();
    connect(slowMotion_, &QSlider::valueChanged, this, updateSlow);
    run_ = new QPushButton("Run");
    run_->setObjectName("runButton");
    run_->setShortcut(QKeySequence("Ctrl+R"));
    run_->setToolTip("Start the workers and generate (Ctrl+R)");
    stop_ = new QPushButton("Stop");
    stop_->setObjectName("stopButton");
    stop_->setShortcut(QKeySequence(Qt::Key_Escape));
    stop_->setEnabled(false);

    auto* form = new QFormLayout(this);
    form->addRow("Prompts", prompts_);
    form->addRow("Sequences in flight", inFlight_);
    form->addRow("Micro-batch", microBatch_);
    form->addRow("Max new tokens", maxTokens_);
    form->addRow("Temperature", temperature_);
    form->addRow("Top-k", topK_);
    form->addRow("Top-p", topP_);
    form->addRow("Seed", seed_);
    auto* slow = new QHBoxLayout;
    slow->addWidget(slowMotion_);
    slow->addWidget(slowLabel_);
    form->addRow("Slow motion", slow);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(run_);
    buttons->addWidget(stop_);
    form->addRow(buttons);
    connect(run_, &QPushButton::clicked, this, &RunPanel::runRequested);
    connect(stop_, &QPushButton::clicked, this, &RunPanel::stopRequested);
}

QStringList RunPanel::prompts() const { return prompts_->toPlainText().split('\n', Qt::SkipEmptyParts); }
int RunPanel::inFlight() const { return inFlight_->value(); }
int RunPanel::microBatch() const { return microBatch_->value(); }
int RunPanel::maxNewTokens() const { return maxTokens_->value(); }
int RunPanel::hopDelayMs() const { return slowMotion_->value(); }

SamplingParams RunPanel::sampling() const {
    return {static_cast<float>(temperature_->value()), topK_->value(), static_cast<float>(topP_->value()), static_cast<uint64_t>(seed_->value())};
}

void RunPanel::setRunning(bool running) {
    run_->setEnabled(!running);
    stop_->setEnabled(running);
    if (running) {
        QSettings s;
        s.setValue("run/prompts", prompts_->toPlainText());
        s.setValue("run/inFlight", inFlight_->value());
        s.setValue("run/microBatch", microBatch_->value());
        s.setValue("run/maxTokens", maxTokens_->value());
        s.setValue("run/temperature", temperature_->value());
        s.setValue("run/topK", topK_->value());
        s.setValue("run/topP", topP_->value());
        s.setValue("run/seed", seed_->value());
        s.setValue("run/slowMotion", slowMotion_->value());
    }
}

}  // namespace distgpt::ui
