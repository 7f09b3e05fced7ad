#include "widgets/main_window.h"

#include "models/run_recording.h"
#include "plan/planner.h"
#include "util/error.h"
#include "widgets/charts_view.h"
#include "widgets/model_panel.h"
#include "widgets/node_editor.h"
#include "widgets/palette.h"
#include "widgets/run_panel.h"
#include "widgets/timeline_view.h"
#include "widgets/token_stream.h"
#include "widgets/topology_view.h"

#include <QApplication>
#include <QChartView>
#include <QDir>
#include <QCloseEvent>
#include <QComboBox>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QSvgGenerator>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

#include <fstream>

namespace distgpt::ui {

struct MainWindow::Replay {
    RunRecording recording;
    std::size_t next_span = 0;
    int next_token = 0;
    double speed = 1;
};

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), clock_(new QElapsedTimer) {
    setObjectName("mainWindow");
    setWindowTitle("distgpt");
    topologyView_ = new TopologyView(&document_);
    setCentralWidget(topologyView_);

    auto dock = [this](const QString& title, const char* name, QWidget* w, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(name);
        d->setWidget(w);
        addDockWidget(area, d);
        return d;
    };
    model_ = new ModelPanel;
    run_ = new RunPanel;
    nodeEditor_ = new NodeEditor(&document_);
    tokens_ = new TokenStream;
    timeline_ = new TimelineView;
    auto* timelineBox = new QWidget;
    auto* timelineLayout = new QVBoxLayout(timelineBox);
    timelineLayout->setContentsMargins(0, 0, 0, 0);
    spanDetails_ = new QLabel("Click a span for its details. Wheel: zoom · drag or ←/→: pan · Home: whole run · End: follow.");
    spanDetails_->setObjectName("spanDetails");
    QString legend;
    for (const char* k : {"compute", "send", "receive", "allreduce", "sample"})
        legend += QString("<span style='color:%1'>■</span> %2 &nbsp; ").arg(colorOf(k).name(), k);
    auto* legendLabel = new QLabel(legend);
    timelineLayout->addWidget(timeline_, 1);
    timelineLayout->addWidget(legendLabel);
    timelineLayout->addWidget(spanDetails_);

    auto* modelDock = dock("Model", "modelDock", model_, Qt::RightDockWidgetArea);
    dock("Run", "runDock", run_, Qt::RightDockWidgetArea);
    auto* nodeDock = dock("Node", "nodeDock", nodeEditor_, Qt::RightDockWidgetArea);
    tabifyDockWidget(modelDock, nodeDock);
    modelDock->raise();
    auto* tokenDock = dock("Token stream", "tokenDock", tokens_, Qt::BottomDockWidgetArea);
    auto* timelineDock = dock("Timeline", "timelineDock", timelineBox, Qt::BottomDockWidgetArea);
    charts_ = new ChartsView;
    auto* chartsDock = dock("Charts", "chartsDock", charts_, Qt::BottomDockWidgetArea);
    tabifyDockWidget(timelineDock, chartsDock);
    timelineDock->raise();
    splitDockWidget(tokenDock, timelineDock, Qt::Horizontal);
    resizeDocks({tokenDock, timelineDock}, {380, 700}, Qt::Horizontal);
    resizeDocks({tokenDock}, {300}, Qt::Vertical);

    auto* tools = addToolBar("Topology");
    tools->setObjectName("topologyToolbar");
    for (const QString& preset : TopologyDocument::presetNames()) {
        QAction* a = tools->addAction(preset, this, [this, preset] { document_.applyPreset(preset); });
        a->setObjectName("preset " + preset);
    }
    tools->addSeparator();
    tools->addAction("Add node", this, [this] { document_.addNode(); })->setObjectName("addNode");
    tools->addAction("Remove node", this, [this] { document_.removeNode(topologyView_->selectedNode()); })->setObjectName("removeNode");
    tools->addAction("Balance layers", this, [this] { document_.setLayerRanges({}); })->setObjectName("balanceLayers");
    tools->addSeparator();
    strategy_ = new QComboBox;
    strategy_->setObjectName("strategy");
    strategy_->addItems({"pipeline", "tensor", "hybrid 2", "hybrid 4"});
    tools->addWidget(new QLabel(" Strategy "));
    tools->addWidget(strategy_);
    connect(strategy_, &QComboBox::activated, this, [this](int i) {
        const Strategy s[] = {Strategy::Pipeline, Strategy::Tensor, Strategy::Hybrid, Strategy::Hybrid};
        document_.setStrategy(s[i], i == 3 ? 4 : 2);
    });

    planLabel_ = new QLabel;
    planLabel_->setObjectName("planLabel");
    statusLabel_ = new QLabel("Ready.");
    statusLabel_->setObjectName("statusLabel");
    statusBar()->addWidget(statusLabel_, 1);
    statusBar()->addPermanentWidget(planLabel_);

    buildMenus();

    controller_ = new RunController;
    controller_->moveToThread(&controllerThread_);
    connect(&controllerThread_, &QThread::finished, controller_, &QObject::deleteLater);
    controllerThread_.start();
    connect(controller_, &RunController::status, this, [this](const QString& s) {
        statusLabel_->setText(s);
        if (s.startsWith("recovered: "))  // the lost node turns red with the reason
            for (std::size_t i = 0; i < document_.topology().nodes.size(); ++i)
                if (s.contains("node '" + QString::fromStdString(document_.topology().nodes[i].name) + "'"))
                    topologyView_->setNodeFailure(static_cast<int>(i), s.mid(11).section(';', 0, 0));
    });
    connect(controller_, &RunController::started, this, [this](const std::vector<TraceNode>& nodes, const QStringList& prompts) {
        state_.reset(nodes, QVector<QString>(prompts.begin(), prompts.end()));
        timeline_->setState(&state_);
        clock_->start();
    });
    connect(controller_, &RunController::spansArrived, this, [this](const std::vector<TraceSpan>& spans) { state_.addSpans(spans); });
    connect(controller_, &RunController::tokenArrived, this, [this](const LiveToken& t) { state_.addToken(t); });
    connect(controller_, &RunController::finished, this, [this](const RunTrace& trace, const QString& error) {
        running_ = false;
        run_->setRunning(false);
        if (!trace.nodes.empty()) state_.finish(trace);
        tick();
        timeline_->fitAll();
        const double seconds = trace.wall_us / 1e6;
        if (!error.isEmpty()) {
            statusLabel_->setText("Stopped: " + error);
            for (std::size_t i = 0; i < document_.topology().nodes.size(); ++i)
                if (error.contains("node '" + QString::fromStdString(document_.topology().nodes[i].name) + "'")) topologyView_->setNodeFailure(static_cast<int>(i), error);
        } else {
            statusLabel_->setText(QString("Done: %1 tokens in %2 s, %3 tokens/s").arg(trace.tokens.size()).arg(seconds, 0, 'f', 2).arg(trace.tokens.size() / std::max(1e-9, seconds), 0, 'f', 1));
        }
    });
    connect(run_, &RunPanel::runRequested, this, &MainWindow::startRun);
    connect(run_, &RunPanel::stopRequested, this, &MainWindow::stopRun);
    connect(&document_, &TopologyDocument::changed, this, &MainWindow::replan);
    connect(model_, &ModelPanel::changed, this, &MainWindow::replan);
    connect(topologyView_, &TopologyView::nodeSelected, this, [this, nodeDock](int i) {
        nodeEditor_->showNode(i);
        if (i >= 0) nodeDock->raise();
    });
    connect(timeline_, &TimelineView::spanClicked, spanDetails_, &QLabel::setText);

    timer_ = new QTimer(this);
    timer_->setInterval(33);  // screen rate: views redraw from the run state, never per message
    connect(timer_, &QTimer::timeout, this, &MainWindow::tick);
    timer_->start();

    QSettings settings;
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray());
    if (!settings.value("window/geometry").isValid()) resize(1366, 768);
    const QString last = settings.value("topology/json").toString();
    if (!last.isEmpty()) {
        try {
            document_.fromJson(last, "the last session's topology");
        } catch (const std::exception&) {
            document_.applyPreset("Pipeline 3");
        }
    }
    replan();
}

