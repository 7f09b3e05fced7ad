// The desktop app as a user drives it: real widgets found by objectName,
// clicked with QTest, real workers behind the Run button.
#include "models/time_axis.h"
#include "plan/planner.h"
#include "support/fixtures.h"
#include "widgets/main_window.h"
#include "widgets/timeline_view.h"
#include "widgets/token_stream.h"
#include "widgets/topology_view.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTest>
#include <QToolBar>
#include <QToolButton>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace distgpt;
using namespace distgpt::test;
using namespace distgpt::ui;

class TestMainWindow : public QObject {
    Q_OBJECT
    QTemporaryDir dir;

    static QAction* action(MainWindow& w, const QString& name) {
        for (QAction* a : w.findChildren<QAction*>())
            if (a->objectName() == name) return a;
        return nullptr;
    }
    static void click(MainWindow& w, const QString& actionName) {
        QAction* a = action(w, actionName);
        QVERIFY2(a, qPrintable("no action " + actionName));
        auto* bar = w.findChild<QToolBar*>("topologyToolbar");
        QTest::mouseClick(bar->widgetForAction(a), Qt::LeftButton);
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // settings of the test, not the user's
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
    }

    void timeAxisMapsBothWays_data() {
        QTest::addColumn<double>("start");
        QTest::addColumn<double>("scale");
        QTest::addColumn<double>("us");
        QTest::newRow("origin") << 0.0 << 10.0 << 0.0;
        QTest::newRow("later") << 500.0 << 2.5 << 1250.0;
        QTest::newRow("before the start") << 1000.0 << 100.0 << 0.0;
    }
    void timeAxisMapsBothWays() {
        QFETCH(double, start);
        QFETCH(double, scale);
        QFETCH(double, us);
        TimeAxis a{start, scale};
        QCOMPARE(a.toUs(a.toPx(us)), us);
        const double px = a.toPx(us);
        a.zoomAt(px, 2.0);  // zooming keeps the time under the cursor
        QVERIFY(std::abs(a.toPx(us) - px) < 1e-9);
        QCOMPARE(a.us_per_px, scale / 2);
    }

    void presetsAndEditingBuildATopology() {
        MainWindow w;
        w.show();
        click(w, "preset Hybrid 2x2");
        QCOMPARE(w.document()->topology().nodes.size(), size_t(4));
        QCOMPARE(w.document()->topology().strategy, Strategy::Hybrid);
        click(w, "preset Pipeline 2");
        click(w, "addNode");
        QCOMPARE(w.document()->topology().nodes.size(), size_t(3));
        // Select the new node on the canvas and rename it in the node editor.
        auto* view = w.findChild<TopologyView*>("topologyView");
        view->selectNode(2);
        auto* name = w.findChild<QLineEdit*>("nodeName");
        name->selectAll();
        QTest::keyClicks(name, "teacher");
        QTest::keyClick(name, Qt::Key_Return);
        QCOMPARE(w.document()->topology().nodes[2].name, std::string("teacher"));
        // Dragging the boundary between stages 0 and 1 one layer right gives stage 0 a layer more.
        click(w, "preset Pipeline 2");
        w.findChild<QRadioButton*>("modelRandom")->setChecked(true);
        w.findChild<QComboBox*>("modelShape")->setCurrentText("gpt2");  // 12 layers: the planner gives 7 and 5
        QTRY_VERIFY(view->boundaryHandle(0).has_value());
        const QPoint from = *view->boundaryHandle(0), to = *view->boundaryHandle(0, 1);
        QTest::mousePress(view->viewport(), Qt::LeftButton, {}, from);
        QTest::mouseMove(view->viewport(), (from + to) / 2);
        QTest::mouseMove(view->viewport(), to);
        QTest::mouseRelease(view->viewport(), Qt::LeftButton, {}, to);
        QCOMPARE(w.document()->topology().layers.size(), size_t(2));
        const auto manual = w.document()->topology().layers;
        QCOMPARE(manual[0].second, manual[1].first);
        QCOMPARE(manual[1].second, 12);
        Topology balancedTopology = w.document()->topology();
        balancedTopology.layers.clear();
        QCOMPARE(manual[0].second, make_plan(balancedTopology, gpt2_preset("gpt2"), 1, 1024).stages[0].layer_end + 1);
        action(w, "undo")->trigger();
        QVERIFY(w.document()->topology().layers.empty());
        action(w, "redo")->trigger();
        QCOMPARE(w.document()->topology().layers, manual);
        click(w, "balanceLayers");
        QVERIFY(w.document()->topology().layers.empty());
        action(w, "undo")->trigger();  // back to the manual split
        action(w, "undo")->trigger();  // back to balanced
        action(w, "undo")->trigger();  // back to before the preset
        QCOMPARE(w.document()->topology().nodes.size(), size_t(3));

        // Undo and redo walk back through the edits.
        action(w, "undo")->trigger();
        QCOMPARE(w.document()->topology().nodes[2].name, std::string("node2"));
        action(w, "undo")->trigger();
        QCOMPARE(w.document()->topology().nodes.size(), size_t(2));
        action(w, "redo")->trigger();
        action(w, "redo")->trigger();
        QCOMPARE(w.document()->topology().nodes[2].name, std::string("teacher"));
        // What the editor saves is what distgpt-cli runs.
        const Topology t = parse_topology(w.document()->toJson().toStdString());
        QCOMPARE(t.nodes.size(), size_t(3));
        QCOMPARE(t.nodes[2].name, std::string("teacher"));
    }

