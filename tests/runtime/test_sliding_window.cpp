// Generation past the context: a full window keeps its last tokens, feeds
// them again from position 0 and goes on; the shift happens at the same
// token on every topology, with real workers, and across a recovery.
#include "engine/local_engine.h"
#include "model/stage.h"
#include "model/stage_weights.h"
#include "plan/planner.h"
#include "plan/run_setup.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "sample/context_window.h"
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "trace/run_metrics.h"

#include <QTest>

#include <ATen/ops/from_blob.h>

#include <cmath>
#include <csignal>
#include <memory>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// Where each shift falls for a sequence: the window holds `context`
// positions; after a shift it holds `keep` tokens.
int shifts_for(int prompt, int new_tokens, int context, int keep) {
    int shifts = 0;
    for (int length = prompt + 1, dropped = 0; length < prompt + new_tokens; ++length)
        if (ContextWindow{context, keep}.full(length - 1 - dropped)) {
            dropped = length - keep;
            ++shifts;
        }
    return shifts;
}

}  // namespace

class TestSlidingWindow : public QObject {
    Q_OBJECT

    struct Case {
        ModelSource source;
        std::unique_ptr<OpenedModel> model;
        std::vector<std::vector<int>> prompts;
        GenerateOptions options;
        GenerationResult reference;  // the single process
    };
    std::map<QString, Case> cases;

    Topology topology(Strategy strategy, int nodes) const {
        Topology t;
        t.strategy = strategy;
        if (strategy == Strategy::Hybrid) t.tensor_parallel = 2;
        for (int i = 0; i < nodes; ++i) t.nodes.push_back({"n" + std::to_string(i), "local", 1, 0, WeightSource::Stream});
        return t;
    }

    RunResult run(const Case& c, const Topology& t, const std::function<void(const std::vector<TraceSpan>&)>& on_spans = {},
                  ClusterOptions o = {}) {
        const int slots = static_cast<int>(c.prompts.size());
        const int context = c.model->config.n_positions;
        Cluster cluster(t, o);
        cluster.configure(make_plan(t, c.model->config, slots, context), c.source, *c.model, slots, context);
        RunRequest r;
        r.prompts = c.prompts;
        r.options = c.options;
        r.on_spans = on_spans;
        return cluster.run(r);
    }

private Q_SLOTS:
    void initTestCase() {
        for (const char* name : {"shakespeare-char", "shakespeare-llama"}) {
            Case c;
            c.source.dir = std::string(DISTGPT_RESOURCES "/models/") + name;
            c.model = std::make_unique<OpenedModel>(open_model(c.source));
            for (const char* p : {"ROMEO:", "JULIET:\nO"}) c.prompts.push_back(c.model->tokenizer->encode(p));
            c.options.max_new_tokens = 3 * c.model->config.n_positions;  // three contexts' worth
            c.options.stop_at_eos = false;
            c.options.sampling.temperature = 0.8f;
            c.options.sampling.seed = 5;
            c.options.keep = 40;
            c.reference = LocalEngine(*c.model, 2, 2).generate(c.prompts, c.options);
            cases[name] = std::move(c);
        }
    }

    // The single process slides: every sequence makes all its tokens, shifting where the rule says.
    void theSingleProcessGoesPastTheContext() {
        for (auto& [name, c] : cases) {
            int expected = 0;
            for (std::size_t i = 0; i < c.prompts.size(); ++i) {
                QCOMPARE(static_cast<int>(c.reference.sequences[i].generated_ids.size()), c.options.max_new_tokens);
                QCOMPARE(c.reference.sequences[i].finish, FinishReason::Length);
                expected += shifts_for(static_cast<int>(c.prompts[i].size()), c.options.max_new_tokens, c.model->config.n_positions,
                                       c.options.keep);
            }
            QVERIFY(expected >= 3 * 2);  // three shifts a sequence
            QCOMPARE(c.reference.window_shifts, expected);
        }
    }

