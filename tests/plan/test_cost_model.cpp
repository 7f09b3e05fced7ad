// The cost model's formulas on synthetic inputs whose answers are worked
// out by hand, and the planner's placements on mixed hardware.
#include "engine/machine_rates.h"
#include "engine/model_source.h"
#include "plan/cost_model.h"
#include "plan/partial_sum_wait.h"
#include "plan/strategy_choice.h"
#include "plan/planner.h"
#include "plan/topology.h"
#include "support/expect_error.h"

#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

using namespace distgpt;

namespace {

// A model small enough that its head costs next to nothing beside a layer.
ModelConfig small_model(int layers) {
    ModelConfig c;
    c.n_layer = layers;
    c.n_head = 4;
    c.n_embd = 64;
    c.vocab_size = 16;
    c.n_positions = 256;
    return c;
}

Topology nodes(Strategy strategy, int count, double speed = 1) {
    Topology t;
    t.strategy = strategy;
    for (int i = 0; i < count; ++i) {
        NodeSpec n;
        n.name = "n" + std::to_string(i);
        n.speed = speed;
        t.nodes.push_back(n);
    }
    return t;
}

NodeRates rates(double layer_ms, double head_ms = 0, double sample_ms = 0) {
    NodeRates r;
    r.layer_ms = layer_ms;
    r.head_ms = head_ms;
    r.sample_ms = sample_ms;
    return r;
}

}  // namespace

class TestCostModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // One node, one sequence: a step is its layers, its head and a sample;
    // the token goes back to itself through shared memory each time.
    void oneNodeIsItsStepsOneAfterAnother() {
        const Topology t = nodes(Strategy::Pipeline, 1);
        const ModelConfig c = small_model(4);
        const Plan plan = make_plan(t, c, 1, 64);
        RunShape shape;
        shape.prompt_tokens = 1;  // its prefill is one row: a step like the others
        shape.new_tokens = 10;
        const Prediction p = predict_run(t, plan, c, {rates(1.0, 2.0, 0.5)}, shape, 2);
        const double step = 4 * 1.0 + 2.0 + 0.5, wall = step + 9 * (kSharedMemoryHopMs + step);
        QCOMPARE_LE(std::abs(p.wall_seconds * 1e3 - wall), 1e-6);
        QCOMPARE_LE(std::abs(p.tokens_per_second - 10 / (wall / 1e3)), 1e-6);
        QCOMPARE_LE(std::abs(p.first_token_ms - step), 1e-9);
        QCOMPARE_LE(std::abs(p.token_latency_ms - (kSharedMemoryHopMs + step)), 1e-9);
        QCOMPARE_LE(p.nodes[0].busy_percent, 100.0);
        QVERIFY(p.nodes[0].busy_percent > 99.5);
        QVERIFY2(p.bottleneck.find("compute") != std::string::npos, p.bottleneck.c_str());
    }

    // A run teaches what the rates miss: two stages whose decode steps took
    // 0.5 ms over their layers (bar a few outliers, left out), messages that
    // took 0.3 ms through shared memory; a step's cost and a hop's learned,
    // and the next prediction of one node counts them.
    void aRunTeachesEachStepsAndHopsCost() {
        const Topology t = nodes(Strategy::Pipeline, 2);
        const ModelConfig c = small_model(4);
        const Plan plan = make_plan(t, c, 1, 64);
        const std::vector<NodeRates> r{rates(1.0), rates(1.0, 2.0)};
        RunTrace trace;
        trace.nodes = {{"n0", 0, 0}, {"n1", 1, 0}};
        double at = 0;
        for (int step = 1; step <= 42; ++step) {
            for (int n = 0; n < 2; ++n) {
                const StagePlan& stage = plan.stages[n];
                TraceSpan compute;
                compute.node = n;
                compute.kind = SpanKind::Compute;
                compute.step = step;
                compute.group = 0;
                compute.layer_begin = stage.layer_begin;
                compute.layer_end = stage.layer_end;
                compute.sequences = {0};
                const double predicted = compute_ms(r[n], stage.layer_end - stage.layer_begin, stage.head, 1, 1);
                // The first two steps fill the caches (left out); one of the forty after descheduled.
                const double extra = step < 3 ? 9.0 : step == 7 ? 40.0 : 0.5;
                compute.t0_us = at;
                compute.t1_us = at + (predicted + extra) * 1e3;
                at = compute.t1_us;
                TraceSpan send = compute;
                send.kind = SpanKind::Send;
                send.peer = 1 - n;
                send.transport = Transport::SharedMemory;
                send.t0_us = at;
                send.t1_us = at + 10;
                TraceSpan receive = compute;
                receive.node = 1 - n;
                receive.kind = SpanKind::Receive;
                receive.t0_us = at + 300;
                receive.t1_us = at + 310;
                at += 310;
                trace.spans.insert(trace.spans.end(), {compute, send, receive});
            }
        }
        const LearnedCosts learned = learn_costs(trace, t, plan, r, 2);
        QCOMPARE(learned.step_ms.size(), size_t(2));
        for (int n = 0; n < 2; ++n) QCOMPARE_LE(std::abs(*learned.step_ms[n] - 0.5), 1e-9);
        QCOMPARE_LE(std::abs(*learned.shared_memory_hop_ms - 0.3), 1e-9);
        QVERIFY(!learned.zeromq_hop_ms);

        // One node with those costs: each step takes its layers and 0.5 ms more, each token back 0.3 ms.
        const Topology one = nodes(Strategy::Pipeline, 1);
        NodeRates taught = rates(1.0, 2.0);
        taught.step_ms = 0.5;
        taught.shared_memory_hop_ms = 0.3;
        RunShape shape;
        shape.prompt_tokens = 1;
        shape.new_tokens = 10;
        const Prediction p = predict_run(one, make_plan(one, c, 1, 64), c, {taught}, shape, 2);
        const double step = 4 * 1.0 + 2.0 + 0.5, wall = step + 9 * (0.3 + step);
        QCOMPARE_LE(std::abs(p.wall_seconds * 1e3 - wall), 1e-6);
    }

    // Three stages here on two cores. Computing one at a time, each step
    // took 0.5 ms over its layer: a step's cost. Computing all three at
    // once (a fair share: two thirds of a core each), each took as long as
    // 0.8 of that share makes of its 2.5 ms: time-slicing's cost, not the
    // step's. Messages to a stage waiting for them took 0.3 ms; those to a
    // stage still busy with another micro-batch waited for it (the run's
    // queueing, played out by the model itself): not a hop's cost.
    void crowdedStepsTeachTimeSlicingNotAStepsCost() {
        const Topology t = nodes(Strategy::Pipeline, 3);
        const ModelConfig c = small_model(3);
        const Plan plan = make_plan(t, c, 3, 64);
        const std::vector<NodeRates> r(3, rates(2.0));
        RunTrace trace;
        trace.nodes = {{"n0", 0, 0}, {"n1", 1, 0}, {"n2", 2, 0}};
        const auto span = [&](int node, SpanKind kind, int step, double t0_ms, double t1_ms) {
            TraceSpan s;
            s.node = node;
            s.kind = kind;
            s.step = step;
            s.group = 0;
            s.layer_begin = plan.stages[node].layer_begin;
            s.layer_end = plan.stages[node].layer_end;
            s.sequences = {0};
            s.t0_us = t0_ms * 1e3;
            s.t1_us = t1_ms * 1e3;
            trace.spans.push_back(s);
            return s;
        };
        const auto hop = [&](int from, int to, int step, double at_ms, double took_ms) {
            TraceSpan send = span(from, SpanKind::Send, step, at_ms, at_ms + 0.01);
            send.peer = to;
            send.transport = Transport::SharedMemory;
            trace.spans.back() = send;
            span(to, SpanKind::Receive, step, at_ms + took_ms, at_ms + took_ms + 0.01);
        };
        double at = 0;
        for (int step = 1; step <= 14; ++step)  // one at a time, each waited for
            for (int n = 0; n < 3; ++n) {
                span(n, SpanKind::Compute, step, at, at + 2.5);
                hop(n, (n + 1) % 3, step, at + 2.5, 0.3);
                at += 2.8;
            }
        const double crowded_ms = 2.5 / (0.8 * 2.0 / 3.0);
        for (int step = 15; step <= 30; ++step) {  // all at once; each message waits for its busy receiver
            for (int n = 0; n < 3; ++n) span(n, SpanKind::Compute, step, at, at + crowded_ms);
            hop(0, 1, step, at + 0.5 * crowded_ms, 3.0);
            at += crowded_ms + 5;
        }
        const LearnedCosts learned = learn_costs(trace, t, plan, r, 2);
        for (int n = 0; n < 3; ++n) QCOMPARE_LE(std::abs(*learned.step_ms[n] - 0.5), 1e-9);
        QVERIFY(learned.crowded_efficiency);
        QCOMPARE_LE(std::abs(*learned.crowded_efficiency - 0.8), 1e-9);
        QCOMPARE_LE(std::abs(*learned.shared_memory_hop_ms - 0.3), 1e-9);

        // Three cores: nothing was crowded; every step teaches its cost.
        const LearnedCosts uncrowded = learn_costs(trace, t, plan, r, 3);
        QVERIFY(!uncrowded.crowded_efficiency);
        QVERIFY(*uncrowded.step_ms[0] > 0.5);
    }

    // What crowded cores gave is kept per shard shape beside the rates,
    // each run weighing as much as all before it, and read back by the next
    // prediction on this machine.
    void crowdingIsKeptForTheNextPrediction() {
        const QTemporaryDir dir;
        const std::filesystem::path cache = dir.filePath("node-rates.json").toStdString();
        const Topology t = nodes(Strategy::Pipeline, 2);
        const ModelConfig c = small_model(4);
        const Plan plan = make_plan(t, c, 2, 64);
        const RatesKey key = rates_key(t, plan.stages[0], 0);
        LearnedCosts learned;
        learned.step_ms.resize(2);
        {
            MachineRates machine(cache);
            QVERIFY(!machine.learned_crowded_efficiency(c, WeightFormat::F32, key));
            learned.crowded_efficiency = 0.8;
            machine.learn(learned, t, plan, c, WeightFormat::F32);
            learned.crowded_efficiency = 0.6;
            machine.learn(learned, t, plan, c, WeightFormat::F32);
        }
        MachineRates again(cache);
        QCOMPARE_LE(std::abs(*again.learned_crowded_efficiency(c, WeightFormat::F32, key) - 0.7), 1e-9);
        QVERIFY(!MachineRates(cache, true).learned_crowded_efficiency(c, WeightFormat::F32, key));  // recalibrating: as measured
    }

    // Two stages of 5 ms: with two sequences in flight each stage is busy
    // but for the hops; with one core for both, half as fast; with one
    // sequence, the round trip.
    void pipelineRateIsItsBound_data() {
        QTest::addColumn<int>("in_flight");
        QTest::addColumn<int>("cores");
        QTest::addColumn<double>("ms_per_token");
        QTest::addColumn<QString>("bound");
        QTest::addColumn<double>("crowdedEfficiency");
        // Two in flight go round a cycle of two steps and two hops: the stages wait only the hops.
        QTest::newRow("2 in flight, 2 cores: a stage") << 2 << 2 << (10.0 + 2 * kSharedMemoryHopMs) / 2 << "stage" << 1.0;
        QTest::newRow("2 in flight, 1 core: the core") << 2 << 1 << 10.0 << "cores" << 1.0;
        QTest::newRow("1 in flight: the round trip") << 1 << 2 << 10.0 + 2 * kSharedMemoryHopMs << "round trip" << 1.0;
        // Time-slicing that wastes a fifth of the core: its steps take a quarter longer; uncrowded, nothing.
        QTest::newRow("2 in flight, 1 core crowded at 0.8") << 2 << 1 << 10.0 / 0.8 << "cores" << 0.8;
        QTest::newRow("2 in flight, 2 cores: not crowded") << 2 << 2 << (10.0 + 2 * kSharedMemoryHopMs) / 2 << "stage" << 0.8;
    }
    void pipelineRateIsItsBound() {
        QFETCH(int, in_flight);
        QFETCH(int, cores);
        QFETCH(double, ms_per_token);
        QFETCH(QString, bound);
        QFETCH(double, crowdedEfficiency);
        const Topology t = nodes(Strategy::Pipeline, 2);
        const ModelConfig c = small_model(2);
        const Plan plan = make_plan(t, c, in_flight, 64);
        QCOMPARE(plan.stages[0].layer_end, 1);
        RunShape shape;
        shape.sequences = shape.in_flight = in_flight;
        shape.prompt_tokens = 1;
        shape.new_tokens = 2000;  // long enough that the start weighs < 0.1 %
        NodeRates r = rates(5.0);
        r.crowded_efficiency = crowdedEfficiency;
        const Prediction p = predict_run(t, plan, c, {r, r}, shape, cores);
        const double expected = 1e3 / ms_per_token;
        QVERIFY2(std::abs(p.tokens_per_second - expected) / expected < 2e-3,
                 qPrintable(QString("%1 tokens/s, expected %2").arg(p.tokens_per_second).arg(expected)));
        QVERIFY2(p.bottleneck.find(bound.toStdString()) != std::string::npos, p.bottleneck.c_str());
    }

    // A 1 Mbit/s link carrying 64 floats and a 64-byte frame a step (320
    // bytes: 2.56 ms on the wire), stages of 1 ms, 4 in flight: the wire sets the pace.
    void aSlowLinkSetsThePace() {
        Topology t = nodes(Strategy::Pipeline, 2);
        t.links.push_back({"n0", "n1", {1.0, 3.0, 0}});
        const ModelConfig c = small_model(2);
        const Plan plan = make_plan(t, c, 4, 64);
        RunShape shape;
        shape.sequences = shape.in_flight = 4;
        shape.prompt_tokens = 1;
        shape.new_tokens = 2000;
        const Prediction p = predict_run(t, plan, c, {rates(1.0), rates(1.0)}, shape, 2);
        const double on_wire_ms = (64 * 4 + 64) * 8 / 1e3;
        QVERIFY2(std::abs(p.tokens_per_second - 1e3 / on_wire_ms) / (1e3 / on_wire_ms) < 2e-3,
                 qPrintable(QString::number(p.tokens_per_second)));
        QVERIFY2(p.bottleneck.find("the link n0 → n1") != std::string::npos, p.bottleneck.c_str());
        QCOMPARE(p.links[0].bytes_per_token, 320.0);
        QCOMPARE_LE(std::abs(p.links[0].ms_per_token - (3.0 + on_wire_ms)), 1e-9);
    }

    // Tensor parallel over two nodes 1 ms apart: every layer waits on two
    // all-reduces, and the head (split on one machine) on one more.
    void allReducesWaitOnTheLink() {
        Topology t = nodes(Strategy::Tensor, 2);
        for (auto& n : t.nodes) n.network.latency_ms = 0.5;  // 0.5 + 0.5 each way
        const ModelConfig c = small_model(3);
        const Plan plan = make_plan(t, c, 1, 64);
        RunShape shape;
        shape.prompt_tokens = 1;
        shape.new_tokens = 1000;
        const Prediction p = predict_run(t, plan, c, {rates(2.0, 1.0), rates(2.0, 1.0)}, shape, 2);
        const double one = kSharedMemoryHopMs + 1.0;  // both local: shared memory, plus the emulated latency
        QCOMPARE_LE(std::abs(p.nodes[0].all_reduce_ms - (2 * 3 * one + one + one)), 1e-9);  // + the relay to the follower
        QCOMPARE_LE(std::abs(p.nodes[0].compute_ms - (3 * 2.0 + 1.0)), 1e-9);
        QVERIFY2(p.bottleneck.find("all-reduce") != std::string::npos || p.bottleneck.find("round trip") != std::string::npos,
                 p.bottleneck.c_str());
    }

    // Ranks whose machine has a core each spin for partial sums (bench hop's
    // cost); where the run's threads outnumber the cores they are woken for
    // them, as a message between stages is (what runs here taught).
    void partialSumsAreWokenForWhenCoresAreTaken_data() {
        QTest::addColumn<int>("threads");
        QTest::addColumn<int>("cores");
        QTest::addColumn<bool>("woken");
        QTest::newRow("2 threads, 2 cores: spinning") << 1 << 2 << false;
        QTest::newRow("2 threads, 1 core: woken") << 1 << 1 << true;
        QTest::newRow("4 threads, 2 cores: woken") << 2 << 2 << true;
        QTest::newRow("4 threads, 8 cores: spinning") << 2 << 8 << false;
    }
    void partialSumsAreWokenForWhenCoresAreTaken() {
        QFETCH(int, threads);
        QFETCH(int, cores);
        QFETCH(bool, woken);
        QCOMPARE(partial_sum_wait(2 * threads, cores), woken ? PartialSumWait::Block : PartialSumWait::Spin);
        Topology t = nodes(Strategy::Tensor, 2);
        for (auto& n : t.nodes) n.threads = threads;
        const ModelConfig c = small_model(3);
        const Plan plan = make_plan(t, c, 1, 64);
        NodeRates r = rates(2.0, 1.0);
        r.shared_memory_hop_ms = 0.2;  // a woken receiver's hop, as a run taught
        RunShape shape;
        shape.prompt_tokens = 1;
        const Prediction p = predict_run(t, plan, c, {r, r}, shape, cores);
        const double one = woken ? 0.2 : kSharedMemoryHopMs;
        QCOMPARE_LE(std::abs(p.nodes[0].all_reduce_ms - (2 * 3 * one + one + 0.2)), 1e-9);  // layers, the head, the relay
    }

    // Two ranks here whose all-reduces took 0.4 ms over a link not
    // emulated, and 0.5 ms over an emulated one whose queue, wire and
    // latency came to 0.25 ms (rank 0, first there each time, 0.3 ms more:
    // rank 1's compute, not the partial sums): a partial sum takes 0.4 ms,
    // and 0.25 beyond an emulated link's own delay; the next prediction counts them for
    // each all-reduce (three layers twice, the head once) in place of the
    // transport's hop, over each kind of link.
    void allReducesTeachWhatAPartialSumTakes() {
        const Topology t = nodes(Strategy::Tensor, 2);
        const ModelConfig c = small_model(3);
        const Plan plan = make_plan(t, c, 1, 64);
        const std::vector<NodeRates> r(2, rates(2.0, 1.0));
        RunTrace trace;
        trace.nodes = {{"n0", 0, 0}, {"n1", 0, 1}};
        double at = 0;
        for (int step = 1; step <= 30; ++step) {
            for (int n = 0; n < 2; ++n) {
                TraceSpan compute;
                compute.node = n;
                compute.kind = SpanKind::Compute;
                compute.step = step;
                compute.group = 0;
                compute.layer_end = 3;
                compute.sequences = {0};
                compute.t0_us = at;
                compute.t1_us = at + 8e3;
                trace.spans.push_back(compute);
                for (int reduce = 0; reduce < 7; ++reduce) {
                    TraceSpan s = compute;
                    s.kind = SpanKind::AllReduce;
                    const bool emulated = step % 2 == 0;
                    s.t0_us = at + 1e3 * (reduce + 1);
                    s.t1_us = s.t0_us + (emulated ? 500 : 400) + (n == 0 ? 300 : 0);  // rank 0 came first: it waited for rank 1 too
                    if (emulated) s.emulated = EmulatedDelay{0, 50, 200};
                    trace.spans.push_back(s);
                }
            }
            at += 9e3;
        }
        const LearnedCosts learned = learn_costs(trace, t, plan, r, 2);
        QCOMPARE(learned.partial_sum_wait, PartialSumWait::Spin);
        QCOMPARE_LE(std::abs(*learned.partial_sum_ms - 0.4), 1e-9);
        QCOMPARE_LE(std::abs(*learned.emulated_partial_sum_ms - 0.25), 1e-9);

        RunShape shape;
        shape.prompt_tokens = 1;
        std::vector<NodeRates> taught = r;
        for (auto& one : taught) {
            one.partial_sum_ms = 0.4;
            one.emulated_partial_sum_ms = 0.25;
        }
        const double relay = kSharedMemoryHopMs;
        QCOMPARE_LE(std::abs(predict_run(t, plan, c, taught, shape, 2).nodes[0].all_reduce_ms - (7 * 0.4 + relay)), 1e-9);
        Topology slow = t;
        for (auto& n : slow.nodes) n.network = NodeNetwork{0, 0, 0.5, 0};  // 1 ms between the two
        const double relay_slow = relay + 1.0;
        QCOMPARE_LE(std::abs(predict_run(slow, plan, c, taught, shape, 2).nodes[0].all_reduce_ms - (7 * (0.25 + 1.0) + relay_slow)), 1e-9);
    }

    // The rule itself: cores not known (0) spin.
    void partialSumWaitFollowsTheCores() {
        QCOMPARE(partial_sum_wait(3, 0), PartialSumWait::Spin);
        QCOMPARE(partial_sum_wait(1, 1), PartialSumWait::Spin);
        QCOMPARE(partial_sum_wait(2, 1), PartialSumWait::Block);
    }

    // Sequences beyond the slots wait for one to finish: four sequences
    // through one slot take four times one sequence's time.
    void waitingSequencesRunAfterTheOthers() {
        const Topology t = nodes(Strategy::Pipeline, 1);
        const ModelConfig c = small_model(2);
        const Plan plan = make_plan(t, c, 1, 64);
        RunShape one;
        one.prompt_tokens = 1;
        one.new_tokens = 20;
        RunShape four = one;
        four.sequences = 4;
        const auto r = std::vector<NodeRates>{rates(1.0)};
        const Prediction a = predict_run(t, plan, c, r, one, 2), b = predict_run(t, plan, c, r, four, 2);
        QCOMPARE_LE(std::abs(b.wall_seconds - 4 * a.wall_seconds), 1e-9);
        // Mean first token: 0, 1, 2 and 3 sequences' time after the start, plus a step.
        QCOMPARE_LE(std::abs(b.first_token_ms - (1.5 * a.wall_seconds * 1e3 + a.first_token_ms)), 1e-6);
    }

    // The planner: a node twice as fast gets about twice the layers (the
    // head weighs little here); a memory limit caps a node's share.
    void layersFollowSpeedWithinMemory_data() {
        QTest::addColumn<double>("speed0");
        QTest::addColumn<double>("speed1");
        QTest::addColumn<int>("layers0");
        QTest::newRow("alike") << 1.0 << 1.0 << 6;
        QTest::newRow("twice as fast") << 2.0 << 1.0 << 8;
        QTest::newRow("a Pi beside a laptop") << 1.0 << 0.25 << 10;
        QTest::newRow("a Pi after a laptop") << 4.0 << 1.0 << 10;
        QTest::newRow("the faster second") << 1.0 << 4.0 << 2;
    }
    void layersFollowSpeedWithinMemory() {
        QFETCH(double, speed0);
        QFETCH(double, speed1);
        QFETCH(int, layers0);
        Topology t = nodes(Strategy::Pipeline, 2);
        t.nodes[0].speed = speed0;
        t.nodes[1].speed = speed1;
        const Plan plan = make_plan(t, small_model(12), 1, 64);
        QCOMPARE(plan.stages[0].layer_end, layers0);
    }
    void aMemoryLimitCapsAFastNode() {
        Topology t = nodes(Strategy::Pipeline, 2);
        t.nodes[1].speed = 4;  // would take 10 of the 12 layers
        const ModelConfig c = small_model(12);
        ShardSpec three;
        three.layer_begin = 9;
        three.layer_end = 12;
        three.embedding = false;
        t.nodes[1].memory_limit = shard_memory(c, three, 1, 64).total();  // holds 3 layers and the head, no more
        const Plan plan = make_plan(t, c, 1, 64);
        QCOMPARE(plan.stages[1].layer_begin, 9);
        // No split at all fits: refused, naming the node.
        t.nodes[0].memory_limit = t.nodes[1].memory_limit;
        EXPECT_ERROR(make_plan(t, c, 1, 64), "node 'n", "short");
    }

    // "speed" in the topology file, and its errors.
    void speedIsReadAndWritten() {
        const Topology t = parse_topology(R"({"nodes": [{"name": "pi", "speed": 0.25}, {"name": "pc"}]})");
        QCOMPARE(t.nodes[0].speed, 0.25);
        QCOMPARE(t.nodes[1].speed, 1.0);
        QCOMPARE(parse_topology(topology_to_json(t)).nodes[0].speed, 0.25);
        QVERIFY(!topology_json(t)["nodes"][1].contains("speed"));
        EXPECT_ERROR(parse_topology(R"({"nodes": [{"name": "pi", "speed": 0}]})"), "node 'pi'", "\"speed\"", "0.01 to 100");
        EXPECT_ERROR(parse_topology(R"({"nodes": [{"name": "pi", "speed": "fast"}]})"), "node 'pi'", "\"speed\"");
    }

    // strategy auto: one sequence on two nodes is fastest split by tensor
    // parallel (both compute every step); four sequences on four, by the
    // pipeline, once slow links make every all-reduce dear; the line says
    // what the best other would make and what holds it back.
    void autoPicksTheFastestStrategy_data() {
        QTest::addColumn<int>("nodes");
        QTest::addColumn<int>("sequences");
        QTest::addColumn<double>("link_ms");
        QTest::addColumn<QString>("chosen");
        QTest::newRow("one sequence, two nodes") << 2 << 1 << 0.0 << "tensor 2";
        QTest::newRow("four sequences, slow links") << 4 << 4 << 5.0 << "pipeline";
    }
    void autoPicksTheFastestStrategy() {
        QFETCH(int, nodes);
        QFETCH(int, sequences);
        QFETCH(double, link_ms);
        QFETCH(QString, chosen);
        ModelSource source;
        source.random_shape = "tiny";
        const OpenedModel model = open_model(source);
        Topology t = ::nodes(Strategy::Auto, nodes);
        for (auto& n : t.nodes) n.network.latency_ms = link_ms / 2;
        RunChoices choices;
        choices.prompts.assign(sequences, "hello");
        choices.max_new_tokens = 50;
        // Every rank's layer costs its share of the whole.
        const PlanRates rates = [](const Topology&, const Plan& plan) {
            std::vector<NodeRates> r;
            for (const auto& stage : plan.stages)
                for (std::size_t i = 0; i < stage.nodes.size(); ++i) r.push_back(::rates(4.0 / stage.tp_size, 1.0 / stage.tp_size));
            return r;
        };
        const StrategyChoice choice = choose_strategy(t, model, choices, 1, rates, 64);
        QCOMPARE(QString::fromStdString(strategy_label(choice.topology)), chosen);
        QVERIFY2(choice.why.starts_with(chosen.toStdString() + ": "), choice.why.c_str());
        QVERIFY2(choice.why.find("would make") != std::string::npos, choice.why.c_str());
        QCOMPARE(choice.setup.plan.stages.size(), std::size_t(choice.topology.stage_count()));
        // A planned topology is never auto; planning auto itself is refused, saying what to do.
        QVERIFY(choice.topology.strategy != Strategy::Auto);
        EXPECT_ERROR(make_plan(t, model.config, 1, 64), "strategy auto is chosen before planning");
    }
};

QTEST_GUILESS_MAIN(TestCostModel)
#include "test_cost_model.moc"
