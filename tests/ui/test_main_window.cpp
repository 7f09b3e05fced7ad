// The desktop app as a user drives it: real widgets found by objectName,
// clicked with QTest, real workers behind the Run button.
#include "models/run_charts.h"
#include "models/run_recording.h"
#include "models/time_axis.h"
#include "plan/planner.h"
#include "support/fixtures.h"
#include "widgets/charts_view.h"
#include "widgets/main_window.h"
#include "widgets/model_panel.h"
#include "widgets/timeline_view.h"
#include "widgets/token_stream.h"
#include "widgets/topology_view.h"
#include "widgets/workers_panel.h"
#include "net/endpoint.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"

#include <QAction>
#include <QApplication>
#include <QChartView>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMimeData>
#include <QSlider>
#include <QStandardItemModel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QToolBar>
#include <QToolButton>

#include <nlohmann/json.hpp>

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QProcess>

#include <fstream>

using namespace distgpt;
using namespace distgpt::test;
using namespace distgpt::ui;

class TestMainWindow : public QObject {
    Q_OBJECT
    QTemporaryDir cache;
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
        if (QWidget* button = bar->widgetForAction(a)) {
            QTest::mouseClick(button, Qt::LeftButton);
            return;
        }
        a->trigger();  // a preset: an entry of the Presets menu
    }

    static void useDemo(MainWindow& w, const QString& prompts, int tokens) {
        auto* demo = w.findChild<QRadioButton*>("modelDemo");
        QVERIFY2(demo->isEnabled(), "the bundled demo model was not found");
        demo->setChecked(true);
        w.findChild<QPlainTextEdit*>("prompts")->setPlainText(prompts);
        w.findChild<QSpinBox*>("maxTokens")->setValue(tokens);
    }
    // Runs at real speed and waits until the views show the run's end.
    static void runToTheEnd(MainWindow& w) {
        w.findChild<QSlider*>("slowMotion")->setValue(0);
        QVERIFY(w.findChild<QPushButton*>("runButton")->isEnabled());
        QTest::mouseClick(w.findChild<QPushButton*>("runButton"), Qt::LeftButton);
        QVERIFY(w.running());
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 120000);
        QTRY_VERIFY_WITH_TIMEOUT(w.showingDone(), 10000);
        QTest::qWait(100);  // a frame after the end
    }
    static std::vector<double> latencies(const RunCharts& c) {
        std::vector<double> v;
        for (auto p : c.latency) v.push_back(p.y);
        return v;
    }

