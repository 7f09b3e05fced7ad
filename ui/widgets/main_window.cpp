#include "widgets/main_window.h"

#include "models/run_charts.h"
#include "models/run_recording.h"
#include "trace/run_metrics.h"
#include "plan/planner.h"
#include "util/error.h"
#include "widgets/charts_view.h"
#include "widgets/link_editor.h"
#include "widgets/model_panel.h"
#include "widgets/node_editor.h"
#include "widgets/prediction_panel.h"
#include "widgets/workers_panel.h"
#include "widgets/palette.h"
#include "widgets/run_panel.h"
#include "widgets/timeline_view.h"
#include "widgets/token_stream.h"
#include "widgets/topology_view.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include <fstream>

namespace distgpt::ui {

namespace {
// Saved dock layouts of another version are ignored: they may hide a panel.
constexpr int kLayoutVersion = 2;
constexpr int kFrameMs = 33;  // screen rate: views redraw from the run state, never per message

// A panel that scrolls rather than being squeezed under its neighbours.
QScrollArea* scrolling(QWidget* panel) {
    auto* area = new QScrollArea;
    area->setWidget(panel);
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    area->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    area->setMinimumWidth(panel->sizeHint().width() + 18);
    area->setObjectName(panel->objectName() + "Scroll");
    return area;
}

// The strategy box's entries, in order: what each sets, and its ranks per stage.
struct StrategyChoice {
    const char* label;
    Strategy strategy;
    int ranks;  // 0: every node
};
constexpr StrategyChoice kStrategies[] = {{"pipeline", Strategy::Pipeline, 1},
                                          {"tensor", Strategy::Tensor, 0},
                                          {"hybrid 2", Strategy::Hybrid, 2},
                                          {"hybrid 4", Strategy::Hybrid, 4},
                                          {"auto", Strategy::Auto, 1}};
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setObjectName("mainWindow");
    setWindowTitle("distgpt");
    topologyView_ = new TopologyView(&document_);
    prediction_ = new RunPrediction(this);
    setCentralWidget(topologyView_);
    buildDocks();
    buildToolbars();
    buildMenus();
    connectController();

    connect(run_, &RunPanel::runRequested, this, &MainWindow::startRun);
    connect(run_, &RunPanel::stopRequested, this, &MainWindow::stopRun);
    connect(run_, &RunPanel::changed, this, &MainWindow::replan);
    connect(run_, &RunPanel::slowMotionChanged, this, [this](double f) { playback_.setFactor(f, wall_.elapsed()); });
    connect(&document_, &TopologyDocument::changed, this, &MainWindow::topologyChanged);
    connect(model_, &ModelPanel::changed, this, &MainWindow::replan);
    connect(prediction_, &RunPrediction::predicted, this, &MainWindow::chooseStrategy);
    // A change of the setup leaves the last run's measurement behind.
    connect(&document_, &TopologyDocument::changed, predictionPanel_, &PredictionPanel::forgetMeasured);
    connect(run_, &RunPanel::changed, predictionPanel_, &PredictionPanel::forgetMeasured);
    connect(model_, &ModelPanel::changed, predictionPanel_, &PredictionPanel::forgetMeasured);

    wall_.start();
    timer_ = new QTimer(this);
    timer_->setInterval(kFrameMs);
    connect(timer_, &QTimer::timeout, this, &MainWindow::tick);
    timer_->start();