    // Pipeline 3, tensor 2 and hybrid 2x2 give the single process's tokens;
    // every node re-prefills at each shift, shown as its own span.
    void everyTopologyGivesTheSameTokens_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("strategy");
        QTest::addColumn<int>("nodes");
        for (const char* m : {"shakespeare-char", "shakespeare-llama"}) {
            QTest::addRow("%s, pipeline 3", m) << m << int(Strategy::Pipeline) << 3;
            QTest::addRow("%s, tensor 2", m) << m << int(Strategy::Tensor) << 2;
            QTest::addRow("%s, hybrid 2x2", m) << m << int(Strategy::Hybrid) << 4;
        }
    }
    void everyTopologyGivesTheSameTokens() {
        QFETCH(QString, model);
        QFETCH(int, strategy);
        QFETCH(int, nodes);
        const Case& c = cases.at(model);
        const RunResult r = run(c, topology(static_cast<Strategy>(strategy), nodes));
        QVERIFY2(r.error.empty(), r.error.c_str());
        for (std::size_t i = 0; i < c.prompts.size(); ++i) {
            QCOMPARE(r.sequences[i].generated_ids, c.reference.sequences[i].generated_ids);
            QCOMPARE(*r.sequences[i].finish, FinishReason::Length);
        }
        const RunMetrics m = run_metrics(r.trace);
        QCOMPARE(m.window_shifts, c.reference.window_shifts);
        QVERIFY(m.window_shift_ms > 0);
        std::vector<int> reprefills(nodes, 0);
        for (const auto& s : r.trace.spans)
            if (s.kind == SpanKind::WindowShift) ++reprefills[s.node];
        for (int n = 0; n < nodes; ++n) QVERIFY2(reprefills[n] >= 1, qPrintable(QString("node %1 never re-prefilled").arg(n)));
    }

    // A worker killed (-9) as the re-prefill passes through the pipeline:
    // the run re-plans and the text is the same to the token.
    void aWorkerKilledDuringTheReprefillRecovers() {
        const Case& c = cases.at("shakespeare-char");
        std::vector<std::unique_ptr<LocalWorker>> workers;
        Topology t;
        for (int i = 0; i < 3; ++i) {
            workers.push_back(std::make_unique<LocalWorker>("w" + std::to_string(i), 1, 0));
            t.nodes.push_back({"w" + std::to_string(i), workers.back()->endpoint(), 1, 0, WeightSource::Stream});
        }
        bool struck = false;
        // Stage 0 has re-prefilled; stage 1's part is next.
        auto on_spans = [&](const std::vector<TraceSpan>& spans) {
            for (const auto& s : spans)
                if (!struck && s.kind == SpanKind::WindowShift && s.node == 0) {
                    struck = true;
                    ::kill(workers[1]->pid(), SIGKILL);
                }
        };
        ClusterOptions o;
        o.liveness_ms = 1000;
        const RunResult r = run(c, t, on_spans, o);
        QVERIFY(struck);
        QVERIFY2(r.error.empty(), r.error.c_str());
        QCOMPARE(r.losses.size(), std::size_t(1));
        QVERIFY(!r.losses[0].recovery.empty());
        for (std::size_t i = 0; i < c.prompts.size(); ++i) QCOMPARE(r.sequences[i].generated_ids, c.reference.sequences[i].generated_ids);
    }

    // A rotary model's window slides: the kept keys move down the cache and
    // turn back. In a one-layer model a cached key depends only on its token
    // and position, so a slid window gives the logits a re-prefill of the
    // same tokens gives (to rounding); learned positions refuse to slide.
    void aSlidWindowIsARotaryReprefill() {
        QTemporaryDir dir;
        ModelConfig config = model_preset("llama-tiny");
        config.n_layer = 1;
        config.n_positions = 32;
        ModelSource source;
        source.dir = write_random_model(path_of(dir) / "llama", config, 41);
        const OpenedModel model = open_model(source);
        const int context = 16, keep = 6;
        auto stage = [&] { return Stage(load_stage_weights(*model.weights, model.config, ShardSpec::whole(model.config)), 1, context, 1); };
        auto ids = [](std::vector<int64_t> v) { return at::from_blob(v.data(), {static_cast<int64_t>(v.size())}, at::kLong).clone(); };
        std::vector<int64_t> full;
        for (int i = 0; i < context; ++i) full.push_back((i * 37 + 11) % config.vocab_size);
        const int64_t next = 123;

        Stage slid = stage();
        const Segment prefill{0, 0, context};
        slid.forward(ids(full), std::span(&prefill, 1));
        const ContextWindow window{context, keep};
        const Segment shift{0, keep - 1, 1, window.slide_from(context)};
        const at::Tensor a = slid.forward(ids({next}), std::span(&shift, 1));  // [1, V]

        Stage again = stage();
        std::vector<int64_t> kept(full.end() - (keep - 1), full.end());
        kept.push_back(next);
        const Segment reprefill{0, 0, keep};
        const at::Tensor b = again.forward(ids(kept), std::span(&reprefill, 1));  // [1, V]
        double diff = 0, scale = 0;
        for (int64_t i = 0; i < b.numel(); ++i) {
            diff = std::max(diff, static_cast<double>(std::abs(a.data_ptr<float>()[i] - b.data_ptr<float>()[i])));
            scale = std::max(scale, static_cast<double>(std::abs(b.data_ptr<float>()[i])));
        }
        QVERIFY2(diff <= 1e-4 * scale, qPrintable(QString("slid vs re-prefilled logits differ by %1 of %2").arg(diff).arg(scale)));

        const Case& gpt = cases.at("shakespeare-char");
        Stage learned(load_stage_weights(*gpt.model->weights, gpt.model->config, ShardSpec::whole(gpt.model->config)), 1, 16, 1);
        learned.forward(ids(std::vector<int64_t>(16, 5)), std::span(&prefill, 1));
        EXPECT_ERROR(learned.forward(ids({5}), std::span(&shift, 1)), "this model's positions are learned: re-prefill instead");
    }

    void keepOutOfRangeIsRefused_data() {
        QTest::addColumn<int>("keep");
        QTest::newRow("the whole context") << 128;
        QTest::newRow("beyond it") << 500;
        QTest::newRow("negative") << -3;
    }
    void keepOutOfRangeIsRefused() {
        QFETCH(int, keep);
        const Case& c = cases.at("shakespeare-char");
        RunChoices choices;
        choices.prompts = {"ROMEO:"};
        choices.max_new_tokens = 400;
        choices.keep = keep;
        EXPECT_ERROR(prepare_run(topology(Strategy::Pipeline, 2), *c.model, choices), "--keep " + std::to_string(keep) + " is out of range",
                     "1 to 127", "the context holds 128");
        GenerateOptions o = c.options;
        o.keep = keep;
        EXPECT_ERROR(LocalEngine(*c.model, 1, 1).generate({c.prompts[0]}, o), "--keep " + std::to_string(keep) + " is out of range");
    }
};

QTEST_GUILESS_MAIN(TestSlidingWindow)
#include "test_sliding_window.moc"
