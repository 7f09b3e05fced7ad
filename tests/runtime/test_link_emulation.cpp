// Links emulated in distgpt's own send path: the pacer's arithmetic, the
// topology's networks and links, messages held back on loopback at the rate
// and latency asked, and a pipeline over an emulated link with the same tokens.
#include "net/link_emulator.h"
#include "net/link_model.h"
#include "net/sockets.h"
#include "plan/topology.h"
#include "runtime/controller/cluster.h"
#include "runtime/worker/peer_links.h"
#include "trace/run_metrics.h"
#include "support/cluster_run.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

#include <QTest>

#include <algorithm>
#include <cmath>
#include <map>

using namespace distgpt;
using namespace distgpt::test;

namespace {
// How late past its due time a message may be seen: a sanitizer's build
// wakes its threads late on a busy machine (never early: that is the link's).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr double kLate = 0.3;
#else
constexpr double kLate = 0.1;
#endif
}  // namespace

class TestLinkEmulation : public QObject {
    Q_OBJECT
    QTemporaryDir dir;

    // The same greedy run of `tokens` tokens after `prompt` on a small random
    // model, over `plain` and over `emulated`.
    std::pair<RunResult, RunResult> runBoth(const Topology& plain, const Topology& emulated, const std::string& prompt, int tokens) {
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "model", small_config(4, 4, 64, 257, 128), 3);
        const OpenedModel model = open_model(source);
        GenerateOptions options;
        options.max_new_tokens = tokens;
        options.sampling.temperature = 0;
        options.stop_at_eos = false;
        const std::vector<std::vector<int>> prompts{model.tokenizer->encode(prompt)};
        auto run = [&](const Topology& t) {
            Cluster cluster(t);
            return run_on(cluster, t, source, model, prompts, options, 128);
        };
        return {run(plain), run(emulated)};
    }

