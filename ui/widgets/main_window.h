#pragma once
#include "controller/run_controller.h"
#include "models/playback_clock.h"
#include "models/run_prediction.h"
#include "models/run_state.h"
#include "models/topology_document.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QThread>

class QAction;
class QComboBox;
class QLabel;

namespace distgpt::ui {

class ChartsView;
class ModelPanel;
class LinkEditor;
class NodeEditor;
class PredictionPanel;
class RunPanel;
class TimelineView;
class TokenStream;
class TopologyView;
class WorkersPanel;

// The app: the topology editor in the middle, the run and model panels on
// the right, the token stream, timeline and charts below. Every view shows
// one run — the one going on, or the last one — at one time shown: as it
// happens, slowed down, or replayed; all of them reset when a run starts or
// the topology changes.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    TopologyDocument* document() { return &document_; }
    const RunState& runState() const { return state_; }
    bool running() const { return running_; }
    // The run time the views show now, and whether they show a finished run to its end.
    double shownUs() const;
    bool showingDone() const;
    // Why Run is disabled (empty when it is not).
    QString runBlockedReason() const { return blocked_; }
    QSize exportSize() const { return exportSize_; }  // chosen in File > Export last run > Image size

    // Export the last run (throw distgpt::Error on failure). Images are
    // rendered off screen at exportSize(), with a title and a legend.
    void exportChromeTrace(const QString& file) const;
    void exportCsv(const QString& file) const;
    void exportMetrics(const QString& file) const;
    void exportTimeline(const QString& file) const;  // .png or .svg
    void exportCharts(const QString& folder) const;  // each chart as PNG and SVG
    void saveRun(const QString& file) const;
    // A topology file as distgpt-cli run reads it, with the model panel's
    // weight format; opening one sets the panel's format if the file names one.
    void saveTopologyTo(const QString& file) const;
    void openTopologyFrom(const QString& file);
    void replayRun(const QString& file);  // drives the views at the slow-motion speed, no worker needed

public Q_SLOTS:
    void startRun();
    void stopRun();
    void skipToEnd();

protected:
    void closeEvent(QCloseEvent* e) override;
    void showEvent(QShowEvent* e) override;

private:
    void buildDocks();
    void buildToolbars();
    void buildMenus();
    void connectController();
    void fitScreen();
    void replan();
    void predict(const QString& problem);
    RunSpec currentSpec() const;
    void topologyChanged();
    void clearRun();
    void tick();
    void syncStrategy();
    void openTopology();
    void saveTopology();
    void exportDialog(const QString& what);
    QString exportTitle() const;
    QString dialogFolder(const QString& kind) const;
    void rememberFolder(const QString& kind, const QString& file);

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
    LinkEditor* linkEditor_;
    WorkersPanel* workersPanel_;
    RunPrediction* prediction_;
    PredictionPanel* predictionPanel_;
    PredictedRun runPredicted_;  // the prediction the last run started with
    RunSpec runSpec_;            // and what it was asked
    QComboBox* strategy_;
    QLabel *planLabel_, *spanDetails_, *statusLabel_;
    QAction *runAction_, *stopAction_, *skipAction_;
    QTimer* timer_;
    QElapsedTimer wall_;
    PlaybackClock playback_;
    bool running_ = false;
    bool choosingStrategy_ = false;  // strategy auto picked (or opened): the next prediction's choice is taken
    void chooseStrategy();           // takes it
    QString servingAddress_;         // where the API listens while serving; empty otherwise
    bool replaying_ = false;
    QString blocked_, finalStatus_;
    std::pair<quint64, double> chartsShown_{0, -1};  // run and time the charts show
    qint64 chartsAt_ = 0;
    quint64 fittedRun_ = 0;  // the run the timeline was last fitted to
    QSize exportSize_{1920, 1080};
};

}  // namespace distgpt::ui
