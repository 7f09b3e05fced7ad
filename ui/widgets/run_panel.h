#pragma once
#include "sample/sampler.h"

#include <QWidget>

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSlider;
class QSpinBox;

namespace distgpt::ui {

// Prompts (one per sequence), scheduling, sampling, slow motion; Run and Stop,
// with the reason beside Run when the run cannot start.
class RunPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunPanel(QWidget* parent = nullptr);
    QStringList prompts() const;
    int inFlight() const;
    int microBatch() const;
    int maxNewTokens() const;
    int keep() const;  // tokens a full context keeps as it slides; 0: half
    // How many times slower than measured the views show the run (1: as it happens).
    double slowMotion() const;
    SamplingParams sampling() const;
    // Serve: the topology answers an OpenAI-compatible API instead of running the prompts.
    bool serving() const;
    int servePort() const;
    // While serving: where the API listens (empty: not serving).
    void setServingAddress(const QString& address);
    void setRunning(bool running);
    // Whether a run can start; `reason` says why not.
    void setRunnable(bool runnable, const QString& reason);

Q_SIGNALS:
    void runRequested();
    void stopRequested();
    void slowMotionChanged(double factor);
    void changed();  // prompts or sequences in flight: the plan's KV cache changes

private:
    void createFields();
    void createSlowMotion();
    void createButtons();
    void createServe();
    void updateServe();
    void layOut();
    void updateRunButton();
    QPlainTextEdit* prompts_;
    QSpinBox *inFlight_, *microBatch_, *maxTokens_, *keep_, *topK_, *seed_;
    QDoubleSpinBox *temperature_, *topP_;
    QSlider* slowMotion_;
    QLabel *slowLabel_, *reason_, *serveAddress_;
    QCheckBox* serve_;
    QSpinBox* servePort_;
    QPushButton *run_, *stop_;
    bool running_ = false, runnable_ = true;
};

}  // namespace distgpt::ui
