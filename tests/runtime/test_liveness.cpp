// Dead nodes and vanished controllers, with real processes.
#include "engine/local_engine.h"
#include "net/sockets.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "support/fixtures.h"

#include <QProcess>
#include <QTest>

#include <csignal>
#include <unistd.h>
#include <thread>

using namespace distgpt;
using namespace distgpt::test;

class TestLiveness : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { qputenv("DISTGPT_WORKER", DISTGPT_WORKER); }

    // kill -9 of a worker mid-run: the run stops within seconds, names the
    // node and why, and keeps every token generated before.
    void killedWorkerStopsTheRunAndKeepsItsTokens() {
        QTemporaryDir dir;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "m", small_config(4, 4, 128, 257, 256), 2);
        const OpenedModel model = open_model(source);
        LocalWorker victim("victim", 1, 0);
        Topology t;
        t.nodes = {{"first", "local", 1, 0, WeightSource::Auto}, {"victim", victim.endpoint(), 1, 0, WeightSource::Stream}};
        ClusterOptions o;
        o.liveness_ms = 1500;
        o.recover = false;
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, model.config, 2, 256), source, model, 2, 256);
        RunRequest r;
        r.prompts = {model.tokenizer->encode("one"), model.tokenizer->encode("two")};
        r.options.max_new_tokens = 240;
        r.options.stop_at_eos = false;
        int seen = 0;
        std::chrono::steady_clock::time_point killed;
        r.on_token = [&](const TokenMark&) {
            if (++seen == 10) {
                ::kill(victim.pid(), SIGKILL);
                killed = std::chrono::steady_clock::now();
            }
        };
        const RunResult result = cluster.run(r);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
        QVERIFY2(result.error.find("node 'victim'") != std::string::npos, result.error.c_str());
        QVERIFY2(result.error.find("no heartbeat") != std::string::npos, result.error.c_str());
        QCOMPARE(result.node_at_fault, 1);
        QCOMPARE(result.losses.size(), size_t(1));
        QVERIFY(result.losses[0].recovery.empty());
        QVERIFY2(seconds < 6, std::to_string(seconds).c_str());
        int kept = 0;
        for (const auto& s : result.sequences) {
            kept += static_cast<int>(s.generated_ids.size());
            QVERIFY(s.finish == FinishReason::Interrupted);
        }
        QVERIFY(kept >= 10 && kept < 480);
        QVERIFY(result.error.find("the " + std::to_string(kept) + " tokens generated so far kept") != std::string::npos);
    }

    // A worker frozen mid-run (SIGSTOP) while its heartbeat timeout is long:
    // the run stops at the stall timeout, says so, and keeps every token.
    void aStalledRunKeepsItsTokens() {
        QTemporaryDir dir;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "m", small_config(2, 2, 64, 257, 256), 3);
        const OpenedModel model = open_model(source);
        LocalWorker frozen("frozen", 1, 0);
        Topology t;
        t.nodes = {{"first", "local", 1, 0, WeightSource::Auto}, {"frozen", frozen.endpoint(), 1, 0, WeightSource::Stream}};
        ClusterOptions o;
        o.liveness_ms = 60000;  // the heartbeat would notice only much later
        o.stall_timeout_ms = 1500;
        o.recover = false;
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, model.config, 1, 256), source, model, 1, 256);
        RunRequest r;
        r.prompts = {model.tokenizer->encode("one")};
        r.options.max_new_tokens = 240;
        r.options.stop_at_eos = false;
        int seen = 0;
        r.on_token = [&](const TokenMark&) {
            if (++seen == 10) ::kill(frozen.pid(), SIGSTOP);
        };
        const RunResult result = cluster.run(r);
        ::kill(frozen.pid(), SIGCONT);
        QVERIFY2(result.error.find("no progress for 1.5 s") != std::string::npos, result.error.c_str());
        QVERIFY(result.sequences[0].generated_ids.size() >= 10);
        QVERIFY(result.sequences[0].finish == FinishReason::Interrupted);
        QVERIFY(result.error.find("the " + std::to_string(result.sequences[0].generated_ids.size()) + " tokens generated so far kept") !=
                std::string::npos);
    }

    // The middle stage of three is killed mid-run: the controller re-plans over
    // the two left, replays each sequence's tokens, and goes on. The text is
    // the single process's, token for token, even when sampling.
    void runSurvivesADeadNodeWithIdenticalText() {
        QTemporaryDir dir;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "m", small_config(4, 4, 64, 257, 128), 5);
        const OpenedModel model = open_model(source);
        std::vector<std::vector<int>> prompts = {model.tokenizer->encode("To be"), model.tokenizer->encode("or not"),
                                                 model.tokenizer->encode("to be")};
        GenerateOptions g;
        g.max_new_tokens = 40;
        g.sampling = {0.8f, 20, 1.0f, 99};
        g.stop_at_eos = false;
        LocalEngine engine(model, 2, 3, 128);
        const auto reference = engine.generate(prompts, g);

        LocalWorker victim("victim", 1, 0);
        Topology t;
        t.nodes = {{"first", "local", 1, 0, WeightSource::Auto},
                   {"victim", victim.endpoint(), 1, 0, WeightSource::Stream},
                   {"third", "local", 1, 0, WeightSource::Auto}};
        ClusterOptions o;
        o.liveness_ms = 1500;
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, model.config, 3, 128), source, model, 3, 128);
        RunRequest r;
        r.prompts = prompts;
        r.options = g;
        int seen = 0;
        r.on_token = [&](const TokenMark&) {
            if (++seen == 15) ::kill(victim.pid(), SIGKILL);
        };
        const RunResult result = cluster.run(r);
        QVERIFY2(result.error.empty(), result.error.c_str());
        QCOMPARE(result.losses.size(), size_t(1));
        QCOMPARE(result.losses[0].node, 1);  // the victim, as data
        QVERIFY2(result.losses[0].why.find("node 'victim'") != std::string::npos, result.losses[0].why.c_str());
        QVERIFY2(result.losses[0].recovery.find("re-planned over 2 node(s)") != std::string::npos, result.losses[0].recovery.c_str());
        QCOMPARE(result.node_at_fault, -1);
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            QCOMPARE(result.sequences[i].generated_ids, reference.sequences[i].generated_ids);
            QVERIFY(result.sequences[i].finish == FinishReason::Length);
        }
        QCOMPARE(static_cast<int>(result.trace.tokens.size()), 3 * 40);  // no token twice
    }

    // When the nodes left cannot hold the model, the run stops, says why,
    // and keeps every token.
    void runStopsWhenNoPlanFitsTheNodesLeft() {
        QTemporaryDir dir;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "m", small_config(4, 4, 128, 257, 256), 6);
        const OpenedModel model = open_model(source);
        LocalWorker victim("victim", 1, 0);
        Topology t;
        t.nodes = {{"small", "local", 1, 0, WeightSource::Auto}, {"victim", victim.endpoint(), 1, 0, WeightSource::Stream}};
        // Room for half the model on "small", not for all of it.
        const Plan halves = make_plan(t, model.config, 1, 256);
        t.nodes[0].memory_limit = halves.memory[0].total() + 1000;
        ClusterOptions o;
        o.liveness_ms = 1500;
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, model.config, 1, 256), source, model, 1, 256);
        RunRequest r;
        r.prompts = {model.tokenizer->encode("a")};
        r.options.max_new_tokens = 200;
        r.options.stop_at_eos = false;
        int seen = 0;
        r.on_token = [&](const TokenMark&) {
            if (++seen == 10) ::kill(victim.pid(), SIGKILL);
        };
        const RunResult result = cluster.run(r);
        QVERIFY2(result.error.find("no plan fits the nodes left") != std::string::npos, result.error.c_str());
        QVERIFY2(result.error.find("node 'small' needs") != std::string::npos, result.error.c_str());
        QVERIFY(result.sequences[0].generated_ids.size() >= 10);
        QVERIFY(result.sequences[0].finish == FinishReason::Interrupted);
    }

    // A worker killed and started again on the same endpoint serves the next run.
    void restartedWorkerIsAdmittedAgain() {
        // A port free now (a fixed one in the ephemeral range could be any
        // connection's), kept for both workers: the second must bind it again.
        std::string endpoint;
        {
            zmq::context_t context(1);
            zmq::socket_t probe = net::make_socket(context, zmq::socket_type::router);
            probe.bind("tcp://127.0.0.1:0");
            endpoint = net::bound_endpoint(probe);
        }
        ModelSource source;
        source.random_shape = "tiny";
        const OpenedModel model = open_model(source);
        auto run_once = [&] {
            Topology t;
            t.nodes = {{"phoenix", endpoint, 1, 0, WeightSource::Auto}};
            Cluster cluster(t);
            cluster.configure(make_plan(t, model.config, 1, 32), source, model, 1, 32);
            RunRequest r;
            r.prompts = {model.tokenizer->encode("again")};
            r.options.max_new_tokens = 4;
            r.options.stop_at_eos = false;
            return cluster.run(r).sequences[0].generated_ids.size();
        };
        auto start = [&] {
            QProcess* p = new QProcess(this);
            p->start(DISTGPT_WORKER, {"--listen", QString::fromStdString(endpoint), "--name", "phoenix"});
            QTest::qVerify(p->waitForReadyRead(10000), "started", "", __FILE__, __LINE__);
            return p;
        };
        QProcess* first = start();
        QCOMPARE(run_once(), size_t(4));
        first->kill();
        first->waitForFinished();
        QProcess* second = start();
        QCOMPARE(run_once(), size_t(4));
        second->terminate();
        second->waitForFinished();
    }

    // A worker started by a controller exits once that controller's
    // heartbeats stop: none is left behind.
    void localWorkerExitsWithItsController() {
        LocalWorker worker("orphan", 1, 0);
        zmq::context_t context(1);
        zmq::socket_t inbox = net::make_socket(context, zmq::socket_type::dealer);
        inbox.connect(worker.endpoint());
        net::send(inbox, proto::encode(proto::Hello{"short-lived"}));
        auto reply = net::receive(inbox, std::chrono::seconds(5));
        QVERIFY(reply);
        const auto hello = proto::decode(std::move(*reply)).as<proto::HelloReply>();
        zmq::socket_t beats = net::make_socket(context, zmq::socket_type::dealer);
        beats.connect(hello.heartbeat_endpoint);
        for (int i = 0; i < 4; ++i) {
            net::send(beats, proto::encode(proto::Heartbeat{"short-lived", net::now_ns()}));
            QVERIFY(net::receive(beats, std::chrono::seconds(2)));  // answered
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        QVERIFY(!worker.exited());
        // The controller "dies": no more heartbeats.
        QTRY_VERIFY_WITH_TIMEOUT(worker.exited().has_value(), 8000);
        QVERIFY(worker.exited()->find("exited with code 3") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestLiveness)
#include "test_liveness.moc"