private Q_SLOTS:
    void initTestCase() { qputenv("DISTGPT_WORKER", DISTGPT_WORKER); }

    // Bytes wait behind the bytes before them, take their size over the
    // bandwidth, then the latency.
    void thePacerSerializesThenDelays() {
        LinkPacer link({8, 5, 0}, 1);  // 8 Mbit/s: 1000 bytes take 1 ms
        auto t = link.transfer(0, 1000);
        QCOMPARE(t.on_wire_ns, int64_t(0));
        QCOMPARE(t.off_wire_ns, int64_t(1'000'000));
        QCOMPARE(t.delivered_ns, int64_t(6'000'000));
        t = link.transfer(500'000, 1000);  // sent while the first is on the wire: it queues
        QCOMPARE(t.on_wire_ns, int64_t(1'000'000));
        QCOMPARE(t.off_wire_ns, int64_t(2'000'000));
        QCOMPARE(t.delivered_ns, int64_t(7'000'000));
        t = link.transfer(10'000'000, 500);  // an idle wire
        QCOMPARE(t.on_wire_ns, int64_t(10'000'000));
        QCOMPARE(t.delivered_ns, int64_t(15'500'000));
        LinkPacer unlimited({0, 2, 0}, 1);
        QCOMPARE(unlimited.transfer(7, 1 << 20).delivered_ns, int64_t(2'000'007));
    }

    // Jitter: within its bounds, the same for the same seed, never reordering.
    void jitterIsSeededAndKeepsOrder() {
        constexpr int64_t kApart = 20'000'000;  // further apart than the jitter: none waits for the one before
        auto deliveries = [](uint64_t seed) {
            LinkPacer link({0, 10, 4}, seed);
            std::vector<int64_t> out;
            for (int i = 0; i < 200; ++i) out.push_back(link.transfer(int64_t(i) * kApart, 100).delivered_ns);
            return out;
        };
        const auto a = deliveries(7), b = deliveries(7), c = deliveries(8);
        QVERIFY(a == b);
        QVERIFY(a != c);
        int spread_low = 0, spread_high = 0;
        for (int i = 0; i < 200; ++i) {
            const double latency_ms = (a[i] - int64_t(i) * kApart) / 1e6;
            QVERIFY2(latency_ms >= 6 - 1e-6 && latency_ms <= 14 + 1e-6, qPrintable(QString::number(latency_ms)));
            spread_low += latency_ms < 9;
            spread_high += latency_ms > 11;
        }
        QVERIFY(spread_low > 30 && spread_high > 30);  // it does vary, both ways
        // Close together, a late one holds back the next: the order stays.
        LinkPacer dense({0, 10, 4}, 7);
        int64_t last = 0;
        for (int i = 0; i < 200; ++i) {
            const int64_t at = dense.transfer(int64_t(i) * 100'000, 100).delivered_ns;
            QVERIFY(at >= last);
            last = at;
        }
    }

    void nodesNetworksMakeTheirLinks() {
        const NodeNetwork pi{40, 50, 3, 2}, server{1000, 1000, 0.1, 0};
        const LinkModel up = link_between(pi, server), down = link_between(server, pi);
        QCOMPARE(up.bandwidth_mbps, 40.0);    // the Pi's uplink
        QCOMPARE(down.bandwidth_mbps, 50.0);  // the Pi's downlink
        QCOMPARE(up.latency_ms, 3.1);
        QCOMPARE(up.jitter_ms, 2.0);
        QCOMPARE(link_between({}, {}).emulated(), false);
        QCOMPARE(link_between({0, 0, 0, 0}, {100, 0, 0, 0}).bandwidth_mbps, 0.0);  // a receiver's uplink limits nothing here
        QVERIFY(network_preset("Raspberry Pi 4, 1 GbE"));
        QVERIFY(!network_preset("carrier pigeon"));
    }

    void topologiesSayNetworksAndLinks() {
        const Topology t = parse_topology(R"({"nodes": [
            {"name": "pi", "network": "Raspberry Pi on Wi-Fi"},
            {"name": "pc", "network": {"preset": "1 GbE switch", "latency_ms": 0.5}},
            {"name": "plain"}],
          "links": [{"from": "pc", "to": "pi", "bandwidth_mbps": 10, "latency_ms": 20}]})");
        QCOMPARE(t.nodes[0].network, *network_preset("Raspberry Pi on Wi-Fi"));
        QCOMPARE(t.nodes[1].network.uplink_mbps, 1000.0);
        QCOMPARE(t.nodes[1].network.latency_ms, 0.5);
        QVERIFY(!t.nodes[2].network.emulated());
        QCOMPARE(t.link(1, 0), (LinkModel{10, 20, 0}));  // the override
        QCOMPARE(t.link(0, 1), link_between(t.nodes[0].network, t.nodes[1].network));
        QVERIFY(!t.link(2, 2).emulated());
        QCOMPARE(parse_topology(topology_to_json(t)).nodes, t.nodes);  // written and read back
        QCOMPARE(parse_topology(topology_to_json(t)).links, t.links);
    }

    void badNetworksAreNamed_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("error");
        QTest::newRow("unknown preset") << R"({"nodes": [{"name": "a", "network": "carrier pigeon"}]})"
                                        << "node 'a': network preset 'carrier pigeon' is not one of";
        QTest::newRow("negative") << R"({"nodes": [{"name": "a", "network": {"latency_ms": -1}}]})"
                                  << "node 'a': \"latency_ms\" must be a number from 0 up";
        QTest::newRow("not an object") << R"({"nodes": [{"name": "a", "network": 5}]})"
                                       << "\"network\" must be a preset's name or an object";
        QTest::newRow("link to nowhere") << R"({"nodes": [{"name": "a"}], "links": [{"from": "a", "to": "b"}]})"
                                         << "link a → b: no node is named 'b'";
        QTest::newRow("link to itself") << R"({"nodes": [{"name": "a"}], "links": [{"from": "a", "to": "a"}]})"
                                        << "a link joins two different nodes";
        QTest::newRow("link without ends") << R"({"nodes": [{"name": "a"}], "links": [{"to": "a"}]})"
                                           << "needs \"from\" and \"to\"";
    }
    void badNetworksAreNamed() {
        QFETCH(QString, json);
        QFETCH(QString, error);
        EXPECT_ERROR(parse_topology(json.toStdString()), error.toStdString());
    }

    // On loopback, through the worker's own links: the first message comes
    // after its bytes and the latency, the next ones at the bandwidth.
    void messagesArriveAtTheRateAndLatencyAsked() {
        constexpr double kMbps = 40, kLatencyMs = 25;
        constexpr std::size_t kBytes = 50'000;  // 10 ms a message at 40 Mbit/s
        const double per_message_ms = kBytes * 8 / (kMbps * 1e3), expected_first = per_message_ms + kLatencyMs;
        // Up to three tries: on a machine busy with other work the emulator's
        // thread may wake late, which says nothing of the link it emulates.
        // Never early, though, on any try.
        double first_ms = 0, gap_ms = 0;
        for (int attempt = 0; attempt < 3; ++attempt) {
            zmq::context_t context;
            zmq::socket_t inbox = net::make_socket(context, zmq::socket_type::router);
            inbox.bind("tcp://127.0.0.1:*");
            const std::string endpoint = inbox.get(zmq::sockopt::last_endpoint);
            net::KeyPair keys;
            PeerLinks links(context, keys);
            proto::Configure c;
            c.run = "r";
            links.configure(c);
            links.connect(endpoint, "", {kMbps, kLatencyMs, 0}, 1);
            std::vector<int64_t> arrived;
            const int64_t t0 = net::now_ns();
            int64_t first_handed = 0, first_due = 0;  // as the link's pacer says: handed over, and due at the receiver
            for (int i = 0; i < 6; ++i) {
                std::vector<char> payload(kBytes - 64, 'x');  // with its header, about kBytes
                proto::Parts parts;
                parts.push_back(proto::frame_of(payload.data(), payload.size()));
                const net::SentMessage sent = links.send(endpoint, proto::encode(proto::Wake{"r"}, std::move(parts)));
                QCOMPARE(sent.how, Transport::ZeroMQ);
                QVERIFY(sent.emulated);
                if (i == 0) {
                    first_handed = sent.emulated->handed_ns;
                    first_due = sent.emulated->delivered_ns;
                }
            }
            // The sender went on at once: the first message alone is due after 35 ms (a loaded machine under a sanitizer took 5).
            QVERIFY(net::now_ns() - t0 < 30'000'000);
            while (arrived.size() < 6) {
                auto got = net::receive(inbox, std::chrono::milliseconds(2000));
                QVERIFY(got);
                arrived.push_back(net::now_ns());
            }
            QVERIFY(arrived[0] >= first_due);
            // From its hand-off (its encoding, slow under a sanitizer, is the sender's, not the link's).
            first_ms = (arrived[0] - first_handed) / 1e6;
            gap_ms = (arrived[5] - arrived[0]) / 5e6;
            qInfo("first message after %.2f ms (expected %.2f), then one every %.2f ms (expected %.2f)", first_ms, expected_first, gap_ms,
                  per_message_ms);
            if (first_ms > 0.9 * expected_first && first_ms < (1 + kLate) * expected_first &&
                std::abs(gap_ms - per_message_ms) < 0.1 * per_message_ms)
                break;
        }
        QVERIFY2(first_ms > 0.9 * expected_first && first_ms < (1 + kLate) * expected_first,
                 qPrintable(QString("first after %1 ms, expected %2").arg(first_ms).arg(expected_first)));
        QVERIFY2(std::abs(gap_ms - per_message_ms) < 0.1 * per_message_ms,
                 qPrintable(QString("%1 ms apart, expected %2 (%3 Mbit/s)").arg(gap_ms).arg(per_message_ms).arg(kMbps)));
    }

    // A pipeline whose first stage sits on a slow link: its prefill's hop
    // takes the bytes over the bandwidth plus the latency, and the tokens are
    // those of the same run unemulated.
    void aPipelineOverAnEmulatedLink() {
        const Topology plain = parse_topology(R"({"nodes": [{"name": "a"}, {"name": "b"}]})");
        const Topology slow =
            parse_topology(R"({"nodes": [{"name": "a", "network": {"uplink_mbps": 4, "latency_ms": 15}}, {"name": "b"}]})");
        const auto [fast, emulated] = runBoth(plain, slow, std::string(96, 'a'), 8);  // 96 x 64 x 4 bytes of prefill: 24 KB
        QVERIFY(fast.error.empty() && emulated.error.empty());
        QCOMPARE(emulated.sequences[0].generated_ids, fast.sequences[0].generated_ids);
        // The prefill's hop a -> b: its send's hand-off (the span's end; its encoding before, slow under a
        // sanitizer, is the sender's, not the link's) to its receive's start.
        auto hop_ms = [](const RunResult& r) {
            double sent = -1, received = -1;
            int64_t bytes = 0;
            for (const auto& s : r.trace.spans) {
                if (s.step != 0) continue;
                if (s.kind == SpanKind::Send && s.node == 0 && s.peer == 1) {
                    sent = s.t1_us;
                    bytes = s.bytes;
                }
                if (s.kind == SpanKind::Receive && s.node == 1) received = s.t0_us;
            }
            return std::pair{(received - sent) / 1e3, bytes};
        };
        const auto [ms, bytes] = hop_ms(emulated);
        const double expected = bytes * 8 / (4 * 1e3) + 15;  // its frame over 4 Mbit/s, then 15 ms
        QVERIFY2(bytes > 20000, qPrintable(QString::number(bytes)));
        qInfo("prefill hop of %lld bytes: %.2f ms (expected %.2f); unemulated %.3f ms", static_cast<long long>(bytes), ms, expected,
              hop_ms(fast).first);
        QVERIFY2(ms > 0.9 * expected && ms < (1 + kLate) * expected, qPrintable(QString("hop %1 ms, expected %2").arg(ms).arg(expected)));
        QVERIFY(hop_ms(fast).first < 5);

        // The trace says where that time went: every send of a carries what
        // the emulated link did after it, and it arrived no sooner.
        std::map<std::pair<int, int>, double> arrivals;  // (group, step) -> at b
        for (const auto& s : emulated.trace.spans)
            if (s.kind == SpanKind::Receive && s.node == 1) arrivals[{s.group, s.step}] = s.t0_us;
        int sends = 0;
        for (const auto& s : emulated.trace.spans) {
            if (s.kind != SpanKind::Send || s.node != 0) continue;
            QVERIFY(s.emulated);
            ++sends;
            QCOMPARE(s.emulated->latency_us, 15000.0);  // no jitter asked
            // Its message over 4 Mbit/s: the activations and the message's header.
            QVERIFY2(s.emulated->wire_us >= s.bytes * 8 / 4.0 && s.emulated->wire_us < (s.bytes + 512) * 8 / 4.0,
                     qPrintable(QString("%1 µs on the wire for %2 bytes").arg(s.emulated->wire_us).arg(s.bytes)));
            QVERIFY(s.emulated->queued_us >= 0);
            const double arrived = arrivals.at({s.group, s.step});
            QVERIFY2(arrived >= s.t1_us + s.emulated->total_us() - 200,  // one clock for both nodes, give or take the sync
                     qPrintable(QString("step %1 arrived %2 µs after its hand-off, emulated %3")
                                    .arg(s.step)
                                    .arg(arrived - s.t1_us)
                                    .arg(s.emulated->total_us())));
        }
        QCOMPARE(sends, 8);
        for (const auto& s : fast.trace.spans) QVERIFY(!s.emulated);
        const RunMetrics metrics = run_metrics(emulated.trace);
        QVERIFY(metrics.links.front().emulated);
        QCOMPARE(metrics.links.front().emulated->latency_us, 8 * 15000.0);
    }

    // Tensor parallel over an emulated 5 ms link: every all-reduce waits on
    // it (two a layer and the split head's), and the tokens are those of
    // the same run unemulated.
    void allReducesCrossTheEmulatedLink() {
        const Topology plain = parse_topology(R"({"strategy": "tensor", "nodes": [{"name": "a"}, {"name": "b"}]})");
        const Topology slow = parse_topology(
            R"({"strategy": "tensor", "nodes": [{"name": "a", "network": {"latency_ms": 2.5}}, {"name": "b", "network": {"latency_ms": 2.5}}]})");
        const auto [fast, emulated] = runBoth(plain, slow, "to be or not", 6);
        QVERIFY(fast.error.empty() && emulated.error.empty());
        QCOMPARE(emulated.sequences[0].generated_ids, fast.sequences[0].generated_ids);
        // A decode step's all-reduces on rank 0: 4 layers x 2 + the head's, each at least the link's 5 ms.
        // (What they take unemulated is only printed: a loaded machine took 18 ms.)
        auto all_reduce_ms = [](const RunResult& r) {
            double us = 0;
            for (const auto& span : r.trace.spans)
                if (span.kind == SpanKind::AllReduce && span.node == 0 && span.step == 3) us += span.t1_us - span.t0_us;
            return us / 1e3;
        };
        qInfo("a decode step's all-reduces: %.2f ms over the 5 ms link, %.3f ms unemulated", all_reduce_ms(emulated), all_reduce_ms(fast));
        QVERIFY2(all_reduce_ms(emulated) > 0.9 * 9 * 5.0, qPrintable(QString::number(all_reduce_ms(emulated))));
        // Each all-reduce says what its slowest partial spent on the link.
        for (const auto& span : emulated.trace.spans)
            if (span.kind == SpanKind::AllReduce) {
                QVERIFY(span.emulated);
                QCOMPARE(span.emulated->latency_us, 5000.0);
            }
        for (const auto& span : fast.trace.spans) QVERIFY(!span.emulated);
    }
};

QTEST_GUILESS_MAIN(TestLinkEmulation)
#include "test_link_emulation.moc"
