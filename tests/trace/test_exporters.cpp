// The exporters on a trace made by hand: what a spreadsheet, Perfetto and a
// script read must hold whatever the nodes are called.
#include "trace/run_metrics.h"
#include "support/fixtures.h"

#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// RFC 4180 fields of one CSV line (quoted fields may hold commas and doubled quotes).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
            fields.back() += '"';
            ++i;
        } else if (c == '"')
            quoted = !quoted;
        else if (c == ',' && !quoted)
            fields.emplace_back();
        else
            fields.back() += c;
    }
    return fields;
}

RunTrace two_nodes(const std::string& first, const std::string& second) {
    RunTrace t;
    t.nodes = {{first, 0, 0, "layers 0-1"}, {second, 1, 0, "layers 2-3"}};
    TraceSpan compute;
    compute.node = 0;
    compute.kind = SpanKind::Compute;
    compute.t0_us = 0;
    compute.t1_us = 100;
    compute.group = 0;
    compute.step = 0;
    TraceSpan send = compute;
    send.kind = SpanKind::Send;
    send.t0_us = 100;
    send.t1_us = 105;
    send.peer = 1;
    send.bytes = 512;
    send.transport = Transport::SharedMemory;
    TraceSpan receive = compute;
    receive.node = 1;
    receive.kind = SpanKind::Receive;
    receive.t0_us = 120;
    receive.t1_us = 122;
    TraceSpan allreduce = compute;
    allreduce.node = 1;
    allreduce.kind = SpanKind::AllReduce;
    allreduce.t0_us = 130;
    allreduce.t1_us = 140;
    t.spans = {compute, send, receive, allreduce};
    t.tokens = {{0, 0, 7, 150}};
    t.wall_us = 200;
    t.sequences = 1;
    return t;
}

}  // namespace

class TestExporters : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
private Q_SLOTS:
    void csvQuotesWhatNeedsQuoting_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("plain") << "node0";
        QTest::newRow("a comma") << "pi, kitchen";
        QTest::newRow("quotes") << "the \"fast\" one";
        QTest::newRow("both") << "a,\"b\",c";
    }
    void csvQuotesWhatNeedsQuoting() {
        QFETCH(QString, name);
        const auto file = path_of(dir) / "events.csv";
        write_events_csv(two_nodes(name.toStdString(), "b"), file);
        std::ifstream in(file);
        std::string header, line;
        std::getline(in, header);
        const auto columns = csv_fields(header);
        std::getline(in, line);  // the compute span of the first node
        const auto fields = csv_fields(line);
        QCOMPARE(fields.size(), columns.size());
        QCOMPARE(QString::fromStdString(fields[0]), name);
        std::getline(in, line);  // its send, whose peer is "b"
        QCOMPARE(csv_fields(line).size(), columns.size());
        QCOMPARE(csv_fields(line)[12], std::string("b"));
    }

    void chromeTraceHasATrackPerKind() {
        const auto file = path_of(dir) / "trace.json";
        write_chrome_trace(two_nodes("a", "b"), file);
        std::ifstream in(file);
        const auto j = nlohmann::json::parse(in);
        std::set<std::pair<int, int>> tracks;  // (pid, tid) of the spans
        std::set<std::string> names;
        for (const auto& e : j["traceEvents"]) {
            if (e["ph"] == "X") {
                tracks.insert({e["pid"].get<int>(), e["tid"].get<int>()});
                names.insert(e["name"].get<std::string>());
            }
            if (e["ph"] == "M" && e["name"] == "thread_name") names.insert("track " + e["args"]["name"].get<std::string>());
        }
        QCOMPARE(tracks.size(), size_t(4));  // compute, send on a; receive, all-reduce on b: four tracks
        for (const char* n : {"compute", "send", "receive", "allreduce", "track allreduce", "track sample"}) QVERIFY2(names.count(n), n);
    }

    // A send over an emulated link: its queueing, wire and latency follow it
    // on a track of their own, each marked emulated, and in every export.
    void emulatedTimeIsMarkedEverywhere() {
        RunTrace t = two_nodes("a", "b");
        t.spans[1].emulated = EmulatedDelay{2, 8, 5};  // µs after the hand-off at 105
        const auto trace_file = path_of(dir) / "emulated.json", csv_file = path_of(dir) / "emulated.csv";
        write_chrome_trace(t, trace_file);
        std::ifstream in(trace_file);
        const auto j = nlohmann::json::parse(in);
        std::map<std::string, std::pair<double, double>> parts;  // name -> (ts, dur)
        for (const auto& e : j["traceEvents"]) {
            if (e["ph"] == "X" && e["cat"] == "emulated") parts[e["name"]] = {e["ts"].get<double>(), e["dur"].get<double>()};
            if (e["ph"] == "X" && e["name"] == "send") QCOMPARE(e["args"]["emulated"]["wire_ms"].get<double>(), 0.008);
        }
        QCOMPARE(parts.size(), size_t(3));
        QCOMPARE(parts["queued behind earlier bytes (emulated)"], std::pair(105.0, 2.0));
        QCOMPARE(parts["on the wire (emulated)"], std::pair(107.0, 8.0));
        QCOMPARE(parts["latency (emulated)"], std::pair(115.0, 5.0));

        write_events_csv(t, csv_file);
        std::ifstream csv(csv_file);
        std::string header, line;
        std::getline(csv, header);
        const auto columns = csv_fields(header);
        std::getline(csv, line);  // compute: not emulated
        QCOMPARE(csv_fields(line)[columns.size() - 4], std::string("no"));
        std::getline(csv, line);  // the send
        const auto fields = csv_fields(line);
        QCOMPARE(fields.size(), columns.size());
        QCOMPARE(columns[columns.size() - 3], std::string("emulated_queued_us"));
        QCOMPARE(fields[columns.size() - 4], std::string("yes"));
        QCOMPARE(std::stod(fields[columns.size() - 2]), 8.0);

        const auto m = nlohmann::json::parse(metrics_json(run_metrics(t)));
        QCOMPARE(m["links"][0]["emulated_ms"]["latency"].get<double>(), 0.005);
        QCOMPARE(m["links"][0]["in_flight_ms"].get<double>(), 0.020);  // send start 100 to arrival 120
        QVERIFY(!nlohmann::json::parse(metrics_json(run_metrics(two_nodes("a", "b"))))["links"][0].contains("emulated_ms"));
    }

    void metricsCountAnAllReduceAsCommunication() {
        const auto m = nlohmann::json::parse(metrics_json(run_metrics(two_nodes("a", "b"))));
        QCOMPARE(m["nodes"][1]["communication_ms"].get<double>(), (2.0 + 10.0) / 1e3);
        QCOMPARE(m["hop_latency_us"]["p50"].get<double>(), 20.0);
        QCOMPARE(m["links"][0]["transports"][0].get<std::string>(), std::string("shm"));
    }
};

QTEST_GUILESS_MAIN(TestExporters)
#include "test_exporters.moc"