    QSettings settings;
    restoreGeometry(settings.value("window/geometry").toByteArray());
    restoreState(settings.value("window/state").toByteArray(), kLayoutVersion);
    const QString last = settings.value("topology/json").toString();
    if (!last.isEmpty()) {
        try {
            document_.fromJson(last, "the last session's topology");
        } catch (const std::exception&) {
            document_.applyPreset("Pipeline 3");
        }
        document_.undoStack()->clear();  // the session starts with nothing to undo
    }
    playback_.setFactor(run_->slowMotion(), 0);
    topologyChanged();
}

MainWindow::~MainWindow() {
    controller_->requestStop();
    controllerThread_.quit();
    controllerThread_.wait();  // the controller's Cluster stops the workers it started
}

void MainWindow::buildDocks() {
    // The right column runs the window's full height; the bottom docks sit
    // under the canvas only, so neither covers the other.
    setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    setDockOptions(AnimatedDocks | AllowTabbedDocks);
    auto dock = [this](const QString& title, const char* name, QWidget* w, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(name);
        d->setWidget(w);
        d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetClosable);
        addDockWidget(area, d);
        return d;
    };
    model_ = new ModelPanel;
    run_ = new RunPanel;
    nodeEditor_ = new NodeEditor(&document_);
    linkEditor_ = new LinkEditor(&document_);
    tokens_ = new TokenStream;
    timeline_ = new TimelineView;
    auto* timelineBox = new QWidget;
    timelineBox->setObjectName("timelineBox");
    auto* timelineLayout = new QVBoxLayout(timelineBox);
    timelineLayout->setContentsMargins(0, 0, 0, 0);
    timelineLayout->setSpacing(2);
    spanDetails_ = new QLabel;
    spanDetails_->setObjectName("spanDetails");
    spanDetails_->setWordWrap(true);
    spanDetails_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    const QString hint = "Click a span for its details · wheel: zoom · drag or ←/→: pan · Home: whole run · End: follow";
    spanDetails_->setText(hint);
    connect(timeline_, &TimelineView::spanClicked, spanDetails_,
            [this, hint](const QString& d) { spanDetails_->setText(d.isEmpty() ? hint : d); });
    QString legend;
    for (SpanKind k : {SpanKind::Compute, SpanKind::WindowShift, SpanKind::AllReduce, SpanKind::Sample, SpanKind::Send, SpanKind::Receive})
        legend += QString("<span style='color:%1'>■</span> %2 &nbsp; ").arg(colorOf(k).name(), labelOf(k));
    legend += QString("<span style='color:%1'>▨</span> emulated link").arg(colorOf(SpanKind::Send).darker(130).name());
    auto* legendLabel = new QLabel(legend);
    legendLabel->setObjectName("timelineLegend");
    legendLabel->setToolTip(
        "After a send over an emulated link, on its track: pale, queued behind earlier bytes; hatched, on the wire (its bytes over "
        "the bandwidth); dotted, the latency. The emulator held the message for that time; click the send for the numbers.");
    timelineLayout->addWidget(timeline_, 1);
    timelineLayout->addWidget(legendLabel);
    timelineLayout->addWidget(spanDetails_);
    charts_ = new ChartsView;

    dock("Run", "runDock", scrolling(run_), Qt::RightDockWidgetArea);
    auto* modelDock = dock("Model", "modelDock", scrolling(model_), Qt::RightDockWidgetArea);
    // The node picked, or the link: one dock, titled by what it edits.
    auto* picked = new QStackedWidget;
    picked->setObjectName("pickedEditor");
    picked->addWidget(scrolling(nodeEditor_));
    picked->addWidget(scrolling(linkEditor_));
    auto* nodeDock = dock("Node", "nodeDock", picked, Qt::RightDockWidgetArea);
    tabifyDockWidget(modelDock, nodeDock);
    workersPanel_ = new WorkersPanel(&document_);
    auto* workersDock = dock("Workers", "workersDock", workersPanel_, Qt::RightDockWidgetArea);
    tabifyDockWidget(nodeDock, workersDock);
    predictionPanel_ = new PredictionPanel(prediction_);
    auto* predictDock = dock("Predict", "predictDock", scrolling(predictionPanel_), Qt::RightDockWidgetArea);
    tabifyDockWidget(workersDock, predictDock);
    modelDock->raise();
    auto* tokenDock = dock("Token stream", "tokenDock", tokens_, Qt::BottomDockWidgetArea);
    auto* timelineDock = dock("Timeline", "timelineDock", timelineBox, Qt::BottomDockWidgetArea);
    splitDockWidget(tokenDock, timelineDock, Qt::Horizontal);
    auto* chartsDock = dock("Charts", "chartsDock", charts_, Qt::BottomDockWidgetArea);
    tabifyDockWidget(timelineDock, chartsDock);
    timelineDock->raise();
    connect(topologyView_, &TopologyView::nodeSelected, this, [this, nodeDock, picked](int i) {
        nodeEditor_->showNode(i);
        if (i < 0) return;
        picked->setCurrentIndex(0);
        nodeDock->setWindowTitle("Node");
        nodeDock->raise();
    });
    connect(topologyView_, &TopologyView::linkSelected, this, [this, nodeDock, picked](int from, int to) {
        linkEditor_->showLink(from, to);
        if (from < 0) return;
        picked->setCurrentIndex(1);
        nodeDock->setWindowTitle("Link");
        nodeDock->raise();
    });
    // An edit (or its undo) may change the link shown.
    connect(&document_, &TopologyDocument::changed, linkEditor_, [this] {
        if (const auto link = topologyView_->selectedLink()) linkEditor_->showLink(link->first, link->second);
    });
}

