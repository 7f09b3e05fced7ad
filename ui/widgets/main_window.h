#pragma once
#include "controller/run_controller.h"
#include "models/run_state.h"
#include "models/topology_document.h"

#include <QMainWindow>
#include <QThread>

#include <memory>

class QComboBox;
class QElapsedTimer;
class QLabel;

namespace distgpt::ui {

class ChartsView;
class ModelPanel;
class NodeEditor;
class RunPanel;
class TimelineView;
class TokenStream;
class TopologyView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    TopologyDocument* document() { return &document_; }
    const RunState& runState() const { return state_; }
    bool running() const { return running_; }

    // Export the last run (throw distgpt::Error on failure).
    void exportChromeTrace(const QString& file) const;
    void exportCsv(const QString& file) const;
    void exportMetrics(const QString& file) const;
    void exportTimeline(const QString& file);  // .png or .svg
    void exportCharts(const QString& folder);  // each chart as PNG and SVG
    void saveRun(const QString& file) const;
    void replayRun(const QString& file, double speed = 1.0);  // drives the views, no worker needed

public Q_SLOTS:
    void startRun();
    void stopRun();

protected:
    void closeEvent(QCloseEvent* e) override;

private:
    void replan();
    void tick();
    void buildMenus();
    void openTopology();
    void saveTopology();
    void exportDialog(const QString& what);

    TopologyDocument document_;
    RunState state_;
    QThread controllerThread_;
    RunController* controller_ = nullptr;
    TopologyView* topologyView_;
    TimelineView* timeline_;
    ChartsView* charts_;
    TokenStream* tokens_;
    ModelPanel* model_;
    RunPanel* run_;
    NodeEditor* nodeEditor_;
    QComboBox* strategy_;
    QLabel *planLabel_, *spanDetails_, *statusLabel_;
    QTimer* timer_;
    qint64 runStartedMs_ = 0;
    QElapsedTimer* clock_;
    bool running_ = false;
    int chartTick_ = 0;
    // Replay: what is still to be shown, and when.
    struct Replay;
    std::unique_ptr<Replay> replay_;
};

}  // namespace distgpt::ui
