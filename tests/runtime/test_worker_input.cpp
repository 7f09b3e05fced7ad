// A real distgpt-worker fed garbage: every bad message gets an error reply,
// and the worker still answers and completes a run afterwards.
#include "net/curve_keys.h"
#include "net/sockets.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "runtime/worker/refusal_log.h"
#include "runtime/worker/shard_setup.h"
#include "util/version.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

#include <QProcess>
#include <QTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

using namespace distgpt;
using namespace distgpt::test;

namespace {

proto::Parts raw(std::initializer_list<std::string> frames) {
    proto::Parts parts;
    for (const auto& f : frames) parts.emplace_back(f.data(), f.size());
    return parts;
}

std::string packed_header(const std::string& type, int version, bool with_body = true) {
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_map(with_body ? 3 : 2);
    pk.pack(std::string("v"));
    pk.pack(version);
    pk.pack(std::string("type"));
    pk.pack(type);
    if (with_body) {
        pk.pack(std::string("body"));
        pk.pack_map(1);
        pk.pack(std::string("rows"));
        pk.pack(std::string("not a number"));
    }
    return std::string(b.data(), b.size());
}

}  // namespace

class TestWorkerInput : public QObject {
    Q_OBJECT
    std::unique_ptr<LocalWorker> worker;
    zmq::context_t context{1};

    std::string ask(proto::Parts parts) {
        zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
        s.connect(worker->endpoint());
        net::send(s, std::move(parts));
        auto reply = net::receive(s, std::chrono::seconds(5));
        if (!reply) return "NO REPLY";
        const auto m = proto::decode(std::move(*reply));
        return m.type == proto::ErrorReply::kType ? m.as<proto::ErrorReply>().message : m.type;
    }

private Q_SLOTS:
    void initTestCase() {
        qputenv("DISTGPT_WORKER", DISTGPT_WORKER);
        worker = std::make_unique<LocalWorker>("target", 1, 0);
    }