void MainWindow::buildToolbars() {
    // Run first: it is the one control every user needs, at any width.
    auto* runBar = addToolBar("Run");
    runBar->setObjectName("runToolbar");
    runAction_ = runBar->addAction("▶ Run", this, &MainWindow::startRun);
    runAction_->setObjectName("runAction");
    runAction_->setShortcut(QKeySequence("Ctrl+R"));
    runAction_->setToolTip("Start the workers and generate (Ctrl+R)");
    stopAction_ = runBar->addAction("■ Stop", this, &MainWindow::stopRun);
    stopAction_->setObjectName("stopAction");
    stopAction_->setShortcut(QKeySequence("Ctrl+."));
    stopAction_->setToolTip("Stop the run; every token made so far is kept (Ctrl+.)");
    skipAction_ = runBar->addAction("Skip to end", this, &MainWindow::skipToEnd);
    skipAction_->setObjectName("skipAction");
    skipAction_->setShortcut(QKeySequence("Ctrl+End"));
    skipAction_->setToolTip("Show the run as it is now: leave the slow-motion view's past behind (Ctrl+End)");

    auto* tools = addToolBar("Topology");
    tools->setObjectName("topologyToolbar");
    // The presets in one menu: a row of buttons no longer fits a laptop's screen.
    auto* presets = new QMenu(this);
    presets->setObjectName("presetsMenu");
    presets->setToolTipsVisible(true);
    bool mixedHeading = false;
    for (const QString& preset : TopologyDocument::presetNames()) {
        if (TopologyDocument::isMixedHardware(preset) && !mixedHeading) {
            // A heading as wide as its text (a menu section's title is clipped to the entries' width).
            presets->addSeparator();
            presets->addAction("Mixed hardware, emulated networks:")->setEnabled(false);
            mixedHeading = true;
        }
        QAction* a = presets->addAction(preset, this, [this, preset] { document_.applyPreset(preset); });
        a->setObjectName("preset " + preset);
        a->setToolTip("Replace the topology with " + preset.toLower() + " (undo with Ctrl+Z)");
    }
    auto* presetsButton = new QToolButton;
    presetsButton->setObjectName("presetsButton");
    presetsButton->setText("Presets");
    presetsButton->setToolTip("Replace the topology with a ready one: one machine's workers, or mixed hardware on emulated networks");
    presetsButton->setMenu(presets);
    presetsButton->setPopupMode(QToolButton::InstantPopup);
    tools->addWidget(presetsButton);
    tools->addSeparator();
    tools->addAction("Add node", this, [this] { document_.addNode(); })->setObjectName("addNode");
    tools->addAction("Remove node", this, [this] { document_.removeNode(topologyView_->selectedNode()); })->setObjectName("removeNode");
    QAction* balance = tools->addAction("Balance layers", this, [this] { document_.setLayerRanges({}); });
    balance->setObjectName("balanceLayers");
    balance->setToolTip("Let the planner spread the layers evenly again, after dragging a boundary");
    tools->addSeparator();
    strategy_ = new QComboBox;
    strategy_->setObjectName("strategy");
    strategy_->setToolTip(
        "pipeline: each node runs a range of layers. tensor: every node runs a slice of every layer, summing "
        "partial results (all-reduce). hybrid k: stages of k tensor-parallel nodes. auto: each of those predicted for the run as set "
        "up, the fastest taken (the Predict panel and the status bar say why).");
    for (const auto& c : kStrategies) strategy_->addItem(c.label);
    auto* label = new QLabel(" Strategy ");
    label->setToolTip(strategy_->toolTip());
    tools->addWidget(label);
    tools->addWidget(strategy_);
    connect(strategy_, &QComboBox::activated, this, [this](int i) {
        choosingStrategy_ = kStrategies[i].strategy == Strategy::Auto;  // chosen when the prediction comes
        document_.setStrategy(kStrategies[i].strategy, std::max(1, kStrategies[i].ranks));
    });
}

