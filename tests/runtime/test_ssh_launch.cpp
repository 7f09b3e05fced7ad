// Workers started where they run, through ssh: a real OpenSSH server on
// each test host (a network namespace of its own), the system's ssh client,
// a key made for the test. Needs root and openssh-server (CI has both);
// skipped, saying why, elsewhere.
#include "engine/local_engine.h"
#include "runtime/controller/cluster.h"
#include "support/cluster_run.h"
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "support/test_network.h"
#include "support/test_sshd.h"
#include "util/child_process.h"

#include <QTest>

#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// The distgpt-worker processes running on a test host.
int workers_on(const TestNetwork& network, int host) {
    FILE* pipe = ::popen(("ip netns pids " + network.name(host)).c_str(), "r");
    int n = 0;
    char line[64];
    while (pipe && std::fgets(line, sizeof line, pipe)) {
        std::ifstream comm("/proc/" + std::string(line, std::strcspn(line, "\n")) + "/comm");
        std::string name;
        std::getline(comm, name);
        n += name == "distgpt-worker";
    }
    if (pipe) ::pclose(pipe);
    return n;
}

}  // namespace

class TestSshLaunch : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
    std::unique_ptr<TestNetwork> network;  // host 0: the controller; hosts 1 and 2 run sshd
    std::vector<std::unique_ptr<TestSshd>> sshd;
    ModelSource source;
    std::unique_ptr<OpenedModel> model;
    std::vector<std::vector<int>> prompts;
    GenerateOptions options;
    GenerationResult reference;

    NodeSpec ssh_node(const std::string& name, const std::string& endpoint, const std::string& program = DISTGPT_WORKER) const {
        NodeSpec n;
        n.name = name;
        n.endpoint = endpoint;
        n.program = program;
        n.weights = WeightSource::Stream;
        return n;
    }
    std::string at(int host, const std::string& user = "root") const { return "ssh://" + user + "@" + network->address(host); }

    Topology topology(std::vector<NodeSpec> nodes) const {
        Topology t;
        t.transport = TransportChoice::ZeroMQ;  // one kernel, one boot id: say they are apart
        t.nodes = std::move(nodes);
        return t;
    }

    RunResult run(const Topology& t) {
        Cluster cluster(t);
        return run_on(cluster, t, source, *model, prompts, options);
    }

