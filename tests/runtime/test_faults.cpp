// Faults at every phase of a run, with real workers: a node killed (kill -9)
// or stopped (SIGSTOP) while greeted, while its weights stream, or during
// decode, in each strategy; a second controller and a stranger's garbage
// mid-run; the controller itself killed while it starts its workers. Each
// phase is reached by a hook (a status line, a token), never by timing luck.
#include "engine/local_engine.h"
#include "net/shm_ring.h"
#include "net/sockets.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

#include <QProcess>
#include <QTest>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include <sys/wait.h>

using namespace distgpt;
using namespace distgpt::test;

Q_DECLARE_METATYPE(Strategy)

namespace {

enum class Phase { Greeting, ClockReading, StreamingWeights, RunStart, Prefill, Decode };
enum class Fault { Kill, Stop };

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// Workers started here, named a, b, c, …, which a topology reaches as remote
// nodes, so a test holds their process ids.
struct Workers {
    std::vector<std::unique_ptr<LocalWorker>> all;
    explicit Workers(int n, LocalWorker::Tie tie = LocalWorker::Tie::EndsWithItsController) {
        for (int i = 0; i < n; ++i)
            all.push_back(std::make_unique<LocalWorker>(std::string(1, char('a' + i)), 1, 0, std::vector<std::string>{}, tie));
    }
    Topology topology(Strategy strategy) const {
        Topology t;
        t.strategy = strategy;
        if (strategy != Strategy::Pipeline) t.tensor_parallel = 2;
        for (const auto& w : all)
            t.nodes.push_back({std::string(1, char('a' + t.nodes.size())), w->endpoint(), 1, 0, WeightSource::Stream});
        return t;
    }
};

struct Outcome {
    RunResult result;
    std::vector<std::vector<int>> tokens() const {
        std::vector<std::vector<int>> out;
        for (const auto& s : result.sequences) out.push_back(s.generated_ids);
        return out;
    }
};

}  // namespace

class TestFaults : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
    ModelSource source;
    std::unique_ptr<OpenedModel> model;

    ClusterOptions options() const {
        ClusterOptions o;
        o.liveness_ms = 1000;
        o.hello_timeout_ms = 1500;
        o.return_logits = true;
        return o;
    }

    RunRequest request() const {
        RunRequest r;
        for (const char* p : {"To be", "or not", "to be:"}) r.prompts.push_back(model->tokenizer->encode(p));
        r.options.max_new_tokens = 40;
        r.options.stop_at_eos = false;
        r.options.sampling.temperature = 0.9f;
        r.options.sampling.seed = 11;
        return r;
    }

    // One run over `workers` in `strategy`; `fault` strikes node `victim` when `phase` comes.
    Outcome run(Workers& workers, Strategy strategy, std::optional<Phase> phase = {}, Fault fault = Fault::Kill, int victim = 1) {
        const Topology t = workers.topology(strategy);
        bool struck = false;
        auto strike = [&] {
            if (struck) return;
            struck = true;
            ::kill(workers.all[victim]->pid(), fault == Fault::Kill ? SIGKILL : SIGSTOP);
        };
        const std::string victim_name = t.nodes[victim].name;
        ClusterOptions o = options();
        o.on_status = [&](const std::string& s) {
            if (phase == Phase::Greeting && s == "greeting node '" + victim_name + "'") strike();
            if (phase == Phase::ClockReading && s == "reading the clock of node '" + victim_name + "'") strike();
            if (phase == Phase::StreamingWeights && s.starts_with("node '" + victim_name + "': streaming weights")) strike();
        };
        Outcome out;
        {
            Cluster cluster(t, o);
            const int slots = 3;
            cluster.configure(make_plan(t, model->config, slots, 64), source, *model, slots, 64);
            RunRequest r = request();
            if (phase == Phase::RunStart) strike();  // loaded everywhere; the run's first message is next
            int seen = 0;
            r.on_token = [&](const TokenMark&) {
                if (phase == Phase::Decode && ++seen == 12) strike();
            };
            // Prefill: stage 0 has computed its part of the prompts; the later stages' part is next.
            r.on_spans = [&](const std::vector<TraceSpan>& spans) {
                for (const auto& s : spans)
                    if (phase == Phase::Prefill && s.kind == SpanKind::Compute && s.step == 0 && s.node == 0) strike();
            };
            out.result = cluster.run(r);
        }
        if (struck && fault == Fault::Stop) ::kill(workers.all[victim]->pid(), SIGCONT);
        return out;
    }