MainWindow::~MainWindow() {
    controller_->requestStop();
    controllerThread_.quit();
    controllerThread_.wait();  // the controller's Cluster stops the workers it started
    delete clock_;
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu("&File");
    file->addAction("&Open topology…", QKeySequence::Open, this, &MainWindow::openTopology);
    file->addAction("&Save topology…", QKeySequence::Save, this, &MainWindow::saveTopology);
    file->addSeparator();
    file->addAction("Controller key…", this, [this] {
        // The key pair `distgpt-cli keygen` wrote; workers started with --authorized-keys admit its public half.
        const QString f = QFileDialog::getOpenFileName(this, "Controller key (NAME.key from distgpt-cli keygen)", {}, "Key pair (*.key)");
        QSettings().setValue("controller/keyFile", f);
        statusLabel_->setText(f.isEmpty() ? "No controller key: only workers without authentication will answer."
                                          : "Controller key: " + f);
    });
    file->addAction("Save run…", this, [this] {
        if (!state_.finished()) return;
        const QString f = QFileDialog::getSaveFileName(this, "Save run", "run.distgpt.json", "distgpt run (*.json)");
        if (!f.isEmpty()) try { saveRun(f); } catch (const std::exception& e) { QMessageBox::warning(this, "Save run", e.what()); }
    });
    file->addAction("Replay run…", this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, "Replay run", {}, "distgpt run (*.json)");
        if (!f.isEmpty()) try { replayRun(f); } catch (const std::exception& e) { QMessageBox::warning(this, "Replay run", e.what()); }
    });
    file->addSeparator();
    QMenu* exports = file->addMenu("&Export last run");
    exports->addAction("Chrome trace JSON (Perfetto)…", this, [this] { exportDialog("trace"); });
    exports->addAction("Events CSV…", this, [this] { exportDialog("csv"); });
    exports->addAction("Metrics JSON…", this, [this] { exportDialog("metrics"); });
    exports->addAction("Timeline PNG or SVG…", this, [this] { exportDialog("timeline"); });
    exports->addAction("Charts (PNG and SVG)…", this, [this] { exportDialog("charts"); });
    file->addSeparator();
    file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);
    QMenu* edit = menuBar()->addMenu("&Edit");
    QAction* undo = document_.undoStack()->createUndoAction(this, "&Undo");
    undo->setShortcut(QKeySequence::Undo);
    undo->setObjectName("undo");
    QAction* redo = document_.undoStack()->createRedoAction(this, "&Redo");
    redo->setShortcut(QKeySequence::Redo);
    redo->setObjectName("redo");
    edit->addAction(undo);
    edit->addAction(redo);
    edit->addSeparator();
    edit->addAction("Add node", QKeySequence("Ctrl+N"), this, [this] { document_.addNode(); });
    edit->addAction("Remove selected node", QKeySequence::Delete, this, [this] { document_.removeNode(topologyView_->selectedNode()); });
    QMenu* run = menuBar()->addMenu("&Run");
    run->addAction("&Run", QKeySequence("Ctrl+R"), this, &MainWindow::startRun);
    run->addAction("&Stop", QKeySequence("Ctrl+."), this, &MainWindow::stopRun);
    QMenu* view = menuBar()->addMenu("&View");
    view->addAction("Timeline: whole run", QKeySequence("Ctrl+0"), this, [this] { timeline_->fitAll(); });
    for (QDockWidget* d : findChildren<QDockWidget*>()) view->addAction(d->toggleViewAction());
}

