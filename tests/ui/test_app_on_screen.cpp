// The app on a real screen: run under Xvfb with the xcb platform at the
// screen size CTest gives (1366x768, 1920x1080, 2x scale), as a user first
// launches it. Every control must be on screen, uncovered and usable; each
// state is saved as a screenshot for the README and the issue tracker.
#include "models/run_charts.h"
#include "models/run_prediction.h"
#include "widgets/charts_view.h"
#include "widgets/main_window.h"
#include "widgets/topology_view.h"

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QDoubleSpinBox>
#include <QRegularExpression>
#include <QTableWidget>
#include <QTest>
#include <QToolBar>

using namespace distgpt;
using namespace distgpt::ui;

class TestAppOnScreen : public QObject {
    Q_OBJECT
    QString shots;
    QTemporaryDir cache;  // the prediction's measurements of this machine: the test's own

    // Saves what the screen shows now (the whole screen, as a user sees it).
    void shoot(MainWindow& w, const QString& name) {
        QApplication::processEvents();
        const QPixmap screen = w.screen()->grabWindow(0);
        QVERIFY2(screen.save(QDir(shots).filePath(name + ".png")), qPrintable("cannot save screenshot " + name));
    }

    // On screen, not covered by anything else: the widget itself is what a
    // click at its centre reaches.
    static void verifyReachable(QWidget* widget, const QString& name) {
        QVERIFY2(widget, qPrintable("no widget " + name));
        // A panel that scrolls shows the field first, as a user would scroll to it.
        for (QWidget* p = widget->parentWidget(); p; p = p->parentWidget())
            if (auto* area = qobject_cast<QScrollArea*>(p)) {
                area->ensureWidgetVisible(widget, 4, 4);
                break;
            }
        QApplication::processEvents();
        QVERIFY2(widget->isVisible(), qPrintable(name + " is hidden"));
        // A scroll area paints through its viewport, which covers it whole.
        auto* area = qobject_cast<QAbstractScrollArea*>(widget);
        QVERIFY2(!(area ? area->viewport() : widget)->visibleRegion().isEmpty(), qPrintable(name + " has no visible region"));
        const QRect screen = widget->screen()->availableGeometry();
        const QPoint center = widget->mapToGlobal(widget->rect().center());
        QVERIFY2(screen.contains(center), qPrintable(name + " is off the screen"));
        QWidget* hit = QApplication::widgetAt(center);
        QVERIFY2(hit && (hit == widget || widget->isAncestorOf(hit)),
                 qPrintable(name + " is covered by " +
                            (hit ? hit->metaObject()->className() + QString(" ") + hit->objectName() : QString("nothing"))));
    }

    static QWidget* toolbarButton(MainWindow& w, const char* bar, const char* action) {
        auto* toolbar = w.findChild<QToolBar*>(bar);
        auto* a = w.findChild<QAction*>(action);
        return toolbar && a ? toolbar->widgetForAction(a) : nullptr;
    }

    static void setSlowMotion(MainWindow& w, double factor) {
        auto* slider = w.findChild<QSlider*>("slowMotion");
        for (int v = slider->minimum(); v <= slider->maximum(); ++v) {
            slider->setValue(v);
            if (w.findChild<QLabel*>("slowMotionLabel")->text().startsWith(QString::number(factor) + "×")) return;
        }
        QFAIL("no such slow-motion stop");
    }

    static void useDemoModel(MainWindow& w) {
        auto* demo = w.findChild<QRadioButton*>("modelDemo");
        QVERIFY2(demo->isEnabled(), "the bundled demo model was not found");
        demo->setChecked(true);
    }

    // The demo model on `preset`, asked `tokens` after each of `prompts`.
    static void setUpDemo(MainWindow& w, const QString& preset, const QString& prompts, int tokens) {
        w.document()->applyPreset(preset);
        useDemoModel(w);
        w.findChild<QPlainTextEdit*>("prompts")->setPlainText(prompts);
        w.findChild<QSpinBox*>("maxTokens")->setValue(tokens);
    }