private Q_SLOTS:
    void initTestCase() {
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        source.dir = write_random_model(path_of(dir) / "m", small_config(4, 4, 64, 257, 64), 7);
        model = std::make_unique<OpenedModel>(open_model(source));
    }

    void aNodeLostAtAnyPhaseIsRecoveredFrom_data() {
        QTest::addColumn<Strategy>("strategy");
        QTest::addColumn<int>("nodes");
        QTest::addColumn<int>("phase");
        QTest::addColumn<int>("fault");
        QTest::addColumn<int>("victim");
        const auto row = [](const char* name, Strategy s, int n, Phase p, Fault f, int victim) {
            QTest::newRow(name) << s << n << int(p) << int(f) << victim;
        };
        row("pipeline 3, kill while greeted", Strategy::Pipeline, 3, Phase::Greeting, Fault::Kill, 1);
        row("pipeline 3, kill while its clock is read", Strategy::Pipeline, 3, Phase::ClockReading, Fault::Kill, 2);
        row("pipeline 3, kill while weights stream", Strategy::Pipeline, 3, Phase::StreamingWeights, Fault::Kill, 1);
        row("pipeline 3, SIGSTOP while weights stream", Strategy::Pipeline, 3, Phase::StreamingWeights, Fault::Stop, 2);
        row("pipeline 3, kill during prefill", Strategy::Pipeline, 3, Phase::Prefill, Fault::Kill, 2);
        row("hybrid 2x2, kill as the run starts", Strategy::Hybrid, 4, Phase::RunStart, Fault::Kill, 1);
        row("hybrid 2x2, kill during prefill", Strategy::Hybrid, 4, Phase::Prefill, Fault::Kill, 2);
        row("pipeline 3, kill during decode", Strategy::Pipeline, 3, Phase::Decode, Fault::Kill, 0);
        row("pipeline 3, SIGSTOP during decode", Strategy::Pipeline, 3, Phase::Decode, Fault::Stop, 1);
        row("tensor 2, kill of rank 1 during decode", Strategy::Tensor, 2, Phase::Decode, Fault::Kill, 1);
        row("tensor 2, kill of rank 0 during decode", Strategy::Tensor, 2, Phase::Decode, Fault::Kill, 0);
        row("tensor 2, kill while weights stream", Strategy::Tensor, 2, Phase::StreamingWeights, Fault::Kill, 1);
        row("tensor 4, kill of rank 2 during decode", Strategy::Tensor, 4, Phase::Decode, Fault::Kill, 2);
        row("hybrid 2x2, kill while weights stream", Strategy::Hybrid, 4, Phase::StreamingWeights, Fault::Kill, 1);
        row("hybrid 2x2, kill during decode", Strategy::Hybrid, 4, Phase::Decode, Fault::Kill, 3);
        row("hybrid 2x2, SIGSTOP while greeted", Strategy::Hybrid, 4, Phase::Greeting, Fault::Stop, 2);
    }
    void aNodeLostAtAnyPhaseIsRecoveredFrom() {
        QFETCH(Strategy, strategy);
        QFETCH(int, nodes);
        QFETCH(int, phase);
        QFETCH(int, fault);
        QFETCH(int, victim);
        Outcome reference;
        {
            Workers healthy(nodes);
            reference = run(healthy, strategy);
        }
        Workers workers(nodes);
        const Outcome out = run(workers, strategy, Phase(phase), Fault(fault), victim);
        QVERIFY2(out.result.error.empty(), out.result.error.c_str());
        QCOMPARE(out.result.losses.size(), size_t(1));
        qInfo("lost: %s\n  then: %s\n  same text as the uninterrupted run: %s", out.result.losses[0].why.c_str(),
              out.result.losses[0].recovery.c_str(), out.tokens() == reference.tokens() ? "yes" : "no");
        QCOMPARE(out.result.losses[0].node, victim);
        QVERIFY2(out.result.losses[0].recovery.starts_with("re-planned over " + std::to_string(nodes - 1) + " node(s)"),
                 out.result.losses[0].recovery.c_str());
        for (const auto& s : out.result.sequences) {
            QCOMPARE(s.generated_ids.size(), size_t(40));
            QCOMPARE(s.finish, std::optional(FinishReason::Length));
        }
        // The same text, from the very same bits: a re-plan keeps the run's
        // numerics (a tensor-parallel run's k partial sums, added in rank order).
        QCOMPARE(out.tokens(), reference.tokens());
        for (std::size_t s = 0; s < out.result.sequences.size(); ++s)
            QVERIFY2(out.result.sequences[s].logits == reference.result.sequences[s].logits,
                     ("sequence " + std::to_string(s) + ": logits differ from the uninterrupted run's").c_str());
        // The survivors still serve; the killed one is gone and left nothing behind.
        for (int i = 0; i < nodes; ++i)
            if (i != victim) QVERIFY(process_alive(workers.all[i]->pid()));
        // (Other suites may run beside this one: only rings this run's workers read count.)
        std::set<pid_t> ours;
        for (const auto& w : workers.all) ours.insert(w->pid());
        workers.all.clear();
        for (const auto& ring : net::ShmRing::list())
            QVERIFY2(!ours.count(ring.reader),
                     ("left in /dev/shm: " + ring.name + ", read by this run's worker " + std::to_string(ring.reader)).c_str());
    }

    // A controller killed while it greets its workers or while their weights
    // stream, or stopped (SIGSTOP) mid-run, holds them no longer than their
    // liveness window: a new controller then runs on them, with the same text.
    void aControllerGoneOrStoppedFreesItsWorkers_data() {
        QTest::addColumn<int>("phase");
        QTest::addColumn<int>("fault");
        QTest::newRow("killed while greeting") << int(Phase::Greeting) << int(Fault::Kill);
        QTest::newRow("killed while weights stream") << int(Phase::StreamingWeights) << int(Fault::Kill);
        QTest::newRow("stopped mid-run") << int(Phase::Decode) << int(Fault::Stop);
    }
    void aControllerGoneOrStoppedFreesItsWorkers() {
#if defined(__SANITIZE_THREAD__)
        QSKIP("forks a multi-threaded process, which ThreadSanitizer does not support; runs in the plain and ASan suites");
#endif
        QFETCH(int, phase);
        QFETCH(int, fault);
        std::vector<std::vector<int>> reference;
        {
            Workers healthy(3);
            reference = run(healthy, Strategy::Pipeline).tokens();
        }
        Workers workers(3, LocalWorker::Tie::Independent);  // as if started by hand: they outlive a controller
        const Topology t = workers.topology(Strategy::Pipeline);
        // The first controller is a child process that strikes itself at the phase.
        const pid_t first = ::fork();
        QVERIFY(first >= 0);
        if (first == 0) {
            const int signal = Fault(fault) == Fault::Kill ? SIGKILL : SIGSTOP;
            try {
                ClusterOptions o = options();
                o.controller_name = "first";
                o.on_status = [&](const std::string& st) {
                    if (Phase(phase) == Phase::Greeting && st == "greeting node 'b'") ::raise(signal);
                    if (Phase(phase) == Phase::StreamingWeights && st.find("streaming weights") != std::string::npos) ::raise(signal);
                };
                Cluster cluster(t, o);
                cluster.configure(make_plan(t, model->config, 3, 64), source, *model, 3, 64);
                RunRequest r = request();
                int seen = 0;
                r.on_token = [&](const TokenMark&) {
                    if (Phase(phase) == Phase::Decode && ++seen == 12) ::raise(signal);
                };
                cluster.run(r);
            } catch (...) {}
            ::_exit(3);  // never struck: the parent sees it
        }
        int status = 0;
        QCOMPARE(::waitpid(first, &status, WUNTRACED), first);
        QVERIFY2(Fault(fault) == Fault::Kill ? WIFSIGNALED(status) : WIFSTOPPED(status), "the first controller never reached its phase");
        // Until the workers notice the silence they refuse, saying who owns them; then they serve.
        Outcome second;
        std::string refused;
        for (int attempt = 0; attempt < 120 && second.result.sequences.empty(); ++attempt) {
            try {
                second = run(workers, Strategy::Pipeline);
            } catch (const Error& e) {
                refused = e.what();
                QVERIFY2(refused.find("busy, owned by first") != std::string::npos, refused.c_str());
                QTest::qWait(250);
            }
        }
        ::kill(first, SIGKILL);
        ::waitpid(first, &status, 0);
        QVERIFY2(second.result.error.empty(), second.result.error.c_str());
        QCOMPARE(second.tokens(), reference);
        for (const auto& w : workers.all) QVERIFY(process_alive(w->pid()));
    }

    // A worker the controller starts itself, killed (-9) while it launches,
    // before it listens: lost, named as such, and the run goes on without it.
    void aWorkerKilledWhileLaunchingIsLost() {
        std::vector<std::vector<int>> reference;
        {
            Workers healthy(3);
            reference = run(healthy, Strategy::Pipeline).tokens();
        }
        const auto launcher = path_of(dir) / "launch-b-dies.sh";
        write_file(launcher, std::string("#!/bin/sh\n") + "case \" $* \" in *' --name b '*) kill -9 $$ ;; esac\n" + "exec '" +
                                 DISTGPT_WORKER + "' \"$@\"\n");
        std::filesystem::permissions(launcher, std::filesystem::perms::owner_all);
        qputenv("DISTGPT_WORKER", QByteArray::fromStdString(launcher.string()));
        Topology t;
        for (const char* name : {"a", "b", "c"}) t.nodes.push_back({name, "local", 1, 0, WeightSource::Auto, ""});
        RunResult result;
        {
            Cluster cluster(t, options());
            cluster.configure(make_plan(t, model->config, 3, 64), source, *model, 3, 64);
            result = cluster.run(request());
        }
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        QVERIFY2(result.error.empty(), result.error.c_str());
        QCOMPARE(result.losses.size(), size_t(1));
        const std::string& why = result.losses[0].why;
        QVERIFY2(why.starts_with("node 'b' is gone: ") &&
                     why.find("ended before it listened: its process was killed by signal 9") != std::string::npos,
                 why.c_str());
        std::vector<std::vector<int>> tokens;
        for (const auto& seq : result.sequences) tokens.push_back(seq.generated_ids);
        QCOMPARE(tokens, reference);
    }

    // A second controller, arriving while the first one's weights stream and
    // again mid-run, is turned away at once with who owns the workers; the
    // first run never notices.
    void aSecondControllerIsTurnedAwayAndHarmsNothing() {
        Workers workers(3);
        const Topology t = workers.topology(Strategy::Pipeline);
        std::vector<std::vector<int>> reference;
        {
            Workers healthy(3);
            reference = run(healthy, Strategy::Pipeline).tokens();
        }
        std::vector<std::string> refusals;
        auto intrude = [&] {
            ClusterOptions second = options();
            second.controller_name = "mallory";
            const auto t0 = std::chrono::steady_clock::now();
            try {
                Cluster other(t, second);
                refusals.push_back("admitted");
            } catch (const Error& e) {
                refusals.push_back(e.what());
            }
            QVERIFY(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));  // at once, not after a timeout
        };
        ClusterOptions o = options();
        o.controller_name = "alice";
        bool during_load = false;
        o.on_status = [&](const std::string& s) {
            if (!during_load && s.find("streaming weights") != std::string::npos) {
                during_load = true;
                intrude();
            }
        };
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, model->config, 3, 64), source, *model, 3, 64);
        RunRequest r = request();
        int seen = 0;
        r.on_token = [&](const TokenMark&) {
            if (++seen == 10) intrude();
        };
        const RunResult result = cluster.run(r);
        QVERIFY2(result.error.empty(), result.error.c_str());
        std::vector<std::vector<int>> tokens;
        for (const auto& s : result.sequences) tokens.push_back(s.generated_ids);
        QCOMPARE(tokens, reference);
        QCOMPARE(refusals.size(), size_t(2));
        for (const auto& why : refusals) QVERIFY2(why.find("busy, owned by alice since") != std::string::npos, why.c_str());
    }

    // Garbage, a foreign forward and a stranger's stop sent to every worker
    // mid-run: each is refused to its sender; the run goes on unharmed.
    void aStrangersMessagesNeverReachTheRun() {
        Workers workers(3);
        const Topology t = workers.topology(Strategy::Pipeline);
        std::vector<std::vector<int>> reference;
        {
            Workers healthy(3);
            reference = run(healthy, Strategy::Pipeline).tokens();
        }
        zmq::context_t context{1};
        std::vector<zmq::socket_t> strangers;
        for (const auto& w : workers.all) {
            strangers.push_back(net::make_socket(context, zmq::socket_type::dealer));
            strangers.back().connect(w->endpoint());
        }
        Cluster cluster(t, options());
        cluster.configure(make_plan(t, model->config, 3, 64), source, *model, 3, 64);
        RunRequest r = request();
        int seen = 0;
        r.on_token = [&](const TokenMark&) {
            if (++seen != 10) return;
            for (auto& s : strangers) {
                proto::Parts garbage;
                garbage.emplace_back("\xc1 not msgpack", 13);
                net::send(s, std::move(garbage));
                proto::Forward f;
                f.run = "someone else's";
                f.rows = 1;
                f.cols = 64;
                std::vector<float> hidden(64, 1.0f);
                proto::Parts frames;
                frames.push_back(proto::frame_of(hidden.data(), hidden.size() * sizeof(float)));
                net::send(s, proto::encode(f, std::move(frames)));
                net::send(s, proto::encode(proto::Stop{}));
            }
        };
        const RunResult result = cluster.run(r);
        QVERIFY2(result.error.empty(), result.error.c_str());
        std::vector<std::vector<int>> tokens;
        for (const auto& s : result.sequences) tokens.push_back(s.generated_ids);
        QCOMPARE(tokens, reference);
        for (auto& s : strangers) {
            auto reply = net::receive(s, std::chrono::seconds(5));
            QVERIFY(reply);
            QVERIFY(proto::decode(std::move(*reply)).type == proto::ErrorReply::kType);
        }
    }

    // The controller killed while it starts its workers: none outlives it.
    void noWorkerOutlivesItsController() {
        QProcess cli;
        cli.setProcessChannelMode(QProcess::MergedChannels);
        cli.setStandardOutputFile(QString::fromStdString((path_of(dir) / "cli.log").string()));
        cli.start(DISTGPT_CLI, {"run", "--random-init", "tiny", "--topology", DISTGPT_TOPOLOGIES "/pipeline-3.json", "--prompt", "x",
                                "--max-new-tokens", "5"});
        QVERIFY(cli.waitForStarted());
        const pid_t controller = static_cast<pid_t>(cli.processId());
        // As soon as its first worker exists: mid-launch.
        std::vector<pid_t> children;
        QTRY_VERIFY_WITH_TIMEOUT(!(children = child_processes(controller)).empty(), 20000);
        ::kill(controller, SIGKILL);
        QVERIFY(cli.waitForFinished());
        // An orphan checks its lifeline once its liveness thread runs; until then it may still be loading
        // its libraries (seconds under a sanitizer), so the bound is generous: the claim is that it exits.
        for (pid_t child : children) QTRY_VERIFY_WITH_TIMEOUT(!process_alive(child) || is_zombie(child), 30000);
    }

    // The soak benchmark, briefly: every trial recovered, to the bit.
    void theFaultSoakReportsEveryTrial() {
        const QString out = QString::fromStdString((path_of(dir) / "soak.json").string());
        QProcess cli;
        cli.setProcessChannelMode(QProcess::MergedChannels);
        cli.setStandardOutputFile(QString::fromStdString((path_of(dir) / "soak.log").string()));
        cli.start(DISTGPT_CLI, {"bench", "faults", "--strategy", "hybrid", "--nodes", "4", "--trials", "3", "--seed", "5", "--out", out});
        QVERIFY(cli.waitForFinished(300000));
        QCOMPARE(cli.exitCode(), 0);
        const auto j = nlohmann::json::parse(read_file(out.toStdString()));
        QCOMPARE(j["trials"].get<int>(), 3);
        QCOMPARE(j["rows"].size(), size_t(3));
        QCOMPARE(j["recovered"].get<int>(), 3);
        QCOMPARE(j["identical"].get<int>(), 3);
        for (const auto& row : j["rows"]) QVERIFY(row["victim"].get<int>() >= 0 && row["victim"].get<int>() < 4);
    }

private:
    static std::vector<pid_t> child_processes(pid_t parent) {
        std::vector<pid_t> out;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
            const std::string name = e.path().filename().string();
            if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
            const std::string stat = read_file(e.path() / "stat");
            const auto close = stat.rfind(')');
            if (close == std::string::npos) continue;
            int ppid = 0;
            char state = 0;
            if (std::sscanf(stat.c_str() + close + 2, "%c %d", &state, &ppid) == 2 && ppid == parent) out.push_back(std::stoi(name));
        }
        return out;
    }
    static bool is_zombie(pid_t pid) {
        std::error_code ec;
        const auto stat = std::filesystem::path("/proc") / std::to_string(pid) / "stat";
        if (!std::filesystem::exists(stat, ec)) return true;
        const std::string text = read_file(stat);
        const auto close = text.rfind(')');
        return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
    }
};

QTEST_GUILESS_MAIN(TestFaults)
#include "test_faults.moc"
