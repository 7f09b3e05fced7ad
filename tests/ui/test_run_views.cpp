// The app's models on their own: the playback clock, what a run state says a
// node did at a time, which messages were in flight, what the charts plot,
// the timeline's axis. Pure data, no window, no worker.
#include "models/playback_clock.h"
#include "models/run_charts.h"
#include "models/run_state.h"
#include "models/time_axis.h"

#include <QTest>

using namespace distgpt;
using namespace distgpt::ui;

namespace {

TraceSpan span(int node, SpanKind kind, double t0, double t1, int group = 0, int step = 0, int peer = -1, int64_t bytes = 0) {
    TraceSpan s;
    s.node = node;
    s.kind = kind;
    s.t0_us = t0;
    s.t1_us = t1;
    s.group = group;
    s.step = step;
    s.peer = peer;
    s.bytes = bytes;
    s.sequences = {0};
    return s;
}

// Two stages: node 0 computes [0, 100), sends to node 1 at 100 which
// receives it at 130 and computes [130, 330) with a sample [330, 350).
RunState two_stages() {
    RunState state;
    state.reset({{"a", 0, 0}, {"b", 1, 0}}, {"p"});
    state.addSpans({span(0, SpanKind::Compute, 0, 100), span(0, SpanKind::Send, 100, 105, 0, 0, 1, 512)});
    state.addSpans({span(1, SpanKind::Receive, 130, 132), span(1, SpanKind::Compute, 132, 330), span(1, SpanKind::Sample, 330, 350)});
    return state;
}

}  // namespace