void MainWindow::connectController() {
    planLabel_ = new QLabel;
    planLabel_->setObjectName("planLabel");
    statusLabel_ = new QLabel("Ready.");
    statusLabel_->setObjectName("statusLabel");
    statusLabel_->setMinimumWidth(100);
    statusBar()->addWidget(statusLabel_, 1);
    statusBar()->addPermanentWidget(planLabel_);

    controller_ = new RunController;
    controller_->moveToThread(&controllerThread_);
    connect(&controllerThread_, &QThread::finished, controller_, &QObject::deleteLater);
    controllerThread_.start();
    connect(controller_, &RunController::status, statusLabel_, &QLabel::setText);
    // A lost node turns red with the reason, whether the run went on without it or not.
    connect(controller_, &RunController::nodeLost, this, [this](int node, const QString& why, bool recovered) {
        topologyView_->setNodeFailure(node, why);
        if (recovered) statusLabel_->setText("Recovered: " + why + "; the run goes on without it");
    });
    connect(controller_, &RunController::started, this, [this](const std::vector<TraceNode>& nodes, const QStringList& prompts) {
        state_.reset(nodes, QVector<QString>(prompts.begin(), prompts.end()));
        timeline_->setState(&state_);
        playback_.start(wall_.elapsed(), run_->slowMotion());
    });
    connect(controller_, &RunController::spansArrived, this, [this](const std::vector<TraceSpan>& spans) { state_.addSpans(spans); });
    connect(controller_, &RunController::tokenArrived, this, [this](const LiveToken& t) { state_.addToken(t); });
    connect(controller_, &RunController::sequenceArrived, this,
            [this](int sequence, const QString& prompt) { state_.addSequence(sequence, prompt); });
    connect(controller_, &RunController::serving, this, [this](const QString& address) {
        servingAddress_ = address;
        run_->setServingAddress(address);
    });
    connect(controller_, &RunController::finished, this, [this](const RunTrace& trace, const QString& error, int nodeAtFault) {
        running_ = false;
        const bool served = !servingAddress_.isEmpty();
        servingAddress_.clear();
        run_->setRunning(false);
        if (!trace.nodes.empty()) state_.finish(trace);
        const double seconds = trace.wall_us / 1e6;
        if (!error.isEmpty()) {
            finalStatus_ = "Stopped: " + error;
            if (nodeAtFault >= 0) topologyView_->setNodeFailure(nodeAtFault, error);
        } else if (served) {
            finalStatus_ = QString("Done serving: %1 request(s), %2 tokens in %3 s")
                               .arg(trace.sequences)
                               .arg(trace.tokens.size())
                               .arg(seconds, 0, 'f', 1);
        } else {
            predictionPanel_->showMeasured(runPredicted_, run_metrics(trace));
            prediction_->learnFrom(runSpec_, trace);  // what this run cost beyond the layers, for the next prediction
            finalStatus_ = QString("Done: %1 tokens in %2 s, %3 tokens/s")
                               .arg(trace.tokens.size())
                               .arg(seconds, 0, 'f', 2)
                               .arg(trace.tokens.size() / std::max(1e-9, seconds), 0, 'f', 1);
        }
        // A run that ended before it started has nothing to play: say why now.
        if (state_.empty()) statusLabel_->setText(finalStatus_);
        replan();
        tick();
    });
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu("&File");
    file->addAction("&Open topology…", QKeySequence::Open, this, &MainWindow::openTopology);
    file->addAction("&Save topology…", QKeySequence::Save, this, &MainWindow::saveTopology);
    file->addSeparator();
    file->addAction("Controller key…", this, [this] {
        // The key pair `distgpt-cli keygen` wrote; workers started with --authorized-keys admit its public half.
        const QString f = QFileDialog::getOpenFileName(this, "Controller key (NAME.key from distgpt-cli keygen)", dialogFolder("key"),
                                                       "Key pair (*.key)");
        if (!f.isEmpty()) rememberFolder("key", f);
        QSettings().setValue("controller/keyFile", f);
        statusLabel_->setText(f.isEmpty() ? "No controller key: only workers without authentication will answer." : "Controller key: " + f);
    });
    file->addAction("Save run…", this, [this] {
        if (!state_.finished()) {
            QMessageBox::information(this, "Save run", "Run a generation first: a saved run holds what a run measured.");
            return;
        }
        const QString f =
            QFileDialog::getSaveFileName(this, "Save run", QDir(dialogFolder("run")).filePath("run.distgpt.json"), "distgpt run (*.json)");
        if (f.isEmpty()) return;
        rememberFolder("run", f);
        try {
            saveRun(f);
            statusLabel_->setText("Saved the run to " + f);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, "Save run", e.what());
        }
    });
    file->addAction("Replay run…", this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, "Replay run", dialogFolder("run"), "distgpt run (*.json)");
        if (f.isEmpty()) return;
        rememberFolder("run", f);
        try {
            replayRun(f);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, "Replay run", e.what());
        }
    });
    file->addSeparator();
    QMenu* exports = file->addMenu("&Export last run");
    exports->addAction("Chrome trace JSON (Perfetto)…", this, [this] { exportDialog("trace"); });
    exports->addAction("Events CSV…", this, [this] { exportDialog("csv"); });
    exports->addAction("Metrics JSON…", this, [this] { exportDialog("metrics"); });
    exports->addAction("Timeline PNG or SVG…", this, [this] { exportDialog("timeline"); });
    exports->addAction("Charts (PNG and SVG)…", this, [this] { exportDialog("charts"); });
    QMenu* sizes = exports->addMenu("Image size");
    auto* group = new QActionGroup(this);
    for (QSize s : {QSize(1280, 720), QSize(1920, 1080), QSize(2560, 1440), QSize(3840, 2160)}) {
        QAction* a = sizes->addAction(QString("%1 × %2").arg(s.width()).arg(s.height()), this, [this, s] {
            exportSize_ = s;
            QSettings().setValue("export/size", s);
        });
        a->setCheckable(true);
        group->addAction(a);
        if (s == QSettings().value("export/size", QSize(1920, 1080)).toSize()) {
            a->setChecked(true);
            exportSize_ = s;
        }
    }
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
    run->addAction(runAction_);
    run->addAction(stopAction_);
    run->addAction(skipAction_);
    QMenu* view = menuBar()->addMenu("&View");
    view->addAction("Timeline: whole run", QKeySequence("Ctrl+0"), this, [this] { timeline_->fitAll(); });
    for (QDockWidget* d : findChildren<QDockWidget*>()) view->addAction(d->toggleViewAction());
}