void MainWindow::replan() {
    QSettings().setValue("topology/json", document_.toJson());
    const Gpt2Config* config = model_->config();
    if (!config) {
        topologyView_->setPlan(std::nullopt, {});
        planLabel_->setText("choose a model to see the plan");
        return;
    }
    const int stages = std::max(1, document_.topology().stage_count());
    const int slots = std::max(1, std::min<int>(run_->prompts().size(), run_->inFlight() > 0 ? run_->inFlight() : stages));
    try {
        const Plan plan = make_plan(document_.topology(), *config, slots, config->n_positions);
        topologyView_->setPlan(plan, {});
        planLabel_->setText(QString("%1 · %2 stage(s) · %3 node(s)").arg(QString::fromStdString(strategy_name(document_.topology().strategy))).arg(plan.stages.size()).arg(document_.topology().nodes.size()));
        planLabel_->setStyleSheet({});
    } catch (const std::exception& e) {
        topologyView_->setPlan(std::nullopt, e.what());
        planLabel_->setText(QString::fromStdString(e.what()).section('\n', 0, 1));
        planLabel_->setStyleSheet("color: #b91c1c");
    }
}

void MainWindow::startRun() {
    if (running_) return;
    replay_.reset();
    RunSpec spec;
    try {
        spec.model = model_->source();
    } catch (const std::exception& e) {
        statusLabel_->setText(e.what());
        return;
    }
    spec.topology = document_.topology();
    spec.prompts = run_->prompts();
    spec.in_flight = run_->inFlight();
    spec.micro_batch = run_->microBatch();
    spec.max_new_tokens = run_->maxNewTokens();
    spec.sampling = run_->sampling();
    spec.hop_delay_ms = run_->hopDelayMs();
    spec.key_file = QSettings().value("controller/keyFile").toString();
    running_ = true;
    run_->setRunning(true);
    state_.reset({}, {});
    timeline_->setState(&state_);
    document_.setTopology(document_.topology(), document_.positions());  // clears failure marks
    statusLabel_->setText("Starting…");
    QMetaObject::invokeMethod(controller_, "start", Qt::QueuedConnection, Q_ARG(distgpt::ui::RunSpec, spec));
}

