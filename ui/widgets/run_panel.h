#pragma once
#include "sample/sampler.h"

#include <QWidget>

class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSlider;
class QSpinBox;

namespace distgpt::ui {

// Prompts (one per sequence), scheduling, sampling, slow motion; Run and Stop.
class RunPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunPanel(QWidget* parent = nullptr);
    QStringList prompts() const;
    int inFlight() const;
    int microBatch() const;
    int maxNewTokens() const;
    int hopDelayMs() const;
    SamplingParams sampling() const;
    void setRunning(bool running);

Q_SIGNALS:
    void runRequested();
    void stopRequested();

private:
    QPlainTextEdit* prompts_;
    QSpinBox *inFlight_, *microBatch_, *maxTokens_, *topK_, *seed_;
    QDoubleSpinBox *temperature_, *topP_;
    QSlider* slowMotion_;
    QLabel* slowLabel_;
    QPushButton *run_, *stop_;
};

}  // namespace distgpt::ui