void MainWindow::showEvent(QShowEvent* e) {
    QMainWindow::showEvent(e);
    fitScreen();
}

// The window fits the screen it opens on: never taller or wider than it.
void MainWindow::fitScreen() {
    const QScreen* s = screen() ? screen() : QGuiApplication::primaryScreen();
    if (!s) return;
    const QRect avail = s->availableGeometry();
    const QRect frame = frameGeometry();
    // A size saved on this screen stays; a first launch, or a size from a
    // larger screen, is fitted.
    if (avail.contains(frame) && !QSettings().value("window/geometry").isNull()) return;
    // Small screens get all of it; large ones most of it.
    QSize want = avail.size();
    if (avail.width() >= 1600 && avail.height() >= 1000) want = QSize(avail.width() * 9 / 10, avail.height() * 9 / 10);
    const QSize margins = frame.size() - size();
    resize(want - margins);
    move(avail.topLeft() + QPoint((avail.width() - want.width()) / 2, (avail.height() - want.height()) / 2));
    // Shares of the window: the canvas above the token stream and timeline,
    // the run panel above the model.
    const int w = width(), h = height();
    resizeDocks({findChild<QDockWidget*>("tokenDock"), findChild<QDockWidget*>("timelineDock")}, {w * 28 / 100, w * 44 / 100},
                Qt::Horizontal);
    resizeDocks({findChild<QDockWidget*>("tokenDock")}, {h * 38 / 100}, Qt::Vertical);
    resizeDocks({findChild<QDockWidget*>("runDock"), findChild<QDockWidget*>("modelDock")}, {h * 55 / 100, h * 40 / 100}, Qt::Vertical);
}

void MainWindow::topologyChanged() {
    QSettings().setValue("topology/json", document_.toJson());
    syncStrategy();
    // A run of another topology is not this one's: the views start afresh.
    if (!running_ && !state_.empty()) clearRun();
    replan();
}

void MainWindow::clearRun() {
    state_.reset({}, {});
    timeline_->setState(&state_);
    playback_.stop();
    replaying_ = false;
    finalStatus_.clear();
    statusLabel_->setText("Ready.");
}

// The strategy box shows the topology's strategy, and offers only the
// tensor-parallel degrees that divide its node count.
void MainWindow::syncStrategy() {
    const Topology& t = document_.topology();
    const int nodes = static_cast<int>(t.nodes.size());
    auto* items = qobject_cast<QStandardItemModel*>(strategy_->model());
    for (int i = 0; i < static_cast<int>(std::size(kStrategies)); ++i) {
        const int k = kStrategies[i].ranks;
        const bool fits = k <= 1 || (nodes >= k && nodes % k == 0);
        QStandardItem* item = items->item(i);
        item->setEnabled(fits);
        item->setToolTip(fits ? QString() : QString("needs a node count that %1 divides; the topology has %2").arg(k).arg(nodes));
    }
    int current = 0;
    if (t.strategy == Strategy::Tensor)
        current = 1;
    else if (t.strategy == Strategy::Hybrid)
        current = t.tensor_parallel == 4 ? 3 : 2;
    else if (t.strategy == Strategy::Auto)
        current = 4;
    strategy_->setCurrentIndex(current);
}

