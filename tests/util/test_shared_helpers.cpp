// The small helpers every part shares: one hash, one endpoint parser, one
// way to write seconds, one config.json writer.
#include "plan/run_setup.h"
#include "net/endpoint.h"
#include "proto/codec.h"
#include "support/expect_error.h"
#include "tokenizer/utf8.h"
#include "util/duration_text.h"
#include "runtime/worker/ownership.h"
#include "util/fnv1a.h"
#include "weights/model_config.h"

#include <QTest>

using namespace distgpt;

class TestSharedHelpers : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void fnv1aMatchesTheReference() {
        // The reference's test vectors (offset basis 14695981039346656037).
        QCOMPARE(fnv1a(""), 0xcbf29ce484222325ull);
        QCOMPARE(fnv1a("a"), 0xaf63dc4c8601ec8cull);
        QCOMPARE(fnv1a("foobar"), 0x85944171f73967e8ull);
        QCOMPARE(fnv1a("bar", fnv1a("foo")), fnv1a("foobar"));
    }

    void endpointsParse_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("host");
        QTest::addColumn<QString>("port");
        QTest::addColumn<bool>("loopback");
        QTest::newRow("ipv4") << "tcp://10.0.0.7:5555" << true << "10.0.0.7"
                              << "5555" << false;
        QTest::newRow("loopback") << "tcp://127.0.0.1:0" << true << "127.0.0.1"
                                  << "0" << true;
        QTest::newRow("name") << "tcp://localhost:41233" << true << "localhost"
                              << "41233" << true;
        QTest::newRow("ipv6") << "tcp://[::1]:5555" << true << "[::1]"
                              << "5555" << true;
        QTest::newRow("any") << "tcp://*:5555" << true << "*"
                             << "5555" << false;
        QTest::newRow("no port") << "tcp://host" << false << ""
                                 << "" << false;
        QTest::newRow("no scheme") << "host:5555" << false << ""
                                   << "" << false;
        QTest::newRow("empty host") << "tcp://:5555" << false << ""
                                    << "" << false;
        QTest::newRow("open bracket") << "tcp://[::1:5555" << false << ""
                                      << "" << false;
        QTest::newRow("local") << "local" << false << ""
                               << "" << false;
    }
    void endpointsParse() {
        QFETCH(QString, text);
        QFETCH(bool, valid);
        QFETCH(QString, host);
        QFETCH(QString, port);
        QFETCH(bool, loopback);
        const auto e = net::parse_endpoint(text.toStdString());
        QCOMPARE(e.has_value(), valid);
        QCOMPARE(QString::fromStdString(net::host_of(text.toStdString())), host);
        if (e) {
            QCOMPARE(QString::fromStdString(e->port), port);
            QCOMPARE(QString::fromStdString(e->str()), text);
        }
        QCOMPARE(net::is_loopback_endpoint(text.toStdString()), loopback);
    }

    void sshEndpointsParse_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("user");
        QTest::addColumn<QString>("host");
        QTest::addColumn<QString>("port");
        QTest::newRow("host") << "ssh://pi4" << true << ""
                              << "pi4"
                              << "";
        QTest::newRow("user and host") << "ssh://pi@10.0.0.7" << true << "pi"
                                       << "10.0.0.7"
                                       << "";
        QTest::newRow("all three") << "ssh://pi@pi4.local:2222" << true << "pi"
                                   << "pi4.local"
                                   << "2222";
        QTest::newRow("empty") << "ssh://" << false << ""
                               << ""
                               << "";
        QTest::newRow("empty user") << "ssh://@pi4" << false << ""
                                    << ""
                                    << "";
        QTest::newRow("port not a number") << "ssh://pi4:ssh" << false << ""
                                           << ""
                                           << "";
        QTest::newRow("an ssh option for a host") << "ssh://-oProxyCommand=x" << false << ""
                                                  << ""
                                                  << "";
        QTest::newRow("a path") << "ssh://pi4/home" << false << ""
                                << ""
                                << "";
        QTest::newRow("tcp") << "tcp://pi4:5555" << false << ""
                             << ""
                             << "";
    }
    void sshEndpointsParse() {
        QFETCH(QString, text);
        QFETCH(bool, valid);
        const auto t = net::parse_ssh_endpoint(text.toStdString());
        QCOMPARE(t.has_value(), valid);
        if (!t) return;
        QTEST(QString::fromStdString(t->user), "user");
        QTEST(QString::fromStdString(t->host), "host");
        QTEST(QString::fromStdString(t->port), "port");
        QCOMPARE(QString::fromStdString(t->str()), text);
    }

    void secondsReadAsWritten_data() {
        QTest::addColumn<double>("seconds");
        QTest::addColumn<QString>("text");
        QTest::newRow("ten minutes") << 600.0 << "600 s";
        QTest::newRow("a second and a half") << 1.5 << "1.5 s";
        QTest::newRow("a quarter") << 0.25 << "0.25 s";
        QTest::newRow("a minute") << 60.0 << "60 s";
        QTest::newRow("an hour, not 3.6e+03") << 3600.0 << "3600 s";
    }
    void secondsReadAsWritten() {
        QFETCH(double, seconds);
        QFETCH(QString, text);
        QCOMPARE(QString::fromStdString(seconds_text(seconds)), text);
    }

    // A worker serves the first controller that greets it; another is turned
    // away, told who holds it and since when, until the owner lets go.
    void aWorkerHasOneOwnerAtATime() {
        using Clock = Ownership::Clock;
        const Clock::time_point t0 = Clock::now();
        Ownership o;
        QVERIFY(o.free());
        o.claim("A", "distgpt-cli", t0);
        QVERIFY(o.is("A"));
        QVERIFY(!o.is("B"));
        o.claim("A", "distgpt-cli", t0 + std::chrono::seconds(5));  // its owner greets again
        QString refused;
        try {
            o.claim("B", "distgpt", t0 + std::chrono::seconds(40));
        } catch (const Error& e) {
            refused = e.what();
        }
        QVERIFY2(refused.startsWith("busy, owned by distgpt-cli since "), qPrintable(refused));
        QVERIFY2(refused.contains("(40 s ago)"), qPrintable(refused));  // since the first hello, not the second
        QVERIFY(o.is("A"));
        o.release();
        QVERIFY(o.free());
        QVERIFY(!o.is(""));
        o.claim("B", "distgpt", t0 + std::chrono::seconds(41));
        QVERIFY(o.is("B"));
    }

    // ZeroMQ keeps frames of up to 33 bytes inside the message object, where
    // their bytes may start at any address: they are read through a copy.
    void aSmallFrameIsReadAligned_data() {
        QTest::addColumn<int>("count");
        QTest::newRow("3 ids: inside the message") << 3;
        QTest::newRow("8 ids: inside the message") << 8;
        QTest::newRow("64 ids: allocated") << 64;
    }
    void aSmallFrameIsReadAligned() {
        QFETCH(int, count);
        std::vector<int32_t> ids(count);
        for (int i = 0; i < count; ++i) ids[i] = 1000 * i - 7;
        const zmq::message_t frame = proto::frame_of(ids.data(), ids.size() * sizeof(int32_t));
        std::vector<int32_t> scratch;
        const auto values = proto::frame_values(frame, scratch);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(values.data()) % alignof(int32_t), std::uintptr_t(0));
        QCOMPARE(std::vector<int32_t>(values.begin(), values.end()), ids);
    }

    void aCharacterSplitAcrossTokensWaits() {
        utf8::CharacterStream s;
        QCOMPARE(s.push("caf"), std::string("caf"));
        QCOMPARE(s.push("\xC3"), std::string());  // the first byte of é
        QCOMPARE(s.push("\xA9!"), std::string("\xC3\xA9!"));
        QCOMPARE(s.push("\xE2\x82"), std::string());
        QCOMPARE(s.rest(), std::string("\xE2\x82"));  // never completed
        QCOMPARE(s.push("x"), std::string("x"));
    }

    // One setup for the CLI and the app: prompts, sampling, slots, context, plan.
    void aRunIsPreparedOnce() {
        ModelSource tiny;
        tiny.random_shape = "tiny";  // byte tokens with an end of text, 128 positions, 4 layers
        const OpenedModel model = open_model(tiny);
        Topology three;
        for (const char* n : {"a", "b", "c"}) three.nodes.push_back({n});
        const RunSetup s = prepare_run(three, model, {{"hello", "", "hi", "yo"}, {}, 20, 0, 0});
        QCOMPARE(s.prompts.size(), size_t(4));
        QCOMPARE(s.prompts[1], std::vector<int>{*model.tokenizer->eos_id()});  // an empty prompt starts a fresh text
        QCOMPARE(s.slots, 3);                                                  // one per stage
        QCOMPARE(s.context, int(model.tokenizer->encode("hello").size()) + 20);
        QCOMPARE(s.plan.stages.size(), size_t(3));
        QCOMPARE(prepare_run(three, model, {{"a", "b"}, {}, 20, 0, 0}).slots, 2);  // never more than there are
        QCOMPARE(prepare_run(three, model, {{"a"}, {}, 500, 0, 0}).context, 128);  // within the model's
        EXPECT_ERROR(prepare_run(three, model, {{}, {}, 20, 0, 0}), "at least one prompt");
        EXPECT_ERROR(prepare_run(three, model, {{"a"}, {-1.0f, 0, 1.0f, 0}, 20, 0, 0}), "temperature");
        EXPECT_ERROR(prepare_run(three, model, {{std::string(200, 'x')}, {}, 20, 0, 50}),
                     "the longest prompt has 200 tokens; the context holds 50");
    }

    void aConfigRoundTrips() {
        for (const char* shape : {"tiny", "gpt2", "gpt2-xl"}) {
            const ModelConfig c = model_preset(shape);
            const ModelConfig back = parse_model_config(model_config_json(c), shape);
            QCOMPARE(back.n_layer, c.n_layer);
            QCOMPARE(back.n_head, c.n_head);
            QCOMPARE(back.n_embd, c.n_embd);
            QCOMPARE(back.n_positions, c.n_positions);
            QCOMPARE(back.vocab_size, c.vocab_size);
            QCOMPARE(back.eos_token_id, c.eos_token_id);
        }
    }
};

QTEST_GUILESS_MAIN(TestSharedHelpers)
#include "test_shared_helpers.moc"