    // Options from a file, as the systemd unit gives them: the shipped
    // packaging/worker.conf, and one of our own; the command line wins over
    // the file; an option the worker does not have is named.
    void readsItsOptionsFromAFile_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");  // in its first line, or in what it says when it refuses
        QTest::newRow("ours") << "listen = tcp://127.0.0.1:0\nname = from-the-file\nthreads = 1\n"
                              << QStringList{} << "distgpt-worker from-the-file listening on tcp://127.0.0.1:";
        QTest::newRow("the command line wins") << "name = from-the-file\n"
                                               << QStringList{"--name", "from-the-line"} << "distgpt-worker from-the-line listening on";
        QTest::newRow("an option it does not have") << "listn = tcp://127.0.0.1:0\n" << QStringList{} << "listn";
        QTest::newRow("the shipped one") << "" << QStringList{"--listen", "tcp://127.0.0.1:0"} << "listening on tcp://127.0.0.1:";
    }
    void readsItsOptionsFromAFile() {
        QFETCH(QString, file);
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        QTemporaryDir d;
        const auto dir = path_of(d);
        std::string conf = (dir / "worker.conf").string();
        if (file.isEmpty()) {
            conf = std::string(TEST_DATA_DIR) + "/../../packaging/worker.conf";
            net::write_key_pair(net::generate_key_pair(), (dir / "worker").string());
            net::write_key_pair(net::generate_key_pair(), (dir / "controller").string());
            write_file(dir / "authorized", read_file((dir / "controller.pub").string()));
            // The unit gives the key on the command line; the file names where the admitted keys are.
            args << "--server-key" << QString::fromStdString((dir / "worker.key").string()) << "--authorized-keys"
                 << QString::fromStdString((dir / "authorized").string());
        } else {
            write_file(dir / "worker.conf", file.toStdString());
        }
        QProcess worker;
        worker.start(DISTGPT_WORKER, QStringList{"--config", QString::fromStdString(conf), "--lifeline-fd", "0"} + args);
        QVERIFY(worker.waitForStarted());
        const bool refused = expected == "listn";
        if (refused) {
            QVERIFY(worker.waitForFinished(10000));
            QVERIFY(worker.exitCode() != 0);
            const QString said = worker.readAllStandardError() + worker.readAllStandardOutput();
            QVERIFY2(said.contains(expected), qPrintable(said));
            return;
        }
        QTRY_VERIFY_WITH_TIMEOUT(worker.canReadLine(), 10000);
        const QString line = worker.readLine();
        QVERIFY2(line.contains(expected), qPrintable(line + worker.readAllStandardError()));
        worker.closeWriteChannel();  // its lifeline: it exits
        QVERIFY(worker.waitForFinished(10000));
    }

    void refusesBadMessages_data() {
        QTest::addColumn<int>("which");
        QTest::addColumn<QString>("expected");
        QTest::newRow("garbage bytes") << 0 << "not valid msgpack";
        QTest::newRow("header not a map") << 1 << "not a map";
        QTest::newRow("wrong protocol version") << 2 << "protocol version 99";
        QTest::newRow("no body") << 3 << "has no body";
        QTest::newRow("unknown type") << 4 << "unknown message type 'launch_missiles'";
        QTest::newRow("field of the wrong type") << 5 << "malformed forward message";
        QTest::newRow("too many frames") << 6 << "at most 4 are allowed";
        QTest::newRow("forward before configure") << 7 << "not configured";
        QTest::newRow("truncated data frame") << 8 << "not whole elements";
        QTest::newRow("configure by a stranger") << 9 << "does not own this worker";
    }
    void refusesBadMessages() {
        QFETCH(int, which);
        QFETCH(QString, expected);
        proto::Forward f;
        f.rows = 1;
        f.cols = 64;
        std::string reply;
        switch (which) {
            case 0: reply = ask(raw({"\xc1\xc1\xc1 definitely not msgpack"})); break;
            case 1: reply = ask(raw({std::string("\x93\x01\x02\x03", 4)})); break;
            case 2: reply = ask(raw({packed_header("hello", 99)})); break;
            case 3: reply = ask(raw({packed_header("hello", proto::kProtocolVersion, false)})); break;
            case 4: reply = ask(raw({packed_header("launch_missiles", proto::kProtocolVersion)})); break;
            case 5: reply = ask(raw({packed_header("forward", proto::kProtocolVersion), "x"})); break;
            case 6: reply = ask(raw({packed_header("hello", proto::kProtocolVersion), "a", "b", "c", "d"})); break;
            case 7: reply = ask(proto::encode(f, raw({std::string(256, '\0')}))); break;
            case 8: {
                // First become the owner, then send prompt ids whose frame is cut mid-element.
                zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
                s.connect(worker->endpoint());
                net::send(s, proto::encode(proto::Hello{"test"}));
                net::receive(s, std::chrono::seconds(5));
                proto::Parts frames = raw({std::string(7, '\0')});
                net::send(s, proto::encode(proto::Start{}, std::move(frames)));
                auto r = net::receive(s, std::chrono::seconds(5));
                QVERIFY(r);
                const auto m = proto::decode(std::move(*r));
                reply = m.type == proto::ErrorReply::kType ? m.as<proto::ErrorReply>().message : m.type;
                net::send(s, proto::encode(proto::Stop{}));  // and let go, for the tests after
                QVERIFY(net::receive(s, std::chrono::seconds(5)));
                break;
            }
            case 9: reply = ask(proto::encode(proto::Configure{})); break;
        }
        QVERIFY2(reply.find(expected.toStdString()) != std::string::npos, reply.c_str());
    }

    // A header over the 1 MiB cap is refused before it is parsed; the worker lives on.
    // A configure from a newer (or broken) controller naming a weight format
    // this worker does not know is refused by name, before any weight is read.
    void refusesAnUnknownWeightFormat() {
        ShardSetup setup("w", "", 0);
        proto::Configure c;
        c.weights = proto::ShardWeights::Random;
        c.random_shape = "tiny";
        c.layer_end = 2;
        c.embedding = c.head = true;
        c.weight_format = static_cast<WeightFormat>(9);
        EXPECT_ERROR(setup.open(c), "unknown weight format 9", "run the same distgpt version everywhere");
        c.weight_format = WeightFormat::F16;
        c.wire = static_cast<WireFormat>(7);
        EXPECT_ERROR(setup.open(c), "unknown wire format 7", "run the same distgpt version everywhere");
        c.wire = WireFormat::Q8;
        QCOMPARE(setup.open(c).config.n_layer, model_preset("tiny").n_layer);
    }

    void survivesAnOversizedMessage() {
        zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
        s.connect(worker->endpoint());
        msgpack::sbuffer huge;
        msgpack::packer<msgpack::sbuffer> pk(huge);
        pk.pack(std::string(2u << 20, 'x'));  // a 2 MiB header: over the 1 MiB cap
        net::send(s, raw({std::string(huge.data(), huge.size())}));
        auto reply = net::receive(s, std::chrono::seconds(5));
        QVERIFY(reply);
        const auto m = proto::decode(std::move(*reply));
        QVERIFY(m.as<proto::ErrorReply>().message.find("over the 1 MiB limit") != std::string::npos);
    }

    // A flood of malformed messages: each is refused and answered, but the
    // log holds a few lines, not one per message; the hello reply counts them all.
    void aFloodIsCountedNotLoggedLineByLine() {
        QTemporaryDir dir;
        const std::string log = (path_of(dir) / "worker.log").string();
        LocalWorker flooded("flooded", 1, 0, {"--log-file", log});
        zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
        s.connect(flooded.endpoint());
        constexpr int kFlood = 2000;
        for (int i = 0; i < kFlood; ++i) net::send(s, raw({"\xc1 not msgpack"}));
        for (int i = 0; i < kFlood; ++i) QVERIFY2(net::receive(s, std::chrono::seconds(10)), "a refused message got no reply");
        net::send(s, proto::encode(proto::Hello{}));
        auto reply = net::receive(s, std::chrono::seconds(5));
        QVERIFY(reply);
        const auto hello = proto::decode(std::move(*reply)).as<proto::HelloReply>();
        QCOMPARE(hello.refused_messages, int64_t(kFlood));
        QCOMPARE(hello.version, std::string("distgpt ") + kVersion);  // the project's version, from CMake
        const std::string text = read_file(log);
        const auto lines = std::count(text.begin(), text.end(), '\n');
        QVERIFY2(lines >= 1 && lines <= 10, qPrintable(QString::number(lines) + " log lines for " + QString::number(kFlood) + " refusals"));
    }

    void refusalLogSummarizesEachWindow() {
        std::ostringstream out;
        RefusalLog log(out, "w", 1000, 2);
        for (int t = 0; t < 5; ++t) log.refused("forward", "bad", t);  // 2 logged, 3 held back
        const std::string first = out.str();
        QCOMPARE(std::count(first.begin(), first.end(), '\n'), 2L);
        log.refused("forward", "bad", 1500);  // a new window: the summary, then this one
        QVERIFY(out.str().find("w: refused 3 more messages without logging each (6 refused in all)") != std::string::npos);
        QCOMPARE(log.total(), int64_t(6));
    }

    // After all that, it still greets and runs a real generation.
    void stillServesARun() {
        QTemporaryDir dir;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "m", small_config(2, 2, 32, 257, 32), 3);
        const OpenedModel model = open_model(source);
        Topology t;
        t.nodes.push_back({"target", worker->endpoint(), 1, 0, WeightSource::Stream});
        Cluster cluster(t);
        cluster.configure(make_plan(t, model.config, 1, 32), source, model, 1, 32);
        RunRequest r;
        r.prompts = {model.tokenizer->encode("still alive")};
        r.options.max_new_tokens = 5;
        r.options.stop_at_eos = false;
        QCOMPARE(cluster.run(r).sequences[0].generated_ids.size(), size_t(5));
    }

    // A controller that said hello, then stop, has let the worker go: its
    // silence afterwards is no loss, even to a worker that exits with its
    // controller. (It used to count from the hello, and the worker exited.)
    void aReleasedWorkerOutlivesItsControllersSilence() {
        LocalWorker released("released", 1, 0, {"--liveness-ms", "300"});
        zmq::socket_t s = net::make_socket(context, zmq::socket_type::dealer);
        s.connect(released.endpoint());
        net::send(s, proto::encode(proto::Hello{"brief"}));
        QVERIFY(net::receive(s, std::chrono::seconds(5)));
        net::send(s, proto::encode(proto::Stop{}));
        QVERIFY(net::receive(s, std::chrono::seconds(5)));
        QTest::qWait(1500);  // five liveness windows of silence
        QVERIFY2(!released.exited(), released.exited().value_or("").c_str());
        net::send(s, proto::encode(proto::Hello{"again"}));
        auto reply = net::receive(s, std::chrono::seconds(5));
        QVERIFY(reply);
        QCOMPARE(proto::decode(std::move(*reply)).type, std::string(proto::HelloReply::kType));
    }

    // A second controller cannot take over a configured worker.
    void aSecondControllerIsTurnedAway() {
        QTemporaryDir dir;
        ModelSource source;
        source.random_shape = "tiny";
        const OpenedModel model = open_model(source);
        Topology t;
        t.nodes.push_back({"target", worker->endpoint(), 1, 0, WeightSource::Auto});
        ClusterOptions first;
        first.controller_name = "alice";
        Cluster owner(t, first);
        owner.configure(make_plan(t, model.config, 1, 32), source, model, 1, 32);
        ClusterOptions second;
        second.controller_name = "mallory";
        EXPECT_ERROR(Cluster(t, second), "busy, owned by alice");
    }
};

QTEST_GUILESS_MAIN(TestWorkerInput)
#include "test_worker_input.moc"