void MainWindow::stopRun() {
    if (running_) controller_->requestStop();
}

void MainWindow::saveRun(const QString& file) const { RunRecording::of(state_, document_.toJson()).save(file); }

void MainWindow::replayRun(const QString& file, double speed) {
    if (running_) throw Error("stop the running generation before replaying");
    auto replay = std::make_unique<Replay>();
    replay->recording = RunRecording::load(file);
    replay->speed = speed;
    if (!replay->recording.topology_json.isEmpty() && replay->recording.topology_json != "{}")
        document_.fromJson(replay->recording.topology_json, file);
    state_.reset(replay->recording.nodes, replay->recording.prompts);
    timeline_->setState(&state_);
    replay_ = std::move(replay);
    clock_->start();
    statusLabel_->setText("Replaying " + file + " (recorded; no worker is running)");
}

void MainWindow::tick() {
    if (replay_) {
        // Feed what the recording holds up to now, as a run would have.
        const double now = clock_->nsecsElapsed() / 1e3 * replay_->speed;
        auto& r = replay_->recording;
        std::vector<TraceSpan> due;
        while (replay_->next_span < r.spans.size() && r.spans[replay_->next_span].t1_us <= now) due.push_back(r.spans[replay_->next_span++]);
        if (!due.empty()) state_.addSpans(due);
        while (replay_->next_token < r.tokens.size() && r.tokens[replay_->next_token].at_us <= now) state_.addToken(r.tokens[replay_->next_token++]);
        if (replay_->next_span == r.spans.size() && replay_->next_token == r.tokens.size()) {
            state_.finish(r.trace);
            replay_.reset();
            statusLabel_->setText("Replay finished.");
            timeline_->fitAll();
        }
    }
    const double now = state_.finished() ? state_.latestUs() : clock_->isValid() ? clock_->nsecsElapsed() / 1e3 : 0;
    topologyView_->showLive(state_.nodes().empty() ? nullptr : &state_, now);
    timeline_->refresh(now);
    tokens_->refresh(state_);
    if (charts_->isVisible() && (state_.finished() || ++chartTick_ % 15 == 0)) charts_->refresh(state_);  // charts at 2 Hz
    if (running_ && !state_.nodes().empty() && now > 0)
        statusLabel_->setText(QString("Generating: %1 tokens, %2 tokens/s").arg(state_.tokenCount()).arg(state_.tokenCount() / (now / 1e6), 0, 'f', 1));
}