private Q_SLOTS:
    void init() { QSettings().clear(); }

    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);  // settings of the test, not the user's
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        qputenv("XDG_CACHE_HOME", QDir(cache.path()).filePath("cache").toUtf8());  // the prediction's measurements: the test's
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
        QCOMPARE(manual[0].second, make_plan(balancedTopology, model_preset("gpt2"), 1, 1024).stages[0].layer_end + 1);
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
        // An ssh endpoint is taken; a mistyped one is named beside the field and not taken.
        auto* endpoint = w.findChild<QLineEdit*>("nodeEndpoint");
        auto* problem = w.findChild<QLabel*>("nodeEndpointProblem");
        endpoint->selectAll();
        QTest::keyClicks(endpoint, "ssh://pi@pi4.local");
        QTest::keyClick(endpoint, Qt::Key_Return);
        QCOMPARE(w.document()->topology().nodes[2].endpoint, std::string("ssh://pi@pi4.local"));
        QVERIFY(problem->isHidden());
        endpoint->selectAll();
        QTest::keyClicks(endpoint, "ssh://pi@");
        QTest::keyClick(endpoint, Qt::Key_Return);
        QCOMPARE(w.document()->topology().nodes[2].endpoint, std::string("ssh://pi@pi4.local"));
        QVERIFY(!problem->isHidden());
        QVERIFY2(problem->text().contains("is not ssh://[user@]host[:port]"), qPrintable(problem->text()));
        QCOMPARE(endpoint->text(), QString("ssh://pi@"));
        QCOMPARE(parse_topology(w.document()->toJson().toStdString()).nodes[2].endpoint, std::string("ssh://pi@pi4.local"));
        // The refused text made no edit: one undo takes the ssh endpoint back.
        action(w, "undo")->trigger();
        QCOMPARE(w.document()->topology().nodes[2].endpoint, std::string("local"));
    }

    // A worker found on the network is dragged onto the canvas and becomes a
    // node with its endpoint and key; one serving another controller says so.
    void aDiscoveredWorkerIsDraggedIntoTheTopology() {
        const int port = 40000 + static_cast<int>(QCoreApplication::applicationPid() % 20000);  // this test's own
        LocalWorker lab("lab-pc", 1, 0, {"--insecure", "--discovery-port", std::to_string(port)}, LocalWorker::Tie::Independent,
                        WorkerPlace{{}, "tcp://0.0.0.0:0"});
        MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.findChild<QDockWidget*>("workersDock")->raise();
        auto* panel = w.findChild<WorkersPanel*>("workersPanel");
        panel->workers()->setPort(port);
        auto* list = w.findChild<QListView*>("discoveredWorkers");
        QTest::mouseClick(w.findChild<QPushButton*>("findWorkers"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(list->model()->rowCount(), 1, 5000);  // heard on loopback and on the network: one worker
        QVERIFY2(w.findChild<QLabel*>("discoveryStatus")->text().startsWith("1 worker(s) answered"),
                 qPrintable(w.findChild<QLabel*>("discoveryStatus")->text()));
        const QString shown = list->model()->index(0, 0).data().toString();
        QVERIFY2(shown.contains("lab-pc") && !shown.contains("busy"), qPrintable(shown));

        // Dropped on the canvas: the mime data the list's drag carries.
        const std::size_t before = w.document()->topology().nodes.size();
        std::unique_ptr<QMimeData> mime(list->model()->mimeData({list->model()->index(0, 0)}));
        auto* view = w.findChild<TopologyView*>("topologyView");
        const QPoint at = view->viewport()->rect().center();
        const QPointF onCanvas = view->mapToScene(at);  // before the view refits around the new node
        QDragEnterEvent enter(at, Qt::CopyAction, mime.get(), Qt::LeftButton, {});
        QApplication::sendEvent(view->viewport(), &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(at), Qt::CopyAction, mime.get(), Qt::LeftButton, {});
        QApplication::sendEvent(view->viewport(), &drop);
        QCOMPARE(w.document()->topology().nodes.size(), before + 1);
        const NodeSpec added = w.document()->topology().nodes.back();
        QCOMPARE(added.name, std::string("lab-pc"));
        QCOMPARE(net::parse_endpoint(added.endpoint)->port, net::parse_endpoint(lab.endpoint())->port);
        QVERIFY(QLineF(w.document()->positions().back(), onCanvas).length() < 1);
        // Added again with the button: a name of its own.
        list->setCurrentIndex(list->model()->index(0, 0));
        QTest::mouseClick(w.findChild<QPushButton*>("addDiscoveredWorker"), Qt::LeftButton);
        QCOMPARE(w.document()->topology().nodes.back().name, std::string("lab-pc-2"));

        // Held by another controller: searched again, the list says whom it serves.
        Topology held;
        held.nodes.push_back({"lab-pc", added.endpoint, 1, 0, WeightSource::Stream, ""});
        ClusterOptions o;
        o.controller_name = "another laptop";
        Cluster holder(held, o);
        QTest::mouseClick(w.findChild<QPushButton*>("findWorkers"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(
            list->model()->rowCount() == 1 && list->model()->index(0, 0).data().toString().contains("busy: serving another laptop"), 5000);
        QVERIFY(list->model()->index(0, 0).data(DiscoveredWorkers::BusyRole).toBool());
    }

    // Out of the box: each bundled demo model on three stages.
    void demoModelRunsOutOfTheBox_data() {
        QTest::addColumn<QString>("button");
        QTest::addColumn<QString>("title");
        QTest::addColumn<int>("family");
        QTest::addColumn<QString>("weights");  // the weights box's choice: empty, as stored
        QTest::newRow("characters, GPT-2") << "modelDemo"
                                           << "demo: shakespeare-char" << int(ModelFamily::Gpt2) << "";
        QTest::newRow("BPE, LLaMA") << "modelDemoLlama"
                                    << "demo: shakespeare-llama" << int(ModelFamily::Llama) << "";
        QTest::newRow("BPE, LLaMA, q4 weights") << "modelDemoLlama"
                                                << "demo: shakespeare-llama" << int(ModelFamily::Llama) << "q4";
    }
    void demoModelRunsOutOfTheBox() {
        QFETCH(QString, button);
        QFETCH(QString, title);
        QFETCH(int, family);
        QFETCH(QString, weights);
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 3");
        auto* demo = w.findChild<QRadioButton*>(button);
        QVERIFY2(demo->isEnabled(), "the bundled demo model was not found");
        demo->setChecked(true);
        auto* panel = w.findChild<ModelPanel*>("modelPanel");
        QCOMPARE(panel->title(), title);
        QCOMPARE(int(panel->config()->family), family);
        auto* format = w.findChild<QComboBox*>("weightsDtype");
        format->setCurrentIndex(weights.isEmpty() ? 0 : format->findData(weights));
        QVERIFY(format->currentIndex() >= 0);
        w.findChild<QPlainTextEdit*>("prompts")->setPlainText("ROMEO:\nJULIET:\nFirst Citizen:");
        // Past the 128 of context: each window shifts, keeping 50, and the text goes on.
        w.findChild<QSpinBox*>("maxTokens")->setValue(200);
        w.findChild<QSpinBox*>("keepTokens")->setValue(50);
        QTest::mouseClick(w.findChild<QPushButton*>("runButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(w.runState().tokenCount() >= 150, 60000);
        const QByteArray keep = qgetenv("DISTGPT_SCREENSHOTS");
        if (!keep.isEmpty()) QVERIFY(w.grab().save(QString::fromUtf8(keep) + "/demo-during-run-" + button + ".png"));
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 120000);
        QCOMPARE(w.runState().tokenCount(), 3 * 200);
        std::vector<int> shifts(3, 0);
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::WindowShift) ++shifts[s.node];
        for (int node = 0; node < 3; ++node)
            QVERIFY2(shifts[node] >= 3, qPrintable(QString("node %1: %2 window shifts").arg(node).arg(shifts[node])));
        // Every token passed every stage: each node's rate over the run is the run's.
        const double run_rate = 600 / (w.runState().latestUs() / 1e6);
        for (int node = 0; node < 3; ++node) {
            const double rate = w.runState().tokensPerSecond(node, w.runState().latestUs());
            QVERIFY2(rate > 0.8 * run_rate && rate < 1.05 * run_rate,
                     qPrintable(QString::number(rate) + " vs " + QString::number(run_rate)));
        }
        const QString text = w.findChild<TokenStream*>("tokenStream")->toPlainText();
        QVERIFY(text.contains("JULIET:"));
        QVERIFY(!text.contains("\\x"));  // both write whole characters: every token of the learned vocabulary is ASCII here
        if (!keep.isEmpty()) QVERIFY(w.grab().save(QString::fromUtf8(keep) + "/demo-after-run-" + button + ".png"));
    }

    // Choosing 16-bit weights halves the weights every node box shows, and
    // the model panel says the format.
    void smallerWeightsShrinkEachNodesMemory_data() {
        QTest::addColumn<int>("format");
        for (WeightFormat f : {WeightFormat::BF16, WeightFormat::Q8, WeightFormat::Q4})
            QTest::newRow(weight_format_name(f).c_str()) << int(f);
    }
    void smallerWeightsShrinkEachNodesMemory() {
        QFETCH(int, format);
        const auto held = static_cast<WeightFormat>(format);
        const QString name = QString::fromStdString(weight_format_name(held));
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Single node");
        w.findChild<QRadioButton*>("modelRandom")->setChecked(true);
        w.findChild<QComboBox*>("modelShape")->setCurrentText("gpt2");
        auto* view = w.findChild<TopologyView*>("topologyView");
        auto held_mib = [&] { return view->nodeMemoryText(0).section(' ', 0, 0).toDouble(); };  // weights and KV cache
        const double f32 = held_mib();
        QVERIFY2(f32 > 0, qPrintable(view->nodeMemoryText(0)));
        auto* weights = w.findChild<QComboBox*>("weightsDtype");
        weights->setCurrentIndex(weights->findData(name));
        // bf16: 2 of 4 bytes a weight saved; q8: all but 34/32; q4: all but 18/32.
        const double saved = model_preset("gpt2").parameter_count() * (4.0 - bytes_per_weight(held)) / (1 << 20);
        QTRY_VERIFY2(std::abs(f32 - held_mib() - saved) < 1, qPrintable(view->nodeMemoryText(0)));
        QVERIFY(w.findChild<QLabel*>("modelInfo")->text().contains("MiB in " + name));
        QCOMPARE(w.findChild<ModelPanel*>("modelPanel")->weightFormat(), held);
    }

    // A saved topology carries the weight format, the wire format (and the
    // node positions); opening it chooses them again.
    void aSavedTopologyKeepsTheWeightFormat() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 3");
        auto* weights = w.findChild<QComboBox*>("weightsDtype");
        weights->setCurrentIndex(weights->findData("f16"));
        auto* wire = w.findChild<QComboBox*>("wireFormat");
        wire->setCurrentIndex(wire->findData("q8"));
        const QString file = QString::fromStdString((path_of(dir) / "f16-topology.json").string());
        w.saveTopologyTo(file);
        const auto saved = nlohmann::json::parse(read_file(file.toStdString()));
        QCOMPARE(saved["weights_dtype"].get<std::string>(), std::string("f16"));
        QCOMPARE(saved["positions"].size(), std::size_t(3));
        QCOMPARE(saved["wire"].get<std::string>(), std::string("q8"));
        QCOMPARE(read_topology(file.toStdString()).weights_dtype, std::optional<WeightFormat>(WeightFormat::F16));  // as the CLI reads it
        weights->setCurrentIndex(0);                                                                                // as stored
        wire->setCurrentIndex(0);                                                                                   // f32
        w.openTopologyFrom(file);
        QCOMPARE(wire->currentData().toString(), QString("q8"));
        QCOMPARE(weights->currentData().toString(), QString("f16"));
        QCOMPARE(w.findChild<ModelPanel*>("modelPanel")->chosenWeightFormat(), std::optional<WeightFormat>(WeightFormat::F16));
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
        // The run taught the prediction what it cost beyond the layers, kept with this machine's rates.
        const auto rates_file = std::filesystem::path(cache.path().toStdString()) / "cache" / "distgpt" / "node-rates.json";
        QTRY_VERIFY_WITH_TIMEOUT(std::filesystem::exists(rates_file) && read_file(rates_file).find("\"learned | ") != std::string::npos,
                                 30000);
        QVERIFY(read_file(rates_file).find("\"learned hop | ") != std::string::npos);

        // Saved, then replayed in a fresh window with no worker: the same run.
        const QString recording = QString::fromStdString((out / "run.json").string());
        w.saveRun(recording);
        MainWindow replay;
        replay.show();
        replay.replayRun(recording);
        QTRY_VERIFY_WITH_TIMEOUT(replay.showingDone(), 10000);
        QCOMPARE(replay.runState().tokenCount(), w.runState().tokenCount());
        QCOMPARE(replay.runState().spans().size(), w.runState().spans().size());
        QCOMPARE(replay.document()->topology().nodes.size(), size_t(3));
        QTRY_VERIFY(replay.findChild<TokenStream*>("tokenStream")->toPlainText() == stream->toPlainText());
        const QByteArray keep = qgetenv("DISTGPT_SCREENSHOTS");
        if (!keep.isEmpty())
            for (const char* f : {"during-run.png", "after-run.png", "timeline.png", "chart-work.png", "chart-throughput.png"})
                std::filesystem::copy_file(out / f, std::filesystem::path(keep.toStdString()) / f,
                                           std::filesystem::copy_options::overwrite_existing);
    }

    // A node's network: a preset sets its numbers, which stay editable; the
    // topology saved is what distgpt-cli runs.
    void aNodesNetworkIsChosenAndEdited() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 2");
        w.findChild<TopologyView*>("topologyView")->selectNode(1);
        auto* network = w.findChild<QComboBox*>("nodeNetwork");
        QVERIFY(network);
        QCOMPARE(network->currentIndex(), 0);  // as it is
        const int pi = network->findText("Raspberry Pi on Wi-Fi");
        QVERIFY(pi > 0);
        network->setCurrentIndex(pi);
        Q_EMIT network->activated(pi);
        QCOMPARE(w.document()->topology().nodes[1].network, *network_preset("Raspberry Pi on Wi-Fi"));
        auto* latency = w.findChild<QDoubleSpinBox*>("nodeLatency");
        QCOMPARE(latency->value(), 3.0);
        latency->setValue(12);
        Q_EMIT latency->editingFinished();
        QCOMPARE(w.document()->topology().nodes[1].network.latency_ms, 12.0);
        QCOMPARE(network->currentText(), QString("custom"));  // no preset has these numbers
        const Topology saved = parse_topology(w.document()->toJson().toStdString());
        QCOMPARE(saved.nodes[1].network.latency_ms, 12.0);
        QCOMPARE(saved.link(1, 0).latency_ms, 12.0);
        QCOMPARE(saved.link(1, 0).bandwidth_mbps, 40.0);  // the Pi's uplink
        action(w, "undo")->trigger();
        QCOMPARE(w.document()->topology().nodes[1].network, *network_preset("Raspberry Pi on Wi-Fi"));
        // A preset's fractions survive the editor's boxes (1.5 ms of jitter once became 2, and "custom").
        const int laptop = network->findText("laptop on Wi-Fi");
        network->setCurrentIndex(laptop);
        Q_EMIT network->activated(laptop);
        QCOMPARE(w.document()->topology().nodes[1].network, *network_preset("laptop on Wi-Fi"));
        QCOMPARE(network->currentText(), QString("laptop on Wi-Fi"));
        network->setCurrentIndex(0);
        Q_EMIT network->activated(0);
        QVERIFY(!w.document()->topology().nodes[1].network.emulated());
    }

    // A link picked on the canvas: the Link editor shows what the two nodes'
    // networks make of it; set by hand both ways it is drawn thinner, with
    // its numbers; a run over it shows each message's emulated time in the
    // timeline's details, the charts and the recording; undone, it is gone.
    void aLinkIsPickedOnTheCanvasAndEdited() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        click(w, "preset Laptop and a Pi on Wi-Fi");
        auto* view = w.findChild<TopologyView*>("topologyView");
        const auto handle = view->linkHandle(0, 1);
        QVERIFY(handle);
        QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, *handle);
        QCOMPARE(view->selectedLink(), std::optional(std::pair{0, 1}));
        auto* title = w.findChild<QLabel*>("linkTitle");
        QTRY_VERIFY(title->isVisible());
        QCOMPARE(title->text(), QString("Link laptop → pi"));
        QCOMPARE(w.findChild<QDockWidget*>("nodeDock")->windowTitle(), QString("Link"));
        // Not set by hand: the laptop's Wi-Fi uplink and the Pi's downlink make it.
        const LinkModel fromNetworks = w.document()->topology().link(0, 1);
        QVERIFY(fromNetworks.emulated());
        QCOMPARE(view->linkLabel(0, 1), linkSummary(fromNetworks));
        QVERIFY(w.findChild<QLabel*>("linkFromNetworks")->text().endsWith(linkSummary(fromNetworks)));
        const double wide = view->linkWidth(0, 1);
        auto* byHand = w.findChild<QCheckBox*>("linkByHand");
        QVERIFY(!byHand->isChecked());
        byHand->setChecked(true);  // set by hand, starting from the numbers in effect
        const LinkModel set = *w.document()->linkOverride(0, 1);
        QVERIFY2(set == fromNetworks, qPrintable(QString("set %1 %2 %3, from the networks %4 %5 %6")
                                                     .arg(set.bandwidth_mbps)
                                                     .arg(set.latency_ms)
                                                     .arg(set.jitter_ms)
                                                     .arg(fromNetworks.bandwidth_mbps)
                                                     .arg(fromNetworks.latency_ms)
                                                     .arg(fromNetworks.jitter_ms)));
        for (const auto& [name, value] : {std::pair{"linkBandwidth", 1.0}, {"linkLatency", 20.0}, {"linkJitter", 0.0}}) {
            auto* box = w.findChild<QDoubleSpinBox*>(name);
            QVERIFY(box->isEnabled());
            box->setValue(value);
            Q_EMIT box->editingFinished();
        }
        const LinkModel slow{1, 20, 0};
        QCOMPARE(w.document()->topology().link(0, 1), slow);
        QCOMPARE(w.document()->topology().link(1, 0), slow);  // both ways
        QVERIFY2(view->linkWidth(0, 1) < wide, qPrintable(QString("%1 against %2").arg(view->linkWidth(0, 1)).arg(wide)));
        QCOMPARE(view->linkLabel(0, 1), QString("1 Mbit/s · 20 ms"));
        QCOMPARE(w.findChild<QLabel*>("linkInEffect")->text(), QString("In effect: 1 Mbit/s · 20 ms (set by hand)"));
        QCOMPARE(view->selectedLink(), std::optional(std::pair{0, 1}));  // still picked after the canvas redrew
        QCOMPARE(parse_topology(w.document()->toJson().toStdString()).links.size(), size_t(2));

        // A run over it: every send on the link says what the link did.
        useDemo(w, "ROMEO:", 12);
        runToTheEnd(w);
        const TraceSpan* send = nullptr;
        int sends = 0;
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::Send && s.node == 0 && s.peer == 1) {
                QVERIFY(s.emulated);
                QCOMPARE(s.emulated->latency_us, 20000.0);
                // 1 Mbit/s: 8 µs a byte, of the activations and the message's header.
                QVERIFY(s.emulated->wire_us >= s.bytes * 8.0 && s.emulated->wire_us < (s.bytes + 512) * 8.0);
                send = &s;
                ++sends;
            }
        QVERIFY(send);
        const QString details = TimelineView::describe(w.runState(), *send);
        QVERIFY2(details.contains("then the emulated link:") && details.contains("20.00 ms latency"), qPrintable(details));
        const RunCharts charts = RunCharts::of(w.runState(), 1e12);
        const auto row = charts.links.indexOf("laptop→pi (emulated)");
        QVERIFY2(row >= 0, qPrintable(charts.links.join(", ")));
        QVERIFY(charts.link_in_flight_ms[row] >= sends * 20.0);  // each of its messages took the 20 ms latency at least
        const QString recording = QDir(dir.path()).filePath("emulated.distgpt-run");
        w.saveRun(recording);
        const RunRecording back = RunRecording::load(recording);
        const auto kept = std::find_if(back.spans.begin(), back.spans.end(), [](const TraceSpan& s) { return s.emulated.has_value(); });
        QVERIFY(kept != back.spans.end());

        // Undone: the link is what the networks make of it again.
        for (int i = 0; i < 4 && w.document()->linkOverride(0, 1); ++i) action(w, "undo")->trigger();  // the numbers, then the setting
        QVERIFY(!w.document()->linkOverride(0, 1));
        QVERIFY(!w.document()->linkOverride(1, 0));
        QVERIFY(!byHand->isChecked());
        QCOMPARE(view->linkLabel(0, 1), linkSummary(fromNetworks));
        // A node picked drops the link.
        view->selectNode(1);
        QVERIFY(!view->selectedLink());
        QCOMPARE(w.findChild<QDockWidget*>("nodeDock")->windowTitle(), QString("Node"));
    }

    // The live view's link label counts the messages queued on an emulated
    // link behind earlier bytes at the time shown.
    void anEmulatedLinksQueueIsShownLive() {
        TopologyDocument doc;
        doc.setTopology(parse_topology(R"({"nodes": [{"name": "a", "network": {"uplink_mbps": 10}}, {"name": "b"}]})"));
        TopologyView view(&doc);
        RunState state;
        state.reset({{"a", 0, 0}, {"b", 1, 0}}, {"p", "q"});
        auto send = [](int step, double t0, double queued) {
            TraceSpan s;
            s.node = 0;
            s.kind = SpanKind::Send;
            s.t0_us = t0;
            s.t1_us = t0 + 10;
            s.step = step;
            s.peer = 1;
            s.bytes = 2048;
            s.emulated = EmulatedDelay{queued, 1600, 0};
            return s;
        };
        auto receive = [](int step, double at) {
            TraceSpan s;
            s.node = 1;
            s.kind = SpanKind::Receive;
            s.t0_us = at;
            s.t1_us = at + 5;
            s.step = step;
            return s;
        };
        // Two messages handed over at once: the second waits for the first's 1.6 ms on the wire.
        state.addSpans({send(0, 0, 0), send(1, 0, 1600), receive(0, 1610), receive(1, 3210)});
        view.showLive(&state, 1000, 100, false);
        QCOMPARE(view.linkLabel(0, 1), QString("10 Mbit/s · queue 1 (2.0 KiB)"));
        view.showLive(&state, 2000, 100, false);  // the second on the wire now
        QCOMPARE(view.linkLabel(0, 1), QString("10 Mbit/s"));
    }

    // Serve: the topology answers the API; each request that comes is a
    // sequence the token stream, the live view and the timeline show as it runs.
    void servesRequestsAndShowsThemAsSequences() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        click(w, "preset Pipeline 2");
        useDemo(w, "", 8);
        auto* serve = w.findChild<QCheckBox*>("serveSwitch");
        QVERIFY(serve && serve->isVisible());
        serve->setChecked(true);
        QVERIFY(!w.findChild<QPlainTextEdit*>("prompts")->isEnabled());  // the requests bring their prompts
        auto* run = w.findChild<QPushButton*>("runButton");
        QCOMPARE(run->text(), QString("Serve"));
        QTRY_VERIFY(run->isEnabled());  // no prompt needed
        const int port = free_tcp_port();
        w.findChild<QSpinBox*>("servePort")->setValue(port);
        QTest::mouseClick(run, Qt::LeftButton);
        auto* address = w.findChild<QLabel*>("serveAddress");
        QTRY_VERIFY_WITH_TIMEOUT(address->isVisible(), 60000);
        QVERIFY(address->text().contains(QString("http://127.0.0.1:%1/v1").arg(port)));

        // Three users at once.
        std::vector<std::unique_ptr<QProcess>> users;
        for (const char* who : {"ROMEO", "JULIET", "HAMLET"}) {
            users.push_back(std::make_unique<QProcess>());
            const QString body =
                QString(R"({"messages": [{"role": "user", "content": "%1, speak."}], "max_tokens": 60, "seed": 2})").arg(who);
            users.back()->start("curl", {"-s", QString("http://127.0.0.1:%1/v1/chat/completions").arg(port), "-d", body});
        }
        QTRY_VERIFY_WITH_TIMEOUT(w.runState().prompts().size() == 3, 30000);
        QTRY_VERIFY_WITH_TIMEOUT(w.runState().tokenCount() >= 3 * 60, 60000);
        for (auto& u : users) {
            QVERIFY(u->state() == QProcess::NotRunning || u->waitForFinished(30000));
            const auto reply = nlohmann::json::parse(u->readAllStandardOutput().toStdString());
            QCOMPARE(reply["usage"]["completion_tokens"].get<int>(), 60);
        }
        auto* stream = w.findChild<TokenStream*>("tokenStream");
        QTRY_VERIFY(stream->toPlainText().contains("sequence 3"));
        for (const char* who : {"ROMEO, speak.", "JULIET, speak.", "HAMLET, speak."}) QVERIFY(stream->toPlainText().contains(who));
        std::vector<int> computes(2);
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::Compute) ++computes[s.node];
        for (int c : computes) QVERIFY(c >= 60);
        QVERIFY(w.running());  // it serves until stopped
        QTest::mouseClick(w.findChild<QPushButton*>("stopButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 30000);
        QVERIFY(!address->isVisible());
        QCOMPARE(static_cast<size_t>(w.runState().tokenCount()), w.runState().trace().tokens.size());
        QCOMPARE(w.runState().trace().sequences, 3);
        QVERIFY(serve->isEnabled());
    }

    // The views show the run at hand: a second run with the same counts
    // replaces the first everywhere, charts and exports included, even when
    // the charts were hidden during it.
    void aSecondRunReplacesTheFirstEverywhere() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        w.document()->applyPreset("Pipeline 3");
        useDemo(w, "ROMEO:\nJULIET:\nHAMLET:", 20);
        auto* charts = w.findChild<ChartsView*>("chartsView");
        auto* chartsDock = w.findChild<QDockWidget*>("chartsDock");
        chartsDock->raise();
        runToTheEnd(w);
        QCOMPARE(w.runState().tokenCount(), 60);
        QTRY_COMPARE(charts->shown().tokens, 60);
        const std::vector<double> first = latencies(charts->shown());
        QTemporaryDir one, two;
        w.exportCharts(one.path());
        w.exportMetrics(QDir(one.path()).filePath("metrics.json"));

        w.findChild<QDockWidget*>("timelineDock")->raise();  // charts hidden during the second run
        QTRY_VERIFY(!charts->onScreen());
        w.findChild<QSpinBox*>("seed")->setValue(99);
        runToTheEnd(w);
        QCOMPARE(w.runState().tokenCount(), 60);  // the same counts
        chartsDock->raise();
        QTRY_VERIFY(charts->onScreen());
        QTRY_VERIFY(latencies(charts->shown()) == latencies(RunCharts::of(w.runState(), w.runState().latestUs())));
        QVERIFY(latencies(charts->shown()) != first);
        w.exportCharts(two.path());
        w.exportMetrics(QDir(two.path()).filePath("metrics.json"));
        for (const char* f : {"chart-latency.png", "chart-work.png", "metrics.json"})
            QVERIFY2(read_file(QDir(one.path()).filePath(f).toStdString()) != read_file(QDir(two.path()).filePath(f).toStdString()), f);
        std::ifstream metrics(QDir(two.path()).filePath("metrics.json").toStdString());
        QCOMPARE(nlohmann::json::parse(metrics)["wall_seconds"].get<double>(), w.runState().trace().wall_us / 1e6);
        // Nothing is left computing, and no message flies, once the run is shown to its end.
        auto* view = w.findChild<TopologyView*>("topologyView");
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(view->nodeLive(i).state, TopologyView::NodeLive::State::Done);
            QVERIFY(!view->nodeLive(i).shown);
        }
        QVERIFY(w.findChild<QLabel*>("statusLabel")->text().startsWith("Done:"));

        // A slowed view lights each node for the share of the time it was
        // busy: the live view stepped frame by frame through the run, 1000x slower.
        const RunState& state = w.runState();
        const double end = state.latestUs(), frame = 33000.0 / 1000;
        std::vector<int> lit(3);
        int frames = 0;
        for (double t = frame; t <= end; t += frame, ++frames) {
            view->showLive(&state, t, frame, false);
            for (int i = 0; i < 3; ++i)
                lit[i] += view->nodeLive(i).shown.has_value() && *view->nodeLive(i).shown != SpanKind::Send &&
                          *view->nodeLive(i).shown != SpanKind::Receive;
        }
        for (int i = 0; i < 3; ++i) {
            const double shown = 100.0 * lit[i] / frames, busy = state.busyPercent(i, end);
            qInfo("node %d: lit %.1f%% of %d frames at 1000x, busy %.1f%%", i, shown, frames, busy);
            QVERIFY2(std::abs(shown - busy) <= 0.1 * busy,
                     qPrintable(QString("node %1 lit %2% of the time, busy %3%").arg(i).arg(shown).arg(busy)));
        }

        // A new topology is not the last run's: every view starts afresh.
        w.document()->addNode();
        QVERIFY(w.runState().empty());
        QTest::qWait(100);
        for (int i = 0; i < 4; ++i) QCOMPARE(view->nodeLive(i).state, TopologyView::NodeLive::State::None);
        QVERIFY(w.findChild<TokenStream*>("tokenStream")->toPlainText().isEmpty());
    }

    // Tensor parallelism: every step's all-reduce is measured, on its own
    // track, with the step it belongs to.
    void tensorRunsMeasureTheirAllReduce() {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        w.document()->applyPreset("Tensor 2");
        useDemo(w, "ROMEO:\nJULIET:", 12);
        runToTheEnd(w);
        int allreduces = 0;
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::AllReduce) {
                ++allreduces;
                QVERIFY(s.step >= 0 && s.group >= 0);
                QVERIFY(s.bytes > 0);
                QVERIFY(TimelineView::describe(w.runState(), s).startsWith("all-reduce on node"));
            }
        // Two per layer (attention and MLP) for every step, on both ranks.
        QVERIFY2(allreduces >= 2 * 8 * 12 * 2, qPrintable(QString::number(allreduces)));
        // The live view shows the exchange between the ranks while it lasts.
        const TraceSpan* longest = nullptr;
        for (const auto& s : w.runState().spans())
            if (s.kind == SpanKind::AllReduce && (!longest || s.t1_us - s.t0_us > longest->t1_us - longest->t0_us)) longest = &s;
        auto* view = w.findChild<TopologyView*>("topologyView");
        view->showLive(&w.runState(), (longest->t0_us + longest->t1_us) / 2, 1, false);
        QCOMPARE(*view->nodeLive(longest->node).shown, SpanKind::AllReduce);
        QCOMPARE(view->exchanges().size(), 1);
        QCOMPARE(view->exchanges()[0].nodes, (QVector<int>{0, 1}));
    }

    // The strategy box says what the topology is, and offers only what fits it.
    void theStrategyBoxFollowsTheTopology_data() {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<QString>("strategy");
        QTest::addColumn<bool>("hybrid2");
        QTest::addColumn<bool>("hybrid4");
        QTest::newRow("pipeline 3") << "Pipeline 3"
                                    << "pipeline" << false << false;
        QTest::newRow("tensor 2") << "Tensor 2"
                                  << "tensor" << true << false;
        QTest::newRow("hybrid 2x2") << "Hybrid 2x2"
                                    << "hybrid 2" << true << true;
        QTest::newRow("pipeline 4") << "Pipeline 4"
                                    << "pipeline" << true << true;
        QTest::newRow("single node") << "Single node"
                                     << "pipeline" << false << false;
    }
    void theStrategyBoxFollowsTheTopology() {
        QFETCH(QString, preset);
        QFETCH(QString, strategy);
        QFETCH(bool, hybrid2);
        QFETCH(bool, hybrid4);
        MainWindow w;
        w.show();
        click(w, "preset " + preset);
        auto* box = w.findChild<QComboBox*>("strategy");
        QCOMPARE(box->currentText(), strategy);
        const auto* items = qobject_cast<QStandardItemModel*>(box->model());
        QCOMPARE(items->item(box->findText("hybrid 2"))->isEnabled(), hybrid2);
        QCOMPARE(items->item(box->findText("hybrid 4"))->isEnabled(), hybrid4);
    }

    // Strategy auto in the app: picked in the box, Run waits while each
    // split is predicted, then the fastest becomes the strategy, the status
    // bar says why, and one undo takes the pick back. A file saying auto is
    // chosen for as it opens.
    void strategyAutoIsChosenAndUndoneInOneStep() {
        MainWindow w;
        w.show();
        click(w, "preset Tensor 2");
        useDemo(w, "ROMEO:", 20);
        auto* box = w.findChild<QComboBox*>("strategy");
        const int autoRow = box->findText("auto");
        QVERIFY(autoRow >= 0);
        box->setCurrentIndex(autoRow);
        Q_EMIT box->activated(autoRow);
        QTRY_VERIFY_WITH_TIMEOUT(w.document()->topology().strategy != Strategy::Auto, 60000);
        const QString status = w.findChild<QLabel*>("statusLabel")->text();
        QVERIFY2(status.startsWith("Strategy auto: ") && status.contains("tokens/s predicted"), qPrintable(status));
        QVERIFY(box->currentText() == "pipeline" || box->currentText() == "tensor");
        QVERIFY2(w.runBlockedReason().isEmpty(), qPrintable(w.runBlockedReason()));
        action(w, "undo")->trigger();  // the pick and its choice: one step
        QCOMPARE(w.document()->topology().strategy, Strategy::Tensor);
        QCOMPARE(box->currentText(), QString("tensor"));

        const QString file = QDir(dir.path()).filePath("auto.json");
        write_file(file.toStdString(), R"({"strategy": "auto", "nodes": [{"name": "a", "threads": 1}, {"name": "b", "threads": 1}]})");
        w.openTopologyFrom(file);
        QTRY_VERIFY_WITH_TIMEOUT(w.document()->topology().strategy != Strategy::Auto, 60000);
        QVERIFY(w.runBlockedReason().isEmpty());
        runToTheEnd(w);
        QCOMPARE(w.runState().tokenCount(), 20);
    }

    // What cannot run says why, beside Run: a folder that is not a model, a
    // node count a tensor-parallel degree does not divide.
    void impossibleSetupsCannotRun() {
        MainWindow w;
        w.show();
        click(w, "preset Hybrid 2x2");
        w.findChild<QRadioButton*>("modelFolder")->setChecked(true);
        auto* path = w.findChild<QLineEdit*>("modelPath");
        path->setText(dir.path());  // no config.json here
        QMetaObject::invokeMethod(path, "editingFinished");
        auto* run = w.findChild<QPushButton*>("runButton");
        QVERIFY(!run->isEnabled());
        QVERIFY2(w.runBlockedReason().contains("config.json"), qPrintable(w.runBlockedReason()));
        auto* reason = w.findChild<QLabel*>("runBlockedReason");
        QVERIFY(reason->isVisible());
        useDemo(w, "a\nb", 4);
        QVERIFY(run->isEnabled());
        QVERIFY(!reason->isVisible());
        click(w, "addNode");  // 5 nodes, 2 ranks a stage
        QVERIFY(!run->isEnabled());
        QVERIFY2(w.runBlockedReason().contains("5 nodes"), qPrintable(w.runBlockedReason()));
        w.findChild<QPlainTextEdit*>("prompts")->clear();
        action(w, "undo")->trigger();
        QVERIFY2(w.runBlockedReason().contains("prompt"), qPrintable(w.runBlockedReason()));
    }

    // A run that cannot start says why in the status bar and leaves the
    // views empty; Run is ready again.
    void aRunThatCannotStartSaysWhy() {
        MainWindow w;
        w.show();
        w.document()->applyPreset("Pipeline 2");
        useDemo(w, "ROMEO:", 4);
        qputenv("DISTGPT_WORKER", "/nonexistent/distgpt-worker");
        QTest::mouseClick(w.findChild<QPushButton*>("runButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!w.running(), 30000);
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        const QString status = w.findChild<QLabel*>("statusLabel")->text();
        QVERIFY2(status.startsWith("Stopped: ") && status.contains("/nonexistent/distgpt-worker"), qPrintable(status));
        QTest::qWait(100);
        QCOMPARE(w.findChild<QLabel*>("statusLabel")->text(), status);  // not overwritten by the next frame
        QVERIFY(w.runState().empty());
        QVERIFY(w.findChild<QPushButton*>("runButton")->isEnabled());
    }

    // A replay follows the slow-motion speed and can be undone like any
    // change to the topology.
    void aReplayIsSlowedAndUndoable() {
        MainWindow w;
        w.show();
        w.document()->applyPreset("Pipeline 2");
        useDemo(w, "ROMEO:\nJULIET:", 10);
        runToTheEnd(w);
        const QString file = QDir(dir.path()).filePath("two-stages.json");
        w.saveRun(file);
        auto* timeline = w.findChild<TimelineView*>("timelineView");
        timeline->fitAll();
        MainWindow replay;
        replay.show();
        click(replay, "preset Tensor 2");
        replay.findChild<QSlider*>("slowMotion")->setValue(replay.findChild<QSlider*>("slowMotion")->maximum());  // 5000x
        replay.replayRun(file);
        QCOMPARE(replay.document()->topology().nodes.size(), size_t(2));
        QCOMPARE(replay.document()->topology().strategy, Strategy::Pipeline);
        QTest::qWait(300);
        QVERIFY(!replay.showingDone());
        QVERIFY(replay.shownUs() < 0.5 * replay.runState().latestUs());                                // 300 ms at 5000x: 60 µs of the run
        QVERIFY(replay.runState().tokenCountUpTo(replay.shownUs()) < replay.runState().tokenCount());  // tokens still to come
        replay.skipToEnd();
        QTRY_VERIFY(replay.showingDone());
        action(replay, "undo")->trigger();
        QCOMPARE(replay.document()->topology().strategy, Strategy::Tensor);
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