    // Out of the box: the bundled demo model on the default three stages.
    void demoModelRunsOutOfTheBox() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 3");
        auto* demo = w.findChild<QRadioButton*>("modelDemo");
        QVERIFY2(demo->isEnabled(), "the bundled demo model was not found");
        demo->setChecked(true);
        w.findChild<QPlainTextEdit*>("prompts")->setPlainText("ROMEO:\nJULIET:\nFirst Citizen:");
        w.findChild<QSpinBox*>("maxTokens")->setValue(100);  // the prompts and 100 characters fit the 128 of context
        QTest::mouseClick(w.findChild<QPushButton*>("runButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(w.runState().tokenCount() >= 150, 60000);
        const QByteArray keep = qgetenv("DISTGPT_SCREENSHOTS");
        if (!keep.isEmpty()) QVERIFY(w.grab().save(QString::fromUtf8(keep) + "/demo-during-run.png"));
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 120000);
        QCOMPARE(w.runState().tokenCount(), 3 * 100);
        // Every token passed every stage: each node's rate over the run is the run's.
        const double run_rate = 300 / (w.runState().latestUs() / 1e6);
        for (int node = 0; node < 3; ++node) {
            const double rate = w.runState().tokensPerSecond(node, w.runState().latestUs());
            QVERIFY2(rate > 0.8 * run_rate && rate < 1.05 * run_rate, qPrintable(QString::number(rate) + " vs " + QString::number(run_rate)));
        }
        const QString text = w.findChild<TokenStream*>("tokenStream")->toPlainText();
        QVERIFY(text.contains("JULIET:"));
        QVERIFY(!text.contains("\\x"));  // a character model writes only whole characters
        if (!keep.isEmpty()) QVERIFY(w.grab().save(QString::fromUtf8(keep) + "/demo-after-run.png"));
    }