void MainWindow::closeEvent(QCloseEvent* e) {
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    controller_->requestStop();
    QMainWindow::closeEvent(e);
}

void MainWindow::openTopology() {
    const QString file = QFileDialog::getOpenFileName(this, "Open topology", {}, "Topology (*.json)");
    if (file.isEmpty()) return;
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly)) return;
    try {
        document_.fromJson(QString::fromUtf8(f.readAll()), file);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, "Open topology", e.what());
    }
}

void MainWindow::saveTopology() {
    const QString file = QFileDialog::getSaveFileName(this, "Save topology", "topology.json", "Topology (*.json)");
    if (file.isEmpty()) return;
    QFile f(file);
    if (f.open(QIODevice::WriteOnly)) f.write(document_.toJson().toUtf8());
}

void MainWindow::exportChromeTrace(const QString& file) const { write_chrome_trace(state_.trace(), file.toStdString()); }
void MainWindow::exportCsv(const QString& file) const { write_events_csv(state_.trace(), file.toStdString()); }
void MainWindow::exportMetrics(const QString& file) const {
    std::ofstream out(file.toStdString());
    if (!out) throw Error("cannot write " + file.toStdString());
    out << metrics_json(state_.trace()) << "\n";
}

void MainWindow::exportTimeline(const QString& file) {
    if (file.endsWith(".svg", Qt::CaseInsensitive)) {
        QSvgGenerator svg;
        svg.setFileName(file);
        svg.setSize(timeline_->size());
        svg.setViewBox(timeline_->rect());
        svg.setTitle("distgpt timeline");
        QPainter p(&svg);
        timeline_->render(&p);
    } else if (!timeline_->grab().save(file)) {
        throw Error("cannot write " + file.toStdString());
    }
}

void MainWindow::exportCharts(const QString& folder) {
    charts_->refresh(state_);
    const auto views = charts_->charts();
    for (int i = 0; i < views.size(); ++i) {
        // A readable size whether or not the dock is on screen.
        const QSize shown = views[i]->size();
        views[i]->resize(900, 540);
        const QString base = QDir(folder).filePath("chart-" + charts_->chartNames()[i]);
        if (!views[i]->grab().save(base + ".png")) throw Error("cannot write " + (base + ".png").toStdString());
        QSvgGenerator svg;
        svg.setFileName(base + ".svg");
        svg.setSize(views[i]->size());
        svg.setViewBox(views[i]->rect());
        QPainter p(&svg);
        views[i]->render(&p);
        p.end();
        views[i]->resize(shown);
    }
}

void MainWindow::exportDialog(const QString& what) {
    if (!state_.finished()) {
        QMessageBox::information(this, "Export", "Run a generation first: exports hold what a run measured.");
        return;
    }
    if (what == "charts") {
        const QString folder = QFileDialog::getExistingDirectory(this, "Export charts to");
        if (folder.isEmpty()) return;
        try {
            exportCharts(folder);
            statusLabel_->setText("Exported the charts to " + folder);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, "Export", e.what());
        }
        return;
    }
    const QString filter = what == "timeline" ? "Image (*.png *.svg)" : what == "csv" ? "CSV (*.csv)" : "JSON (*.json)";
    const QString name = what == "trace" ? "trace.json" : what == "csv" ? "events.csv" : what == "metrics" ? "metrics.json" : "timeline.png";
    const QString file = QFileDialog::getSaveFileName(this, "Export", name, filter);
    if (file.isEmpty()) return;
    try {
        if (what == "trace") exportChromeTrace(file);
        else if (what == "csv") exportCsv(file);
        else if (what == "metrics") exportMetrics(file);
        else exportTimeline(file);
        statusLabel_->setText("Exported " + file);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, "Export", e.what());
    }
}

}  // namespace distgpt::ui
