// CURVE authentication with real worker processes.
#include "net/curve_keys.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

#include <QProcess>
#include <QTest>

#include <filesystem>
#include <sys/stat.h>

using namespace distgpt;
using namespace distgpt::test;

class TestSecurity : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
    std::filesystem::path keys;

    std::string stem(const char* name) { return (keys / name).string(); }

private Q_SLOTS:
    void initTestCase() {
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        keys = path_of(dir);
        for (const char* who : {"worker-a", "worker-b", "teacher", "stranger"}) net::write_key_pair(net::generate_key_pair(), stem(who));
        write_file(keys / "authorized", "# the teacher's laptop\n" + read_file(stem("teacher") + ".pub"));
    }

    // The secret half is private whatever the umask, an older key file of
    // the same name included; a key pair that cannot be written whole says so.
    void keyFilesArePrivateAndWrittenWhole() {
        const mode_t old = ::umask(0);
        write_file(keys / "reused.key", "an older key");
        std::filesystem::permissions(keys / "reused.key", std::filesystem::perms(0644));
        net::write_key_pair(net::generate_key_pair(), stem("reused"));
        ::umask(old);
        QCOMPARE(std::filesystem::status(keys / "reused.key").permissions() & std::filesystem::perms::all,
                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        QVERIFY(read_file(keys / "reused.key").starts_with("public "));
        std::filesystem::create_directory(keys / "blocked.pub");  // the public half cannot be written
        EXPECT_ERROR(net::write_key_pair(net::generate_key_pair(), stem("blocked")), "cannot write", "blocked.pub");
    }

    // Two secured workers: the authorized controller runs a pipeline over them
    // (the workers admit each other as the run's peers).
    void authorizedControllerRuns() {
        auto secured = [&](const char* name, const char* key) {
            return std::make_unique<LocalWorker>(
                name, 1, 0,
                std::vector<std::string>{"--server-key", stem(key) + ".key", "--authorized-keys", (keys / "authorized").string()});
        };
        auto a = secured("a", "worker-a"), b = secured("b", "worker-b");
        ModelSource source;
        source.random_shape = "tiny";
        const OpenedModel model = open_model(source);
        Topology t;
        t.nodes = {{"a", a->endpoint(), 1, 0, WeightSource::Auto, net::read_key_pair(stem("worker-a") + ".key").public_key},
                   {"b", b->endpoint(), 1, 0, WeightSource::Auto, net::read_key_pair(stem("worker-b") + ".key").public_key}};
        ClusterOptions o;
        o.keys = net::read_key_pair(stem("teacher") + ".key");
        RunRequest r;
        r.prompts = {model.tokenizer->encode("hi"), model.tokenizer->encode("yo")};
        r.options.max_new_tokens = 6;
        r.options.stop_at_eos = false;
        RunResult result;
        try {
            Cluster cluster(t, o);
            cluster.configure(make_plan(t, model.config, 2, 32), source, model, 2, 32);
            result = cluster.run(r);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        QVERIFY2(result.error.empty(), result.error.c_str());
        QCOMPARE(result.sequences[1].generated_ids.size(), size_t(6));
    }

    void wrongKeyIsRejected_data() {
        QTest::addColumn<QString>("controllerKey");
        QTest::newRow("another controller's key") << "stranger";
        QTest::newRow("a fresh key") << "";
    }
    void wrongKeyIsRejected() {
        QFETCH(QString, controllerKey);
        LocalWorker w("guarded", 1, 0, {"--server-key", stem("worker-a") + ".key", "--authorized-keys", (keys / "authorized").string()});
        Topology t;
        t.nodes = {{"guarded", w.endpoint(), 1, 0, WeightSource::Auto, net::read_key_pair(stem("worker-a") + ".key").public_key}};
        ClusterOptions o;
        o.hello_timeout_ms = 1500;
        if (!controllerKey.isEmpty()) o.keys = net::read_key_pair(stem(controllerKey.toUtf8().constData()) + ".key");
        EXPECT_ERROR(Cluster(t, o), "node 'guarded'", "did not answer", "--authorized-keys");
        QVERIFY(!w.exited());  // refused, still serving
    }

    // Z85 keys may hold '#': only a line that starts with it is a comment.
    void keysWithHashSignsAreRead() {
        write_file(keys / "hash", "# comment\n  b3L>F>$Bpj6/I=ACnp>@yo@Ncr8#$DL<nDCcI^^0  \n\n");
        const auto read = net::read_authorized_keys(keys / "hash");
        QCOMPARE(read.size(), size_t(1));
        QCOMPARE(*read.begin(), std::string("b3L>F>$Bpj6/I=ACnp>@yo@Ncr8#$DL<nDCcI^^0"));
        write_file(keys / "bad", "not a key\n");
        EXPECT_ERROR(net::read_authorized_keys(keys / "bad"), "bad:1", "not a public key");
    }

    void exposedWorkerNeedsKeysOrInsecure() {
        QProcess p;
        p.start(DISTGPT_WORKER, {"--listen", "tcp://0.0.0.0:0"});
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitCode(), 2);
        QVERIFY(p.readAllStandardError().contains("refusing to listen on tcp://0.0.0.0:0 without authentication"));
        QProcess insecure;
        insecure.start(DISTGPT_WORKER, {"--listen", "tcp://0.0.0.0:0", "--insecure"});
        QVERIFY(insecure.waitForReadyRead(10000));
        QVERIFY(insecure.readAllStandardOutput().contains("listening on"));
        insecure.terminate();
        QVERIFY(insecure.waitForFinished(5000));
        QVERIFY(insecure.readAllStandardError().contains("WARNING: listening on tcp://0.0.0.0:0 without authentication"));
    }
};

QTEST_GUILESS_MAIN(TestSecurity)
#include "test_security.moc"
