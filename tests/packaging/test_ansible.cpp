// packaging/ansible/distgpt-workers.yml, checked by ansible-playbook and
// applied over ssh to a test host (a network namespace running a real
// sshd); the worker it configured then serves a run. The apply needs root
// and openssh-server (CI has both); skipped, saying why, elsewhere.
#include "engine/local_engine.h"
#include "net/curve_keys.h"
#include "runtime/controller/cluster.h"
#include "support/fixtures.h"
#include "support/test_network.h"
#include "support/test_sshd.h"
#include "support/run_to_end.h"
#include "support/cluster_run.h"
#include "util/child_process.h"

#include <QTest>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace distgpt;
using namespace distgpt::test;

namespace {

const std::string kPlaybook = DISTGPT_SOURCE "/packaging/ansible/distgpt-workers.yml";

bool have(const char* tool) { return std::system(("command -v " + std::string(tool) + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

class TestAnsible : public QObject {
    Q_OBJECT
    QTemporaryDir dir;

private Q_SLOTS:
    void thePlaybookPassesItsSyntaxCheck() {
        if (!have("ansible-playbook")) QSKIP("ansible is not installed (apt install ansible; scripts/setup.sh does)");
        const Finished f =
            run_to_end({"ansible-playbook", "--syntax-check", "-i", DISTGPT_SOURCE "/packaging/ansible/inventory.example.ini", kPlaybook});
        QVERIFY2(f.code == 0, (f.out + f.err).c_str());
    }

    // Applied to a host over ssh: its key, the controller's, worker.conf;
    // the worker started as the unit starts it serves a run with the
    // single process's tokens. Applied again, nothing changes.
    void thePlaybookInstallsAWorkerThatServes() {
        if (!have("ansible-playbook")) QSKIP("ansible is not installed (apt install ansible; scripts/setup.sh does)");
        if (const auto why = TestNetwork::unavailable()) QSKIP(("no test hosts: " + *why).c_str());
        if (const auto why = TestSshd::unavailable()) QSKIP(("no ssh server: " + *why).c_str());
        TestNetwork network(2);
        TestSshd sshd(network, 1, path_of(dir) / "ssh");
        const auto base = path_of(dir);
        const auto etc = base / "etc-distgpt", keys = base / "keys";
        net::write_key_pair(net::generate_key_pair(), base / "controller");
        const std::string host = network.address(1);
        std::ofstream(base / "inventory.ini") << "[distgpt_workers]\n"
                                              << host << " ansible_user=root ansible_ssh_private_key_file=" << sshd.user_key().string()
                                              << " ansible_ssh_common_args='-o UserKnownHostsFile=" << sshd.known_hosts().string()
                                              << "' ansible_python_interpreter=/usr/bin/python3\n";
        std::vector<std::string> apply = network.launcher(0);
        apply.insert(apply.end(), {"env",
                                   "ANSIBLE_LOCAL_TEMP=" + (base / "ansible-local").string(),
                                   "ANSIBLE_REMOTE_TEMP=" + (base / "ansible-remote").string(),
                                   "ANSIBLE_NOCOLOR=1",
                                   "ansible-playbook",
                                   "-i",
                                   (base / "inventory.ini").string(),
                                   kPlaybook,
                                   "-e",
                                   "distgpt_etc=" + etc.string(),
                                   "-e",
                                   "distgpt_keys_dir=" + keys.string(),
                                   "-e",
                                   std::string("distgpt_cli=") + DISTGPT_CLI,
                                   "-e",
                                   "distgpt_controller_pub=" + (base / "controller.pub").string(),
                                   "-e",
                                   "distgpt_listen=tcp://" + host + ":5555",
                                   "-e",
                                   "distgpt_threads=1",
                                   "-e",
                                   "distgpt_manage_service=false"});
        const Finished first = run_to_end(apply);
        QVERIFY2(first.code == 0, (first.out + first.err + sshd.log()).c_str());
        QVERIFY2(first.out.find("failed=0") != std::string::npos, first.out.c_str());
        QCOMPARE(std::filesystem::status(etc / "worker.key").permissions() & std::filesystem::perms::all,
                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        const Finished again = run_to_end(apply);
        QVERIFY2(again.code == 0 && again.out.find("changed=0") != std::string::npos, again.out.c_str());

        // As the systemd unit starts it.
        std::vector<std::string> worker = network.launcher(1);
        worker.insert(worker.end(), {DISTGPT_WORKER, "--config", (etc / "worker.conf").string(), "--server-key",
                                     (etc / "worker.key").string(), "--log-file", (base / "worker.log").string()});
        ChildProcess served(worker);
        const auto line = served.read_line(std::chrono::steady_clock::now() + std::chrono::seconds(20));
        QVERIFY2(line && line->find("distgpt-worker " + host + " listening on tcp://" + host + ":5555") != std::string::npos,
                 line.value_or("(nothing)").c_str());

        ModelSource source;
        source.dir = write_random_model(base / "model", small_config(2, 4, 64, 257, 64), 31);
        const OpenedModel model = open_model(source);
        const std::vector<std::vector<int>> prompts = {model.tokenizer->encode("Hello")};
        GenerateOptions options;
        options.max_new_tokens = 8;
        options.sampling.temperature = 0;
        options.stop_at_eos = false;
        const auto reference = LocalEngine(model, 1, 1, 64).generate(prompts, options);

        network.enter(0);
        Topology t;
        t.nodes.push_back(
            {host, "tcp://" + host + ":5555", 1, 0, WeightSource::Stream, net::read_key_pair(keys / (host + ".key")).public_key});
        ClusterOptions o;
        o.keys = net::read_key_pair(base / "controller.key");
        Cluster cluster(t, o);
        const RunResult r = run_on(cluster, t, source, model, prompts, options);
        QVERIFY2(r.error.empty(), r.error.c_str());
        QCOMPARE(r.sequences[0].generated_ids, reference.sequences[0].generated_ids);
    }
};

QTEST_GUILESS_MAIN(TestAnsible)
#include "test_ansible.moc"