private Q_SLOTS:
    void initTestCase() {
        if (const auto why = TestNetwork::unavailable()) QSKIP(("no test hosts: " + *why).c_str());
        if (const auto why = TestSshd::unavailable()) QSKIP(("no ssh server: " + *why).c_str());
        source.dir = write_random_model(path_of(dir) / "model", small_config(4, 4, 64, 257, 64), 23);
        model = std::make_unique<OpenedModel>(open_model(source));
        for (const char* p : {"Hello", "To be, or not"}) prompts.push_back(model->tokenizer->encode(p));
        options.max_new_tokens = 12;
        options.sampling.temperature = 0;
        options.stop_at_eos = false;
        reference = LocalEngine(*model, 2, static_cast<int>(prompts.size()), 64).generate(prompts, options);

        network = std::make_unique<TestNetwork>(3);
        for (int host : {1, 2}) sshd.push_back(std::make_unique<TestSshd>(*network, host, path_of(dir) / "ssh"));
        qputenv("DISTGPT_SSH", QByteArray::fromStdString(sshd[0]->client_command()));
        network->enter(0);
    }

    // Each worker started on its host by ssh, with keys made for the run,
    // gives the single process's tokens; when the run ends, they are gone.
    void aPipelineAcrossSshHostsGivesTheSingleProcessTokens() {
        {
            const Topology t = topology({ssh_node("pi1", at(1)), ssh_node("pi2", at(2))});
            Cluster cluster(t);
            QCOMPARE(workers_on(*network, 1), 1);
            QCOMPARE(workers_on(*network, 2), 1);
            const RunResult r = run_on(cluster, t, source, *model, prompts, options);
            QVERIFY2(r.error.empty(), r.error.c_str());
            for (std::size_t i = 0; i < prompts.size(); ++i) QCOMPARE(r.sequences[i].generated_ids, reference.sequences[i].generated_ids);
        }
        QTRY_COMPARE_WITH_TIMEOUT(workers_on(*network, 1) + workers_on(*network, 2), 0, 5000);
    }

    // The controller killed (-9) mid-run: its ssh sessions end, and with them the workers.
    void theWorkersEndWhenTheControllerDies() {
        const auto file = path_of(dir) / "ssh-topology.json";
        std::ofstream(file) << topology_to_json(topology({ssh_node("pi1", at(1)), ssh_node("pi2", at(2))}));
        ChildProcess cli({DISTGPT_CLI, "run", "--topology", file.string(), "--model", source.dir.string(), "--prompt", "Hello",
                          "--max-new-tokens", "60", "--temperature", "0"});
        QTRY_VERIFY_WITH_TIMEOUT(workers_on(*network, 1) == 1 && workers_on(*network, 2) == 1, 20000);
        ::kill(cli.pid(), SIGKILL);
        QTRY_COMPARE_WITH_TIMEOUT(workers_on(*network, 1) + workers_on(*network, 2), 0, 10000);
    }

    // What the user must fix is named, and stops the run; a host that cannot be reached is a lost node.
    void whatStopsALaunchIsNamed_data() {
        QTest::addColumn<QString>("endpoint");
        QTest::addColumn<QString>("program");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("no ssh server there") << "ssh://root@10.77.0.10" << DISTGPT_WORKER
                                             << QStringList{"node 'n' is gone", "ssh://root@10.77.0.10 cannot be reached",
                                                            "Connection refused"};
        QTest::newRow("no such host") << "ssh://root@10.77.0.99" << DISTGPT_WORKER
                                      << QStringList{"node 'n' is gone", "ssh://root@10.77.0.99 cannot be reached"};
        QTest::newRow("login refused") << "ssh://nobody@10.77.0.11" << DISTGPT_WORKER
                                       << QStringList{"node 'n' at ssh://nobody@10.77.0.11", "ssh refused the login", "Permission denied",
                                                      "authorized_keys"};
        QTest::newRow("host key unknown") << "ssh://root@renamed-host" << DISTGPT_WORKER
                                          << QStringList{"node 'n' at ssh://root@renamed-host", "host key is not known",
                                                         "ssh root@renamed-host"};
        QTest::newRow("not installed") << "ssh://root@10.77.0.11"
                                       << "/opt/nowhere/distgpt-worker"
                                       << QStringList{"node 'n' at ssh://root@10.77.0.11", "distgpt-worker is not installed there",
                                                      "/opt/nowhere/distgpt-worker", "\"program\""};
        QTest::newRow("another version") << "ssh://root@10.77.0.11" << DISTGPT_OTHER_VERSION_WORKER
                                         << QStringList{"node 'n' at ssh://root@10.77.0.11", "runs distgpt-worker 0.0.0-other",
                                                        "install the same version"};
    }
    void whatStopsALaunchIsNamed() {
        QFETCH(QString, endpoint);
        QFETCH(QString, program);
        QFETCH(QStringList, expected);
        // A name only this client's config knows, its host key filed under another alias.
        const auto config = path_of(dir) / "ssh" / "renaming_config";
        std::ofstream(config) << "Include " << sshd[0]->client_config().string() << "\nHost renamed-host\n  HostName "
                              << network->address(1) << "\n  HostKeyAlias renamed-host\n";
        qputenv("DISTGPT_SSH", QByteArray::fromStdString("ssh -F " + config.string()));
        const std::string error = error_of([&] { Cluster(topology({ssh_node("n", endpoint.toStdString(), program.toStdString())})); });
        qputenv("DISTGPT_SSH", QByteArray::fromStdString(sshd[0]->client_command()));
        for (const QString& part : expected) QVERIFY2(error.find(part.toStdString()) != std::string::npos, error.c_str());
        QCOMPARE(workers_on(*network, 1), 0);
    }

    // With recovery, a host that cannot be reached is left out and the run goes on over the others.
    void anUnreachableSshHostIsLeftOut() {
        const RunResult r = run(topology({ssh_node("pi1", at(1)), ssh_node("ghost", "ssh://root@10.77.0.10"), ssh_node("pi2", at(2))}));
        QVERIFY2(r.error.empty(), r.error.c_str());
        for (std::size_t i = 0; i < prompts.size(); ++i) QCOMPARE(r.sequences[i].generated_ids, reference.sequences[i].generated_ids);
    }

    void cleanupTestCase() {
        sshd.clear();
        network.reset();
    }
};

QTEST_GUILESS_MAIN(TestSshLaunch)
#include "test_ssh_launch.moc"