void MainWindow::replan() {
    const ModelConfig* config = model_->config();
    std::optional<Plan> plan;
    QString problem;
    if (!config) {
        problem = model_->problem().isEmpty() ? "choose a model" : "the model cannot be used: " + model_->problem();
        planLabel_->setText("choose a model to see the plan");
    } else if (document_.topology().strategy == Strategy::Auto) {
        // No plan until a strategy is chosen: the prediction plays each out (chooseStrategy takes its answer).
        problem = choosingStrategy_ ? "choosing the strategy: each way to split the model is being predicted"
                                    : "strategy auto: pick auto again in the Strategy box to choose, or pick a strategy";
        planLabel_->setText("auto · choosing");
        if (choosingStrategy_ && !running_) try {
                prediction_->request(currentSpec());
            } catch (const std::exception& e) {
                choosingStrategy_ = false;
                problem = QString::fromStdString(e.what());
            }
        topologyView_->setPlan(std::nullopt);
        blocked_ = problem;
        run_->setRunnable(false, "Cannot run: " + blocked_);
        runAction_->setEnabled(false);
        runAction_->setToolTip("Cannot run: " + blocked_);
        stopAction_->setEnabled(running_);
        return;
    } else {
        const int stages = std::max(1, document_.topology().stage_count());
        const int slots = run_->serving() ? serving_slots(run_->inFlight(), stages)
                                          : sequence_slots(static_cast<int>(run_->prompts().size()), run_->inFlight(), stages);
        try {
            plan = plan_stages(document_.topology(), *config, slots, config->n_positions, 1, model_->weightFormat());
            problem = QString::fromStdString(memory_shortfalls(*plan, document_.topology()));
            planLabel_->setText(QString("%1 · %2 stage(s) · %3 node(s)")
                                    .arg(QString::fromStdString(strategy_name(document_.topology().strategy)))
                                    .arg(plan->stages.size())
                                    .arg(document_.topology().nodes.size()));
        } catch (const std::exception& e) {
            problem = QString::fromStdString(e.what());
            planLabel_->setText("no plan");
        }
    }
    if (problem.isEmpty() && run_->prompts().isEmpty() && !run_->serving()) problem = "write at least one prompt";
    predict(problem);
    topologyView_->setPlan(plan);
    blocked_ = problem.trimmed();
    run_->setRunnable(blocked_.isEmpty(), blocked_.isEmpty() ? QString() : "Cannot run: " + blocked_);
    runAction_->setEnabled(blocked_.isEmpty() && !running_);
    runAction_->setToolTip(blocked_.isEmpty() ? "Start the workers and generate (Ctrl+R)" : "Cannot run: " + blocked_);
    stopAction_->setEnabled(running_);
}

// Strategy auto: the prediction played out each way to split the model;
// the fastest becomes the topology's strategy, in the same undoable step as
// picking auto, and the status bar says why.
void MainWindow::chooseStrategy() {
    if (!choosingStrategy_ || document_.topology().strategy != Strategy::Auto || prediction_->busy()) return;
    const PredictedRun& p = prediction_->latest();
    choosingStrategy_ = false;
    if (!p.ok || !p.chosen) {
        replan();  // says why nothing was chosen
        statusLabel_->setText("Strategy auto could not choose: " + p.problem);
        return;
    }
    document_.setChosenStrategy(p.chosen->first, p.chosen->second);
    statusLabel_->setText("Strategy auto: " + p.strategyChoice);
}

RunSpec MainWindow::currentSpec() const {
    RunSpec spec;
    spec.model = model_->source();  // throws Error when the model cannot be used
    spec.topology = document_.topology();
    spec.topology.wire = model_->wireFormat();
    spec.prompts = run_->prompts();
    spec.in_flight = run_->inFlight();
    spec.micro_batch = run_->microBatch();
    spec.max_new_tokens = run_->maxNewTokens();
    spec.keep = run_->keep();
    spec.sampling = run_->sampling();
    spec.key_file = QSettings().value("controller/keyFile").toString();
    spec.serve = run_->serving();
    spec.port = run_->servePort();
    return spec;
}

// The "what if": the run as set up now, predicted (not while a run
// computes: a first measurement of this machine would slow it).
void MainWindow::predict(const QString& problem) {
    if (running_) return;
    if (!problem.isEmpty()) {
        prediction_->clear(problem);
        return;
    }
    if (run_->serving()) {
        prediction_->clear("Serving takes requests as they come; the prediction is for a run of the prompts.");
        return;
    }
    try {
        prediction_->request(currentSpec());
    } catch (const std::exception& e) {
        prediction_->clear(QString::fromStdString(e.what()));
    }
}

void MainWindow::startRun() {
    if (running_ || !blocked_.isEmpty()) return;
    RunSpec spec;
    try {
        spec = currentSpec();
    } catch (const std::exception& e) {
        statusLabel_->setText(e.what());
        return;
    }
    runPredicted_ = prediction_->latest();  // what this run is measured against
    runSpec_ = spec;
    clearRun();
    running_ = true;
    run_->setRunning(true);
    for (int i = 0; i < static_cast<int>(document_.topology().nodes.size()); ++i) topologyView_->setNodeFailure(i, {});
    statusLabel_->setText("Starting…");
    replan();
    QMetaObject::invokeMethod(controller_, "start", Qt::QueuedConnection, Q_ARG(distgpt::ui::RunSpec, spec));
}

void MainWindow::stopRun() {
    if (running_) controller_->requestStop();
}

void MainWindow::skipToEnd() {
    if (!state_.empty()) playback_.start(wall_.elapsed(), run_->slowMotion(), state_.latestUs());
}

double MainWindow::shownUs() const {
    if (state_.empty()) return 0;
    const double t = playback_.runUs(wall_.elapsed());
    return state_.finished() ? std::min(t, state_.latestUs()) : t;
}

bool MainWindow::showingDone() const { return state_.finished() && shownUs() >= state_.latestUs(); }

void MainWindow::saveRun(const QString& file) const { RunRecording::of(state_, document_.toJson()).save(file); }