    // Run, watch, export: the whole loop with real workers on loopback.
    void runsAGenerationAndShowsIt() {
        ModelSource small;
        const auto model_dir = write_random_model(path_of(dir) / "model", small_config(4, 4, 64, 257, 128), 4);
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 3");
        w.findChild<QRadioButton*>("modelFolder")->setChecked(true);
        auto* path = w.findChild<QLineEdit*>("modelPath");
        path->setText(QString::fromStdString(model_dir.string()));
        QMetaObject::invokeMethod(path, "editingFinished");
        auto* prompts = w.findChild<QPlainTextEdit*>("prompts");
        prompts->setPlainText("Hello\nWorld\nAgain");
        w.findChild<QSpinBox*>("maxTokens")->setValue(24);
        QTest::mouseClick(w.findChild<QPushButton*>("runButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(w.running(), 2000);
        QTRY_VERIFY_WITH_TIMEOUT(w.runState().tokenCount() > 10, 30000);
        QVERIFY(w.grab().save(QString::fromStdString((path_of(dir) / "during-run.png").string())));
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 60000);
        // Every token the run made is shown (a sequence may end early at <|endoftext|>).
        QCOMPARE(static_cast<size_t>(w.runState().tokenCount()), w.runState().trace().tokens.size());
        QVERIFY(w.runState().tokenCount() >= 24);
        QCOMPARE(w.runState().nodes().size(), size_t(3));
        // The token stream shows every sequence's text.
        auto* stream = w.findChild<TokenStream*>("tokenStream");
        QTRY_VERIFY(stream->toPlainText().contains("sequence 3"));
        // The timeline holds every node's measured spans.
        auto* timeline = w.findChild<TimelineView*>("timelineView");
        std::vector<int> computes(3);
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::Compute) ++computes[s.node];
        for (int c : computes) QVERIFY(c >= 8);
        timeline->fitAll();
        // Exports.
        const auto out = path_of(dir);
        w.exportChromeTrace(QString::fromStdString((out / "trace.json").string()));
        w.exportCsv(QString::fromStdString((out / "events.csv").string()));
        w.exportMetrics(QString::fromStdString((out / "metrics.json").string()));
        w.exportTimeline(QString::fromStdString((out / "timeline.png").string()));
        w.exportTimeline(QString::fromStdString((out / "timeline.svg").string()));
        w.exportCharts(QString::fromStdString(out.string()));
        for (const char* chart : {"throughput", "latency", "work", "links"}) {
            QVERIFY(std::filesystem::file_size(out / (std::string("chart-") + chart + ".png")) > 1000);
            QVERIFY(read_file(out / (std::string("chart-") + chart + ".svg")).find("<svg") != std::string::npos);
        }
        std::ifstream trace(out / "trace.json");
        QVERIFY(nlohmann::json::parse(trace)["traceEvents"].size() > 100);
        std::ifstream metrics(out / "metrics.json");
        QCOMPARE(nlohmann::json::parse(metrics)["tokens"].get<int>(), w.runState().tokenCount());
        QVERIFY(std::filesystem::file_size(out / "timeline.png") > 1000);
        QVERIFY(read_file(out / "timeline.svg").find("<svg") != std::string::npos);
        QVERIFY(read_file(out / "events.csv").find("compute") != std::string::npos);
        QVERIFY(w.grab().save(QString::fromStdString((out / "after-run.png").string())));

        // Saved, then replayed in a fresh window with no worker: the same run.
        const QString recording = QString::fromStdString((out / "run.json").string());
        w.saveRun(recording);
        MainWindow replay;
        replay.show();
        replay.replayRun(recording);
        QTRY_VERIFY_WITH_TIMEOUT(replay.runState().finished(), 10000);
        QCOMPARE(replay.runState().tokenCount(), w.runState().tokenCount());
        QCOMPARE(replay.runState().spans().size(), w.runState().spans().size());
        QCOMPARE(replay.document()->topology().nodes.size(), size_t(3));
        QTRY_VERIFY(replay.findChild<TokenStream*>("tokenStream")->toPlainText() == stream->toPlainText());
        const QByteArray keep = qgetenv("DISTGPT_SCREENSHOTS");
        if (!keep.isEmpty())
            for (const char* f : {"during-run.png", "after-run.png", "timeline.png", "chart-work.png", "chart-throughput.png"})
                std::filesystem::copy_file(out / f, std::filesystem::path(keep.toStdString()) / f, std::filesystem::copy_options::overwrite_existing);
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