class TestRunViews : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void playbackStretchesTime_data() {
        QTest::addColumn<double>("factor");
        QTest::addColumn<double>("wallMs");
        QTest::addColumn<double>("runUs");
        QTest::newRow("real time") << 1.0 << 250.0 << 250000.0;
        QTest::newRow("10x slower") << 10.0 << 250.0 << 25000.0;
        QTest::newRow("1000x slower") << 1000.0 << 2000.0 << 2000.0;
        QTest::newRow("below 1 is real time") << 0.5 << 10.0 << 10000.0;
    }
    void playbackStretchesTime() {
        QFETCH(double, factor);
        QFETCH(double, wallMs);
        QFETCH(double, runUs);
        PlaybackClock clock;
        QCOMPARE(clock.runUs(123), 0.0);  // nothing shown before a start
        clock.start(1000, factor);
        QCOMPARE(clock.runUs(1000 + wallMs), runUs);
        QCOMPARE(clock.runUs(500), 0.0);  // never before the start
    }

    void playbackKeepsTheShownTimeWhenTheSpeedChanges() {
        PlaybackClock clock;
        clock.start(0, 100);
        QCOMPARE(clock.runUs(1000), 10000.0);
        clock.setFactor(1, 1000);  // back to real time at 1 s on screen
        QCOMPARE(clock.runUs(1000), 10000.0);
        QCOMPARE(clock.runUs(1100), 110000.0);
        clock.start(0, 1, 5000);  // skip: show 5 ms of the run now
        QCOMPARE(clock.runUs(0), 5000.0);
    }

    void activityIsTheShareOfAWindow_data() {
        QTest::addColumn<int>("node");
        QTest::addColumn<double>("t0");
        QTest::addColumn<double>("t1");
        QTest::addColumn<double>("work");
        QTest::addColumn<bool>("lit");
        QTest::newRow("inside a compute") << 0 << 10.0 << 20.0 << 1.0 << true;
        QTest::newRow("half a compute") << 0 << 50.0 << 150.0 << 0.5 << true;
        QTest::newRow("a third") << 0 << 80.0 << 140.0 << 20.0 / 60 << false;
        QTest::newRow("idle") << 0 << 200.0 << 300.0 << 0.0 << false;
        QTest::newRow("compute then sample") << 1 << 300.0 << 350.0 << 1.0 << true;
        QTest::newRow("before the run") << 1 << -100.0 << 0.0 << 0.0 << false;
    }
    void activityIsTheShareOfAWindow() {
        QFETCH(int, node);
        QFETCH(double, t0);
        QFETCH(double, t1);
        QFETCH(double, work);
        QFETCH(bool, lit);
        const RunState state = two_stages();
        const Activity a = state.activity(node, t0, t1);
        QVERIFY2(std::abs(a.work() - work) < 1e-9, qPrintable(QString::number(a.work())));
        QCOMPARE(a.lit(), lit);
        QCOMPARE(a.shown().has_value(), lit);
    }

    void anAllReduceIsShownWhenItTookMostOfTheWork() {
        RunState state;
        state.reset({{"r0", 0, 0}, {"r1", 0, 1}}, {"p"});
        state.addSpans({span(0, SpanKind::Compute, 0, 100), span(0, SpanKind::AllReduce, 20, 90)});
        QCOMPARE(*state.activity(0, 0, 100).shown(), SpanKind::AllReduce);
        QCOMPARE(*state.activity(0, 0, 15).shown(), SpanKind::Compute);
        QVERIFY(state.latest(0, SpanKind::AllReduce, 95) != nullptr);
        QVERIFY(state.latest(0, SpanKind::AllReduce, 10) == nullptr);
    }

    void busyShareCountsWorkUpToATime_data() {
        QTest::addColumn<int>("node");
        QTest::addColumn<double>("at");
        QTest::addColumn<double>("percent");
        QTest::newRow("mid compute") << 0 << 50.0 << 100.0;
        QTest::newRow("after it") << 0 << 200.0 << 50.0;
        QTest::newRow("second stage at the end") << 1 << 350.0 << 100.0 * (198 + 20) / 350;
        QTest::newRow("second stage mid compute") << 1 << 232.0 << 100.0 * 100 / 232;
    }
    void busyShareCountsWorkUpToATime() {
        QFETCH(int, node);
        QFETCH(double, at);
        QFETCH(double, percent);
        const RunState state = two_stages();
        QVERIFY2(std::abs(state.busyPercent(node, at) - percent) < 1e-9, qPrintable(QString::number(state.busyPercent(node, at))));
    }

    void spansArrivingOutOfOrderAreIndexedByTheirEnd() {
        RunState state;
        state.reset({{"a", 0, 0}}, {"p"});
        state.addSpans({span(0, SpanKind::Compute, 200, 300)});
        state.addSpans({span(0, SpanKind::Compute, 0, 100)});  // late
        QCOMPARE(state.busyPercent(0, 100), 100.0);
        QCOMPARE(state.busyPercent(0, 300), 200.0 / 3);
    }

    void aSendAndItsReceiveAreOneMessage() {
        const RunState state = two_stages();
        QCOMPARE(state.messages().size(), size_t(1));
        const Message& m = state.messages()[0];
        QCOMPARE(m.from, 0);
        QCOMPARE(m.to, 1);
        QCOMPARE(m.sent_us, 100.0);
        QCOMPARE(m.arrived_us, 130.0);
        QCOMPARE(m.bytes, int64_t(512));
        QVERIFY(!m.relay);
        QCOMPARE(state.messagesIn(110, 120).size(), size_t(1));  // in flight
        QCOMPARE(state.messagesIn(0, 99).size(), size_t(0));     // not yet sent
        QCOMPARE(state.messagesIn(131, 200).size(), size_t(0));  // arrived
        // The receive may reach the controller before the send.
        RunState reversed;
        reversed.reset({{"a", 0, 0}, {"b", 0, 1}}, {"p"});
        reversed.addSpans({span(1, SpanKind::Receive, 130, 132, 3, 4)});
        reversed.addSpans({span(0, SpanKind::Send, 100, 105, 3, 4, 1, 8)});
        QCOMPARE(reversed.messages().size(), size_t(1));
        QVERIFY(reversed.messages()[0].relay);  // same stage: a leader relaying to its rank
    }

    void everyRunHasItsOwnRevisionAndTokens() {
        RunState state = two_stages();
        state.addToken({0, 0, 42, "x", 340, 0});
        const auto first = state.revision();
        const auto run = state.runId();
        state.reset({{"a", 0, 0}, {"b", 1, 0}}, {"p"});
        state.addToken({0, 0, 42, "x", 340, 0});
        // Same counts, another run: views keyed on the revision redraw.
        QVERIFY(state.revision() > first);
        QVERIFY(state.runId() > run);
        QCOMPARE(state.tokenCount(), 1);
        QCOMPARE(state.tokenCountUpTo(339), 0);
        QCOMPARE(state.tokenCountUpTo(340), 1);
    }

    void chartsPlotTheRunUpToATime() {
        RunState state = two_stages();
        state.addToken({0, 0, 42, "x", 340, 0});
        const RunCharts before = RunCharts::of(state, 200);
        QCOMPARE(before.tokens, 0);
        QCOMPARE(before.compute_ms[0], 0.1);
        QVERIFY(std::abs(before.compute_ms[1] - 0.068) < 1e-9);  // [132, 200) of its compute
        const RunCharts all = RunCharts::of(state, 1e9);
        QCOMPARE(all.tokens, 1);
        QCOMPARE(all.links, QStringList{"a→b"});
        QCOMPARE(all.link_kib[0], 0.5);
        QVERIFY(std::abs(all.communication_ms[1] - 0.002) < 1e-9);
        // An all-reduce inside a compute counts once, as communication.
        RunState tp;
        tp.reset({{"r0", 0, 0}}, {"p"});
        tp.addSpans({span(0, SpanKind::Compute, 0, 1000), span(0, SpanKind::AllReduce, 100, 400)});
        const RunCharts c = RunCharts::of(tp, 1e9);
        QCOMPARE(c.compute_ms[0], 0.7);
        QCOMPARE(c.communication_ms[0], 0.3);
        QVERIFY(RunCharts::of(RunState{}, 1e9).empty());
    }

    void timeAxisStaysOnTheRun_data() {
        QTest::addColumn<double>("start");
        QTest::addColumn<double>("scale");
        QTest::addColumn<double>("wantStart");
        QTest::addColumn<double>("wantScale");
        // A 100 ms run over 1000 px.
        QTest::newRow("before time zero") << -5000.0 << 10.0 << 0.0 << 10.0;
        QTest::newRow("zoomed out past the run") << 0.0 << 500.0 << 0.0 << 100.0;
        QTest::newRow("panned past the end") << 95000.0 << 10.0 << 90000.0 << 10.0;
        QTest::newRow("inside") << 20000.0 << 10.0 << 20000.0 << 10.0;
    }
    void timeAxisStaysOnTheRun() {
        QFETCH(double, start);
        QFETCH(double, scale);
        QFETCH(double, wantStart);
        QFETCH(double, wantScale);
        TimeAxis a{start, scale};
        a.clampTo(100000, 1000);
        QCOMPARE(a.start_us, wantStart);
        QCOMPARE(a.us_per_px, wantScale);
    }
};

QTEST_GUILESS_MAIN(TestRunViews)
#include "test_run_views.moc"