void MainWindow::replayRun(const QString& file) {
    if (running_) throw Error("stop the running generation before replaying");
    RunRecording recording = RunRecording::load(file);
    if (!recording.topology_json.isEmpty() && recording.topology_json != "{}") document_.fromJson(recording.topology_json, file);
    clearRun();
    state_.reset(recording.nodes, recording.prompts);
    state_.addSpans(recording.spans);
    for (const auto& t : recording.tokens) state_.addToken(t);
    state_.finish(recording.trace);
    timeline_->setState(&state_);
    playback_.start(wall_.elapsed(), run_->slowMotion());
    replaying_ = true;
    finalStatus_ = "Replayed " + QFileInfo(file).fileName() + ": " + QString::number(state_.tokenCount()) + " tokens in " +
                   QString::number(state_.latestUs() / 1e6, 'f', 2) + " s (recorded; no worker ran)";
}

void MainWindow::tick() {
    const double now = shownUs();
    const bool done = showingDone();
    // The run time one frame covers: a frame of screen time, slowed down.
    const double frame_us = kFrameMs * 1e3 / playback_.factor();
    topologyView_->showLive(state_.empty() ? nullptr : &state_, now, frame_us, done);
    if (done && fittedRun_ != state_.runId()) {
        timeline_->fitAll();  // the finished run, whole
        fittedRun_ = state_.runId();
    }
    timeline_->refresh(now);
    tokens_->refresh(state_, now);
    skipAction_->setEnabled(!state_.empty() && !done && playback_.factor() > 1);
    // Charts at 2 Hz while the time shown moves, and once more at its end.
    const std::pair<quint64, double> key{state_.revision(), now};
    if (charts_->onScreen() && key != chartsShown_ && (done || wall_.elapsed() - chartsAt_ >= 500)) {
        charts_->show(RunCharts::of(state_, now));
        chartsShown_ = key;
        chartsAt_ = wall_.elapsed();
    }
    if (state_.empty()) return;
    const QString shown = QString::number(now / 1e6, 'f', 2) + " s";
    if (done) {
        if (!finalStatus_.isEmpty()) statusLabel_->setText(finalStatus_);
    } else if (playback_.factor() > 1 || replaying_) {
        statusLabel_->setText(QString("%1 %2× slower: %3 of %4 s measured%5")
                                  .arg(replaying_ ? "Replaying" : "Showing the run")
                                  .arg(playback_.factor())
                                  .arg(shown)
                                  .arg(state_.latestUs() / 1e6, 0, 'f', 2)
                                  .arg(running_ ? QString(" · %1 tokens made so far").arg(state_.tokenCount())
                                                : QString(" · the run is over: Skip to end (Ctrl+End)")));
    } else if (running_ && !servingAddress_.isEmpty()) {
        // Serving: requests come and go; a rate since the start would count the idle time.
        statusLabel_->setText(QString("Serving on %1: %2 request(s) so far, %3 tokens")
                                  .arg(servingAddress_)
                                  .arg(state_.prompts().size())
                                  .arg(state_.tokenCount()));
    } else if (running_) {
        statusLabel_->setText(QString("Generating: %1 tokens, %2 tokens/s")
                                  .arg(state_.tokenCount())
                                  .arg(state_.tokenCount() / std::max(1e-9, now / 1e6), 0, 'f', 1));
    }
}

void MainWindow::closeEvent(QCloseEvent* e) {
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState(kLayoutVersion));
    controller_->requestStop();
    QMainWindow::closeEvent(e);
}

QString MainWindow::dialogFolder(const QString& kind) const { return QSettings().value("folders/" + kind, QDir::homePath()).toString(); }
void MainWindow::rememberFolder(const QString& kind, const QString& file) {
    QSettings().setValue("folders/" + kind, QFileInfo(file).isDir() ? file : QFileInfo(file).absolutePath());
}

void MainWindow::openTopology() {
    const QString file = QFileDialog::getOpenFileName(this, "Open topology", dialogFolder("topology"), "Topology (*.json)");
    if (file.isEmpty()) return;
    rememberFolder("topology", file);
    try {
        openTopologyFrom(file);
        statusLabel_->setText("Opened " + file + " (undo with Ctrl+Z)");
    } catch (const std::exception& e) {
        QMessageBox::warning(this, "Open topology", e.what());
    }
}

void MainWindow::openTopologyFrom(const QString& file) {
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly)) throw Error("cannot read " + file.toStdString() + ": " + f.errorString().toStdString());
    choosingStrategy_ = true;  // a file saying "auto" is chosen for as it opens
    document_.fromJson(QString::fromUtf8(f.readAll()), file);
    if (document_.topology().strategy != Strategy::Auto) choosingStrategy_ = false;
    if (document_.topology().weights_dtype) model_->chooseWeightFormat(document_.topology().weights_dtype);
    model_->chooseWireFormat(document_.topology().wire);
}