    // The same, shown `factor` times slower, started with the Run button.
    static void startSlowedRun(MainWindow& w, const QString& preset, const QString& prompts, int tokens, double factor) {
        setUpDemo(w, preset, prompts, tokens);
        setSlowMotion(w, factor);
        QTest::mouseClick(w.findChild<QAbstractButton*>("runButton"), Qt::LeftButton);
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // the test's settings, not the user's
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        qputenv("XDG_CACHE_HOME", QDir(cache.path()).filePath("cache").toUtf8());
        QVERIFY2(QGuiApplication::platformName() == "xcb", "run on a real X server (xcb), as CTest does under Xvfb");
        const QSize screen = QGuiApplication::primaryScreen()->size();
        shots = QDir(SCREENSHOT_DIR)
                    .filePath(QString("%1x%2@%3x")
                                  .arg(screen.width())
                                  .arg(screen.height())
                                  .arg(QGuiApplication::primaryScreen()->devicePixelRatio()));
        QVERIFY(QDir().mkpath(shots));
    }
    void init() { QSettings().clear(); }  // every case is a first launch

    void firstLaunchShowsEveryControl() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(300);
        const QRect avail = w.screen()->availableGeometry();
        QVERIFY2(avail.contains(w.frameGeometry()), qPrintable(QString("window %1x%2 on a %3x%4 screen")
                                                                   .arg(w.frameGeometry().width())
                                                                   .arg(w.frameGeometry().height())
                                                                   .arg(avail.width())
                                                                   .arg(avail.height())));
        for (const char* name : {"runButton",   "stopButton", "slowMotion",     "prompts",      "inFlight",     "microBatch",  "maxTokens",
                                 "temperature", "topK",       "topP",           "seed",         "modelDemo",    "modelFolder", "modelPath",
                                 "modelRandom", "modelShape", "modelInfo",      "topologyView", "timelineView", "tokenStream", "strategy",
                                 "statusLabel", "planLabel",  "modelDemoLlama", "weightsDtype", "wireFormat"})
            verifyReachable(w.findChild<QWidget*>(name), name);
        verifyReachable(toolbarButton(w, "runToolbar", "runAction"), "Run in the toolbar");
        verifyReachable(toolbarButton(w, "runToolbar", "stopAction"), "Stop in the toolbar");
        for (const char* action : {"addNode", "removeNode", "balanceLayers"})
            verifyReachable(toolbarButton(w, "topologyToolbar", action), action);
        verifyReachable(w.findChild<QWidget*>("presetsButton"), "Presets");
        QVERIFY(w.findChild<QWidget*>("runButton")->isEnabled());
        QVERIFY(!w.findChild<QWidget*>("stopButton")->isEnabled());
        QVERIFY(w.findChild<QWidget*>("slowMotion")->isEnabled());
        shoot(w, "idle");
        // The node editor, one tab away, and the charts, one tab away.
        w.findChild<TopologyView*>("topologyView")->selectNode(1);
        for (const char* name : {"nodeName", "nodeEndpoint", "nodeThreads", "nodeMemory", "nodeWeights"}) {
            verifyReachable(w.findChild<QWidget*>(name), name);
            QVERIFY(w.findChild<QWidget*>(name)->isEnabled());
        }
        w.findChild<QDockWidget*>("chartsDock")->raise();
        QTest::qWait(200);
        shoot(w, "charts-empty");
        for (const char* name : {"throughputChart", "latencyChart", "workChart", "linksChart"})
            verifyReachable(w.findChild<QWidget*>(name), name);
    }

    // The "what if": a laptop and a Pi on Wi-Fi predicted as soon as they
    // are chosen; the Pi made as fast as the laptop, the prediction moves;
    // a run, then measured beside predicted, per node.
    void predictsWhatIfAndMeasuresARunAgainstIt() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        setUpDemo(w, "Laptop and a Pi on Wi-Fi", "ROMEO:\nJULIET:", 150);
        w.findChild<QDockWidget*>("predictDock")->raise();
        auto* headline = w.findChild<QLabel*>("predictedTokensPerSecond");
        const auto tokensPerSecond = [headline] {
            const auto m = QRegularExpression("≈ ([0-9.]+) tokens/s").match(headline->text());
            return m.hasMatch() ? m.captured(1).toDouble() : 0.0;
        };
        // The newest request answered: every change above asked for one.
        auto* prediction = w.findChild<RunPrediction*>();
        QTRY_VERIFY_WITH_TIMEOUT(!prediction->busy() && tokensPerSecond() > 0, 30000);
        QVERIFY2(w.findChild<QLabel*>("predictedShape")->text().contains("2 sequence(s) of 6 prompt and 150 new tokens"),
                 qPrintable(w.findChild<QLabel*>("predictedShape")->text()));
        for (const char* name : {"predictedTokensPerSecond", "predictedBound", "predictedShape", "predictionNodes"})
            verifyReachable(w.findChild<QWidget*>(name), name);
        auto* nodes = w.findChild<QTableWidget*>("predictionNodes");
        QCOMPARE(nodes->rowCount(), 2);
        QCOMPARE(nodes->item(1, 0)->text(), QString("pi"));
        // Two short sequences over Wi-Fi: the network's round trip, not the Pi, sets the pace.
        const QString bound = w.findChild<QLabel*>("predictedBound")->text();
        QVERIFY2(bound.contains("round trip"), qPrintable(bound));
        const double onWifi = tokensPerSecond();
        shoot(w, "predict-laptop-and-pi");
        // What if the Pi were as fast as the laptop, and wired?
        w.findChild<TopologyView*>("topologyView")->selectNode(1);
        auto* speed = w.findChild<QDoubleSpinBox*>("nodeSpeed");
        verifyReachable(speed, "nodeSpeed");
        QCOMPARE(speed->value(), 0.3);
        speed->setValue(1.0);
        Q_EMIT speed->editingFinished();
        QCOMPARE(w.document()->topology().nodes[1].speed, 1.0);
        auto* network = w.findChild<QComboBox*>("nodeNetwork");
        verifyReachable(network, "nodeNetwork");
        network->setCurrentIndex(network->findText("1 GbE switch"));
        Q_EMIT network->activated(network->currentIndex());
        QVERIFY(!(w.document()->topology().nodes[1].network == NodeNetwork{}));
        w.findChild<QDockWidget*>("predictDock")->raise();
        QTRY_VERIFY_WITH_TIMEOUT(!prediction->busy() && tokensPerSecond() > 1.5 * onWifi, 30000);
        shoot(w, "predict-what-if");
        // Back to the Pi on Wi-Fi, and run it: measured beside predicted.
        w.document()->undoStack()->undo();
        w.document()->undoStack()->undo();
        QTRY_VERIFY_WITH_TIMEOUT(!prediction->busy(), 30000);
        QCOMPARE(tokensPerSecond(), onWifi);
        QTest::mouseClick(w.findChild<QAbstractButton*>("runButton"), Qt::LeftButton);
        auto* measured = w.findChild<QLabel*>("predictionVsMeasured");
        QTRY_VERIFY_WITH_TIMEOUT(!w.running() && measured->isVisible(), 120000);
        QVERIFY2(measured->text().startsWith("Measured ") && measured->text().contains("% of the"), qPrintable(measured->text()));
        for (int row = 0; row < 2; ++row) QVERIFY(nodes->item(row, 4)->text().endsWith("%"));
        w.findChild<QDockWidget*>("predictDock")->raise();
        verifyReachable(measured, "predictionVsMeasured");
        shoot(w, "predict-measured");
    }

    // A link picked on the canvas and slowed by hand: the Link panel on
    // screen, the link drawn with its numbers, a run over it with each
    // send's emulated time in the timeline and the charts.
    void aSlowLinkIsEditedAndSeenInARun() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        setUpDemo(w, "Laptop and a Pi on Wi-Fi", "ROMEO:\nJULIET:", 60);
        auto* view = w.findChild<TopologyView*>("topologyView");
        QTest::qWait(200);
        const auto handle = view->linkHandle(0, 1);
        QVERIFY(handle);
        QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, *handle);
        QCOMPARE(view->selectedLink(), std::optional(std::pair{0, 1}));
        auto* byHand = w.findChild<QAbstractButton*>("linkByHand");
        verifyReachable(byHand, "linkByHand");
        byHand->click();
        for (const auto& [name, value] : {std::pair{"linkBandwidth", 2.0}, {"linkLatency", 10.0}, {"linkJitter", 0.0}}) {
            auto* box = w.findChild<QDoubleSpinBox*>(name);
            verifyReachable(box, name);
            box->setValue(value);
            Q_EMIT box->editingFinished();
        }
        QCOMPARE(w.document()->topology().link(0, 1), (LinkModel{2, 10, 0}));
        verifyReachable(w.findChild<QLabel*>("linkInEffect"), "linkInEffect");
        // The Link panel and the timeline's legend widen nothing: the run
        // panel still ends inside the screen (a long legend once pushed it off).
        for (const char* name : {"prompts", "stopButton", "linkInEffect"}) {
            auto* widget = w.findChild<QWidget*>(name);
            const QRect global(widget->mapToGlobal(QPoint(0, 0)), widget->size());
            QVERIFY2(w.screen()->availableGeometry().contains(global),
                     qPrintable(QString("%1 reaches x=%2, past the screen").arg(name).arg(global.right())));
        }
        shoot(w, "link-editor");
        setSlowMotion(w, 20);
        QTest::mouseClick(w.findChild<QAbstractButton*>("runButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(w.shownUs() > 200000, 60000);
        shoot(w, "link-slow-motion");
        w.skipToEnd();
        QTRY_VERIFY_WITH_TIMEOUT(!w.running() && w.showingDone(), 120000);
        bool emulated = false;
        for (const auto& sp : w.runState().spans()) emulated |= sp.kind == SpanKind::Send && sp.node == 0 && sp.emulated.has_value();
        QVERIFY(emulated);
        w.findChild<QDockWidget*>("timelineDock")->raise();
        QTest::qWait(200);
        shoot(w, "link-timeline");
        w.findChild<QDockWidget*>("chartsDock")->raise();
        QTest::qWait(200);
        verifyReachable(w.findChild<QWidget*>("linksChart"), "linksChart");
        shoot(w, "link-charts");
        w.exportTimeline(QDir(shots).filePath("exported-timeline-emulated.png"));
    }

    void aSlowedPipelineAndItsEnd() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        startSlowedRun(w, "Pipeline 3", "ROMEO:\nJULIET:\nHAMLET:", 40, 200);
        // Until the run's end comes back through the event loop: Stop, not Run.
        QVERIFY(w.running());
        QVERIFY(!w.findChild<QWidget*>("runButton")->isEnabled() && !w.findChild<QAction*>("runAction")->isEnabled());
        verifyReachable(w.findChild<QWidget*>("stopButton"), "Stop during a run");
        QVERIFY(w.findChild<QWidget*>("stopButton")->isEnabled() && w.findChild<QAction*>("stopAction")->isEnabled());
        // Mid-run, slowed: a node lit by its measured compute, a message on its way.
        auto* view = w.findChild<TopologyView*>("topologyView");
        QTRY_VERIFY_WITH_TIMEOUT(view->nodeLive(1).shown == SpanKind::Compute && w.shownUs() > 20000, 60000);
        shoot(w, "pipeline-slow-motion");
        w.skipToEnd();
        QTRY_VERIFY_WITH_TIMEOUT(w.showingDone(), 60000);
        QTest::qWait(100);
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(view->nodeLive(i).state, TopologyView::NodeLive::State::Done);
            QVERIFY(!view->nodeLive(i).shown.has_value());  // nothing left "computing"
        }
        QVERIFY(w.findChild<QLabel*>("statusLabel")->text().startsWith("Done:"));
        shoot(w, "pipeline-done");
        // The exported chart, as a slide shows it.
        QTemporaryDir out;
        w.exportCharts(out.path());
        const QImage chart(QDir(out.path()).filePath("chart-work.png"));
        QCOMPARE(chart.size(), w.exportSize());
        QVERIFY(chart.save(QDir(shots).filePath("exported-chart-work.png")));
        w.exportTimeline(QDir(shots).filePath("exported-timeline.png"));
    }

    void tensorParallelShowsItsAllReduce() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        startSlowedRun(w, "Tensor 2", "ROMEO:\nJULIET:", 30, 500);
        QCOMPARE(w.findChild<QComboBox*>("strategy")->currentText(), QString("tensor"));
        auto* view = w.findChild<TopologyView*>("topologyView");
        QTRY_VERIFY_WITH_TIMEOUT(view->nodeLive(0).shown == SpanKind::AllReduce && w.shownUs() > 15000, 60000);
        shoot(w, "tensor-all-reduce");
        w.skipToEnd();
        QTRY_VERIFY_WITH_TIMEOUT(w.showingDone(), 60000);
    }

    // Hybrid 2x2 mid-run: the ring caption, the messages' and the
    // all-reduces' labels never cover each other.
    void aHybridRunKeepsItsLabelsApart() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        startSlowedRun(w, "Hybrid 2x2", "ROMEO:\nJULIET:", 20, 200);
        auto* view = w.findChild<TopologyView*>("topologyView");
        QTRY_VERIFY_WITH_TIMEOUT(view->exchanges().size() == 2 && w.shownUs() > 10000, 60000);
        QTest::qWait(50);
        const QVector<QRectF> labels = view->labelRects();
        QVERIFY(labels.size() >= 3);  // the ring's caption and both all-reduces
        for (int i = 0; i < labels.size(); ++i)
            for (int j = i + 1; j < labels.size(); ++j) QVERIFY2(!labels[i].intersects(labels[j]), "two labels overlap");
        shoot(w, "hybrid-2x2");
        w.skipToEnd();
        QTRY_VERIFY_WITH_TIMEOUT(w.showingDone(), 60000);
    }

    void anImpossiblePlanCannotRun() {
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.document()->applyPreset("Pipeline 3");
        useDemoModel(w);
        auto* view = w.findChild<TopologyView*>("topologyView");
        view->selectNode(1);
        auto* memory = w.findChild<QSpinBox*>("nodeMemory");
        memory->setValue(100);
        QMetaObject::invokeMethod(memory, "editingFinished");
        QTRY_VERIFY(!w.runBlockedReason().isEmpty());
        QVERIFY(!w.findChild<QWidget*>("runButton")->isEnabled());
        QVERIFY(!w.findChild<QAction*>("runAction")->isEnabled());
        auto* reason = w.findChild<QLabel*>("runBlockedReason");
        verifyReachable(reason, "the reason Run is disabled");
        QVERIFY(reason->text().contains("node1") && reason->text().contains("short"));
        QVERIFY(!view->nodeOverLimit(0) && view->nodeOverLimit(1) && !view->nodeOverLimit(2));  // only the node at fault
        QVERIFY2(view->nodeMemoryText(1).endsWith(" / 100 MiB"), qPrintable(view->nodeMemoryText(1)));
        shoot(w, "refused-plan");
        w.findChild<QAction*>("undo")->trigger();
        QTRY_VERIFY(w.runBlockedReason().isEmpty());
        QVERIFY(w.findChild<QWidget*>("runButton")->isEnabled());
        QVERIFY(!reason->isVisible());
        QVERIFY(!view->nodeOverLimit(1));
    }
};

QTEST_MAIN(TestAppOnScreen)
#include "test_app_on_screen.moc"
