// Workers found on the local network: the discovery datagrams, and workers
// on test hosts (network namespaces joined by a bridge) answering a
// controller on another host, in the library and in `distgpt-cli workers`.
// The hosts need root (CI is root); those cases are skipped, saying why,
// elsewhere.
#include "engine/local_engine.h"
#include "net/curve_keys.h"
#include "net/discovery.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "support/cluster_run.h"
#include "support/fixtures.h"
#include "support/run_to_end.h"
#include "util/child_process.h"
#include "support/test_network.h"
#include "util/version.h"

#include <QTest>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <memory>

using namespace distgpt;
using namespace distgpt::test;

class TestDiscovery : public QObject {
    Q_OBJECT
    QTemporaryDir dir;

    static net::WorkerAdvert sample() {
        net::WorkerAdvert a;
        a.name = "pi-1";
        a.version = "0.1.0";
        a.endpoint = "tcp://10.0.0.7:5555";
        a.public_key = std::string(40, 'k');
        a.threads = 4;
        a.cores = 4;
        a.memory_total = int64_t(8) << 30;
        a.memory_free = int64_t(5) << 30;
        a.models = {"gpt2", "shakespeare-char"};
        a.busy_with = "distgpt desktop";
        a.instance = "123";
        return a;
    }

private Q_SLOTS:
    void anAdvertReadsAsWritten() {
        const auto a = sample();
        const auto back = net::parse_advert(net::advert_datagram(a));
        QVERIFY(back.has_value());
        QCOMPARE(back->name, a.name);
        QCOMPARE(back->endpoint, a.endpoint);
        QCOMPARE(back->public_key, a.public_key);
        QCOMPARE(back->memory_free, a.memory_free);
        QCOMPARE(back->models, a.models);
        QCOMPARE(back->busy_with, a.busy_with);
    }

    // The answer is never bigger than the question: a forged sender gets no more bytes than it sent.
    void anAdvertIsNeverLargerThanTheQuery() {
        const std::string query = net::discovery_query();
        QCOMPARE(query.size(), net::kDiscoveryDatagramBytes);
        QVERIFY(net::is_discovery_query(query));
        QVERIFY(!net::is_discovery_query(query.substr(0, 200)));  // unpadded: ignored
        auto crowded = sample();
        crowded.models.assign(200, "a-model-with-a-long-name");
        crowded.name = std::string(3000, 'n');
        const std::string datagram = net::advert_datagram(crowded);
        QVERIFY(!datagram.empty() && datagram.size() <= query.size());
        const auto back = net::parse_advert(datagram);
        QVERIFY(back.has_value());
        QCOMPARE(back->models, std::vector<std::string>{"(too many to list)"});
        QCOMPARE(back->name.size(), std::size_t(64));
    }

    void malformedDatagramsAreIgnored_data() {
        QTest::addColumn<QByteArray>("datagram");
        QTest::newRow("empty") << QByteArray();
        QTest::newRow("not JSON") << QByteArray("hello");
        QTest::newRow("a query, not an advert") << QByteArray::fromStdString(net::discovery_query());
        QTest::newRow("a field of the wrong type") << QByteArray(R"({"type": "distgpt-worker", "name": 7})");
        auto bad_endpoint = nlohmann::json::parse(net::advert_datagram(sample()));
        bad_endpoint["endpoint"] = "nowhere";
        QTest::newRow("not an endpoint") << QByteArray::fromStdString(bad_endpoint.dump());
    }
    void malformedDatagramsAreIgnored() {
        QFETCH(QByteArray, datagram);
        QVERIFY(!net::parse_advert(datagram.toStdString()).has_value());
    }

    // The usual port held by another program: the worker serves, unlisted,
    // and says why; the port asked for by name must bind.
    void aTakenPortLeavesTheWorkerUnlisted() {
        if (const auto why = TestNetwork::unavailable()) QSKIP(("no test hosts: " + *why).c_str());
        TestNetwork network(2);
        std::vector<std::string> holder = network.launcher(1);
        holder.insert(holder.end(), {"/usr/bin/python3", "-c",
                                     "import socket, sys, time\n"
                                     "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                     "s.bind(('0.0.0.0', 5556))\n"
                                     "print('bound', flush=True)\n"
                                     "time.sleep(120)\n"});
        ChildProcess other(holder);
        QCOMPARE(other.read_line(std::chrono::steady_clock::now() + std::chrono::seconds(20)).value_or(""), std::string("bound"));
        const auto base = path_of(dir);
        const WorkerPlace place{network.launcher(1), "tcp://" + network.address(1) + ":0"};
        const auto log = (base / "taken.log").string();
        auto unlisted = std::make_unique<LocalWorker>("unlisted", 1, 0, std::vector<std::string>{"--insecure", "--log-file", log},
                                                      LocalWorker::Tie::Independent, place);
        QTRY_VERIFY(read_file(log).find("cannot answer discovery on UDP port 5556") != std::string::npos);
        QVERIFY(read_file(log).find("serving unlisted") != std::string::npos);
        network.enter(0);
        QVERIFY(net::discover_workers(std::chrono::milliseconds(500)).empty());
        const auto asked_log = (base / "asked.log").string();
        QVERIFY_THROWS_EXCEPTION(LocalWorker::WorkerGone,
                                 LocalWorker("asked", 1, 0, {"--insecure", "--discovery-port", "5556", "--log-file", asked_log},
                                             LocalWorker::Tie::Independent, place));
        QVERIFY(read_file(asked_log).find("cannot answer discovery on UDP port 5556") != std::string::npos);
    }