void MainWindow::saveTopology() {
    const QString file =
        QFileDialog::getSaveFileName(this, "Save topology", QDir(dialogFolder("topology")).filePath("topology.json"), "Topology (*.json)");
    if (file.isEmpty()) return;
    rememberFolder("topology", file);
    try {
        saveTopologyTo(file);
        statusLabel_->setText("Saved the topology to " + file + " — distgpt-cli run --topology " + file + " runs it too");
    } catch (const std::exception& e) {
        QMessageBox::warning(this, "Save topology", e.what());
    }
}

void MainWindow::saveTopologyTo(const QString& file) const {
    nlohmann::json doc = nlohmann::json::parse(document_.toJson().toStdString());
    if (const auto format = model_->chosenWeightFormat())
        doc["weights_dtype"] = weight_format_name(*format);
    else
        doc.erase("weights_dtype");
    if (model_->wireFormat() != WireFormat::F32)
        doc["wire"] = wire_format_name(model_->wireFormat());
    else
        doc.erase("wire");
    const QByteArray json = QByteArray::fromStdString(doc.dump(2));
    QFile f(file);
    if (!f.open(QIODevice::WriteOnly) || f.write(json) != json.size() || !f.flush())
        throw Error("cannot write " + file.toStdString() + ": " + f.errorString().toStdString());
}

void MainWindow::exportChromeTrace(const QString& file) const { write_chrome_trace(state_.trace(), file.toStdString()); }
void MainWindow::exportCsv(const QString& file) const { write_events_csv(state_.trace(), file.toStdString()); }
void MainWindow::exportMetrics(const QString& file) const {
    std::ofstream out(file.toStdString());
    if (!out) throw Error("cannot write " + file.toStdString());
    out << metrics_json(run_metrics(state_.trace())) << "\n";
}

QString MainWindow::exportTitle() const {
    const Topology& t = document_.topology();
    QString title = QString("%1 · %2 node%3 · %4 tokens in %5 s")
                        .arg(QString::fromStdString(strategy_name(t.strategy)))
                        .arg(t.nodes.size())
                        .arg(t.nodes.size() == 1 ? "" : "s")
                        .arg(state_.tokenCount())
                        .arg(state_.latestUs() / 1e6, 0, 'f', 2);
    if (!model_->title().isEmpty()) title = model_->title() + " · " + title;
    return title;
}

void MainWindow::exportTimeline(const QString& file) const {
    const QString title = "distgpt timeline · " + exportTitle();
    if (file.endsWith(".svg", Qt::CaseInsensitive))
        timeline_->renderSvg(exportSize_, title, file);
    else if (!timeline_->render(exportSize_, title).save(file))
        throw Error("cannot write " + file.toStdString());
}

void MainWindow::exportCharts(const QString& folder) const {
    // The whole run, whatever the charts dock shows now.
    ChartsView charts;
    charts.show(RunCharts::of(state_, state_.latestUs()));
    for (auto c : ChartsView::kCharts) {
        const QString base = QDir(folder).filePath("chart-" + ChartsView::fileName(c));
        if (!charts.render(c, exportSize_, exportTitle()).save(base + ".png")) throw Error("cannot write " + (base + ".png").toStdString());
        charts.renderSvg(c, exportSize_, exportTitle(), base + ".svg");
    }
}

void MainWindow::exportDialog(const QString& what) {
    if (!state_.finished()) {
        QMessageBox::information(this, "Export", "Run a generation first: exports hold what a run measured.");
        return;
    }
    try {
        if (what == "charts") {
            const QString folder = QFileDialog::getExistingDirectory(this, "Export charts to", dialogFolder("export"));
            if (folder.isEmpty()) return;
            rememberFolder("export", folder);
            exportCharts(folder);
            statusLabel_->setText(
                QString("Exported the charts (%1 × %2) to %3").arg(exportSize_.width()).arg(exportSize_.height()).arg(folder));
            return;
        }
        const QString filter = what == "timeline" ? "Image (*.png *.svg)" : what == "csv" ? "CSV (*.csv)" : "JSON (*.json)";
        const QString name = what == "trace"     ? "trace.json"
                             : what == "csv"     ? "events.csv"
                             : what == "metrics" ? "metrics.json"
                                                 : "timeline.png";
        const QString file = QFileDialog::getSaveFileName(this, "Export", QDir(dialogFolder("export")).filePath(name), filter);
        if (file.isEmpty()) return;
        rememberFolder("export", file);
        if (what == "trace")
            exportChromeTrace(file);
        else if (what == "csv")
            exportCsv(file);
        else if (what == "metrics")
            exportMetrics(file);
        else
            exportTimeline(file);
        statusLabel_->setText("Exported " + file);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, "Export", e.what());
    }
}

}  // namespace distgpt::ui