    // Workers on three hosts, one unlisted, one serving a controller; the
    // controller on a fourth finds the other two as they are, and a run
    // over what it found gives the single process's tokens.
    void workersAcrossHostsAreFound() {
        if (const auto why = TestNetwork::unavailable()) QSKIP(("no test hosts: " + *why).c_str());
        TestNetwork network(4);
        const auto base = path_of(dir);
        net::write_key_pair(net::generate_key_pair(), base / "controller");
        net::write_key_pair(net::generate_key_pair(), base / "worker");
        write_file(base / "authorized", read_file(base / "controller.pub"));
        ModelSource source;
        source.dir = write_random_model(base / "models" / "tiny-gpt", small_config(2, 4, 64, 257, 64), 37);
        const auto start = [&](int host, std::vector<std::string> extra) {
            extra.insert(extra.end(), {"--server-key", (base / "worker.key").string(), "--authorized-keys", (base / "authorized").string(),
                                       "--log-file", (base / ("host" + std::to_string(host) + ".log")).string()});
            return std::make_unique<LocalWorker>("host" + std::to_string(host), 1, int64_t(1) << 30, extra, LocalWorker::Tie::Independent,
                                                 WorkerPlace{network.launcher(host), "tcp://" + network.address(host) + ":0"});
        };
        auto listed = start(1, {"--model-dir", (base / "models").string()});
        auto unlisted = start(2, {"--discovery-port", "0"});
        auto busy = start(3, {});
        network.enter(0);
        ClusterOptions o;
        o.controller_name = "the teacher's laptop";
        o.keys = net::read_key_pair(base / "controller.key");
        const std::string key = net::read_key_pair(base / "worker.key").public_key;
        Topology holding;
        holding.nodes.push_back({"host3", busy->endpoint(), 1, 0, WeightSource::Stream, key});
        auto holder = std::make_unique<Cluster>(holding, o);

        auto found = net::discover_workers(std::chrono::milliseconds(1000));
        QCOMPARE(found.size(), std::size_t(2));
        QCOMPARE(found[0].name, std::string("host1"));
        QCOMPARE(found[0].endpoint, listed->endpoint());
        QCOMPARE(found[0].public_key, key);
        QCOMPARE(found[0].version, std::string(kVersion));
        QCOMPARE(found[0].models, std::vector<std::string>{"tiny-gpt"});
        QCOMPARE(found[0].threads, 1);
        QCOMPARE(found[0].memory_limit, int64_t(1) << 30);
        QVERIFY(found[0].memory_free > 0 && found[0].memory_free <= found[0].memory_total);
        QVERIFY(found[0].busy_with.empty());
        QCOMPARE(found[1].name, std::string("host3"));
        QCOMPARE(found[1].busy_with, std::string("the teacher's laptop"));

        // distgpt-cli workers says the same.
        std::vector<std::string> cli = network.launcher(0);
        cli.insert(cli.end(), {DISTGPT_CLI, "workers", "--json", "--timeout-ms", "1000"});
        const Finished listing = run_to_end(cli);
        QCOMPARE(listing.code, 0);
        const auto j = nlohmann::json::parse(listing.out);
        QCOMPARE(j.size(), std::size_t(2));
        QCOMPARE(j[0]["endpoint"].get<std::string>(), listed->endpoint());
        QCOMPARE(j[0]["server_key"].get<std::string>(), key);
        QVERIFY(j[0]["busy_with"].is_null());
        QCOMPARE(j[1]["busy_with"].get<std::string>(), std::string("the teacher's laptop"));

        // Free again once that controller lets it go; then a run over the two found.
        holder.reset();
        QTRY_VERIFY_WITH_TIMEOUT(net::discover_workers(std::chrono::milliseconds(300)).at(1).busy_with.empty(), 5000);
        found = net::discover_workers(std::chrono::milliseconds(1000));
        Topology t;
        t.transport = TransportChoice::ZeroMQ;
        for (const auto& w : found) t.nodes.push_back({w.name, w.endpoint, w.threads, 0, WeightSource::Stream, w.public_key});
        const OpenedModel model = open_model(source);
        const std::vector<std::vector<int>> prompts = {model.tokenizer->encode("Hello")};
        GenerateOptions options;
        options.max_new_tokens = 8;
        options.sampling.temperature = 0;
        options.stop_at_eos = false;
        Cluster cluster(t, o);
        const RunResult r = run_on(cluster, t, source, model, prompts, options);
        QVERIFY2(r.error.empty(), r.error.c_str());
        QCOMPARE(r.sequences[0].generated_ids, LocalEngine(model, 1, 1, 64).generate(prompts, options).sequences[0].generated_ids);
    }
};

QTEST_GUILESS_MAIN(TestDiscovery)
#include "test_discovery.moc"
