// Correctness of the engine's pieces against each other: the KV cache against
// full recompute, tensor-parallel shards against the whole layer, a chain of
// pipeline stages against the whole model.
#include "model/model_fixtures.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

#include <QTest>

#include <ATen/ATen.h>

#include <barrier>
#include <thread>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// Sums the partial results of a tensor-parallel group of threads in rank
// order, so every rank ends with the same bits: the in-process twin of the
// ring all-reduce the runtime does over ZeroMQ.
class InProcessAllReduce {
public:
    explicit InProcessAllReduce(int size) : parts_(size), barrier_(size) {}
    void operator()(int rank, at::Tensor& partial) {
        parts_[rank] = partial.clone();
        barrier_.arrive_and_wait();
        at::Tensor sum = parts_[0].clone();
        for (std::size_t r = 1; r < parts_.size(); ++r) sum.add_(parts_[r]);
        barrier_.arrive_and_wait();
        partial.copy_(sum);
    }

private:
    std::vector<at::Tensor> parts_;
    std::barrier<> barrier_;
};

std::vector<int64_t> prompt(int n, int64_t offset = 3) {
    std::vector<int64_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back((offset + 7 * i * i + 3 * i) % 250);
    return ids;
}

}  // namespace

// Every test runs for each family's block: GPT-2's (LayerNorm, learned
// positions, GELU), LLaMA's (RMSNorm, rotary positions, grouped-query
// attention, SwiGLU, a separate head) and Qwen2's (the same with q/k/v
// biases and a tied head).
class TestModel : public QObject {
    Q_OBJECT
    ModelConfig config;
    std::unique_ptr<RandomModelSource> random;

    const RandomModelSource& source() const { return *random; }
    // Skips a test whose tensor-parallel degree this family's heads do not allow.
    bool splits(int k) const { return tensor_parallel_refusal(config, k).empty(); }

private Q_SLOTS:
    void initTestCase_data() {
        QTest::addColumn<QString>("shape");
        QTest::newRow("gpt2") << "";
        QTest::newRow("llama") << "llama-tiny";
        QTest::newRow("qwen2") << "qwen-tiny";
    }
    void initTestCase() { at::manual_seed(0); }
    void init() {
        QFETCH_GLOBAL(QString, shape);
        config = shape.isEmpty() ? small_config(4, 4, 64, 257, 128) : model_preset(shape.toStdString());
        config.n_layer = 4;
        random = std::make_unique<RandomModelSource>(config, 7);
    }

    // Greedy decode with the cache: at every step the logits match a full
    // forward over the whole sequence so far, and so do the tokens.
    void kvCacheDecodeEqualsFullRecompute() {
        Stage stage = make_stage(source(), config, ShardSpec::whole(config), 2);
        std::vector<int64_t> seq = prompt(9);
        Segment prefill{0, 0, static_cast<int>(seq.size())};
        at::Tensor logits = stage.forward(ids_of(seq), {&prefill, 1});  // [1, V]
        for (int step = 0; step < 24; ++step) {
            const Segment full{1, 0, static_cast<int>(seq.size())};
            const at::Tensor reference = stage.forward(ids_of(seq), {&full, 1});  // [1, V], recomputed in slot 1
            QVERIFY2(max_abs_diff(logits, reference) < 1e-4, ("step " + std::to_string(step)).c_str());
            const int64_t next = logits.argmax(-1).item<int64_t>();
            QCOMPARE(next, reference.argmax(-1).item<int64_t>());
            seq.push_back(next);
            std::vector<int64_t> one{next};
            const Segment decode{0, static_cast<int>(seq.size()) - 1, 1};
            logits = stage.forward(ids_of(one), {&decode, 1});
        }
    }

    // Several sequences of different lengths decoded in one batch give each
    // one the logits it gets alone.
    void batchedDecodeEqualsOneAtATime() {
        Stage batch = make_stage(source(), config, ShardSpec::whole(config), 3);
        Stage alone = make_stage(source(), config, ShardSpec::whole(config), 3);
        std::vector<std::vector<int64_t>> prompts = {prompt(5, 1), prompt(12, 2), prompt(2, 3)};
        std::vector<int64_t> all;
        std::vector<Segment> segments;
        for (int i = 0; i < 3; ++i) {
            all.insert(all.end(), prompts[i].begin(), prompts[i].end());
            segments.push_back({i, 0, static_cast<int>(prompts[i].size())});
            Segment s{i, 0, static_cast<int>(prompts[i].size())};
            alone.forward(ids_of(prompts[i]), {&s, 1});
        }
        batch.forward(ids_of(all), segments);
        for (int step = 0; step < 6; ++step) {
            std::vector<int64_t> next = {11 + step, 40 + step, 90 + step};
            std::vector<Segment> decode;
            for (int i = 0; i < 3; ++i) decode.push_back({i, static_cast<int>(prompts[i].size()) + step, 1});
            const at::Tensor together = batch.forward(ids_of(next), decode);  // [3, V]
            for (int i = 0; i < 3; ++i) {
                std::vector<int64_t> one{next[i]};
                const at::Tensor single = alone.forward(ids_of(one), {&decode[i], 1});  // [1, V]
                QVERIFY(at::equal(together[i], single[0]));                             // bit for bit, however sequences are grouped
            }
        }
    }

    void tensorParallelShardsSumToTheWholeLayer_data() {
        QTest::addColumn<int>("k");
        QTest::newRow("2 shards") << 2;
        QTest::newRow("4 shards") << 4;
    }
    void tensorParallelShardsSumToTheWholeLayer() {
        QFETCH(int, k);
        if (!splits(k)) QSKIP("this family's key/value heads do not split that many ways");
        Stage whole = make_stage(source(), config, layers(0, 4, false, false), 1);
        std::vector<Stage> shards;
        for (int r = 0; r < k; ++r) shards.push_back(make_stage(source(), config, layers(0, 4, false, false, r, k), 1));
        const at::Tensor x = at::randn({6, config.n_embd});  // [N, C]
        const Segment seg{0, 0, 6};
        for (int layer = 0; layer < 4; ++layer) {
            at::Tensor attn = at::zeros_like(x), mlp = at::zeros_like(x);
            for (auto& s : shards) {
                attn += s.attention_partial(layer, x, {&seg, 1});
                mlp += s.mlp_partial(layer, x);
            }
            QVERIFY(max_abs_diff(attn, whole.attention_partial(layer, x, {&seg, 1})) < 1e-5);
            QVERIFY(max_abs_diff(mlp, whole.mlp_partial(layer, x)) < 1e-5);
        }
    }

    // A shard holding the last two ranks of k (ranks 2 and 3 of 4; or 0 and 1
    // of 2 where the key/value heads split only two ways) computes each
    // rank's partial apart: its sum has the bits of the two one-rank shards'
    // partials added.
    void aShardOfSeveralRanksComputesEachRanksPartial() {
        const int k = splits(4) ? 4 : 2;
        std::vector<Stage> ones;
        for (int r = k - 2; r < k; ++r) ones.push_back(make_stage(source(), config, layers(0, 4, false, false, r, k), 1));
        ShardSpec two = layers(0, 4, false, false, k - 2, k);
        two.tp_ranks = 2;
        Stage both = make_stage(source(), config, two, 1);
        QCOMPARE(both.shard().describe(), "layers 0-3, tp " + std::to_string(k - 1) + "-" + std::to_string(k) + "/" + std::to_string(k));
        const at::Tensor x = at::randn({5, config.n_embd});  // [N, C]
        const Segment seg{0, 0, 5};
        for (int layer = 0; layer < 4; ++layer) {
            QVERIFY(at::equal(both.attention_partial(layer, x, {&seg, 1}),
                              ones[0].attention_partial(layer, x, {&seg, 1}) + ones[1].attention_partial(layer, x, {&seg, 1})));
            QVERIFY(at::equal(both.mlp_partial(layer, x), ones[0].mlp_partial(layer, x) + ones[1].mlp_partial(layer, x)));
        }
    }

    // A whole model run as a tensor-parallel group of k threads, each holding
    // 1/k of every layer, gives the single model's logits and greedy tokens.
    void tensorParallelModelMatchesTheWhole() {
        const int k = 2;
        Stage whole = make_stage(source(), config, ShardSpec::whole(config), 1);
        InProcessAllReduce all_reduce(k);
        std::vector<Stage> shards;
        for (int r = 0; r < k; ++r) {
            shards.push_back(make_stage(source(), config, layers(0, 4, true, true, r, k), 1, 1));
            shards.back().split_head_by_vocabulary(true);  // each its share of the head's rows
            shards.back().set_all_reduce([&all_reduce, r](std::span<const at::Tensor> partials, Stage::PartialSums) {
                at::Tensor t = partials[0].clone();  // [N, C]
                all_reduce(r, t);
                return t;
            });
        }
        std::vector<int64_t> seq = prompt(7);
        for (int step = 0; step < 12; ++step) {
            // Prefill first, then one token per step.
            std::vector<int64_t> input = step == 0 ? seq : std::vector<int64_t>{seq.back()};
            const Segment seg{0, step == 0 ? 0 : static_cast<int>(seq.size()) - 1, static_cast<int>(input.size())};
            std::vector<at::Tensor> out(k);
            std::vector<std::thread> threads;
            for (int r = 0; r < k; ++r) threads.emplace_back([&, r] { out[r] = shards[r].forward(ids_of(input), {&seg, 1}); });
            for (auto& t : threads) t.join();
            const at::Tensor reference = whole.forward(ids_of(input), {&seg, 1});
            QVERIFY(max_abs_diff(out[0], reference) < 1e-4);
            QVERIFY(at::equal(out[0], out[1]));  // every rank holds the same result
            const int64_t next = reference.argmax(-1).item<int64_t>();
            QCOMPARE(out[0].argmax(-1).item<int64_t>(), next);
            seq.push_back(next);
        }
    }

    // Pipeline stages, each passing its hidden states to the next, give the
    // whole model's logits bit for bit.
    void chainOfStagesEqualsTheWholeModelBitForBit() {
        Stage whole = make_stage(source(), config, ShardSpec::whole(config), 2);
        std::vector<Stage> chain;
        chain.push_back(make_stage(source(), config, layers(0, 1, true, false), 2));
        chain.push_back(make_stage(source(), config, layers(1, 3, false, false), 2));
        chain.push_back(make_stage(source(), config, layers(3, 4, false, true), 2));
        auto run_chain = [&](std::vector<int64_t>& ids, std::span<const Segment> segs) {
            at::Tensor x = ids_of(ids);
            for (auto& stage : chain) x = stage.forward(x, segs);
            return x;
        };
        std::vector<int64_t> a = prompt(6, 1), b = prompt(10, 2), both = a;
        both.insert(both.end(), b.begin(), b.end());
        std::vector<Segment> segs = {{0, 0, 6}, {1, 0, 10}};
        QVERIFY(at::equal(run_chain(both, segs), whole.forward(ids_of(both), segs)));
        for (int step = 0; step < 8; ++step) {
            std::vector<int64_t> next = {5 + step, 77 + step};
            std::vector<Segment> decode = {{0, 6 + step, 1}, {1, 10 + step, 1}};
            QVERIFY(at::equal(run_chain(next, decode), whole.forward(ids_of(next), decode)));
        }
    }

    void refusesImpossibleShards() {
        EXPECT_ERROR(load_stage_weights(source(), config, layers(0, 5, true, true)), "does not fit a model of 4 layers");
        EXPECT_ERROR(load_stage_weights(source(), config, layers(0, 4, true, true, 0, 3)),
                     "does not divide the model's " + std::to_string(config.n_head) + " attention heads");
        Stage stage = make_stage(source(), config, ShardSpec::whole(config), 1);
        std::vector<int64_t> ids = {1, 2};
        const Segment too_far{0, 127, 2};
        EXPECT_ERROR(stage.forward(ids_of(ids), {&too_far, 1}), "do not fit the context of 128");
        const Segment bad_slot{3, 0, 2};
        EXPECT_ERROR(stage.forward(ids_of(ids), {&bad_slot, 1}), "slot 3");
        std::vector<int64_t> out_of_vocab = {1, 999};
        const Segment ok{0, 0, 2};
        EXPECT_ERROR(stage.forward(ids_of(out_of_vocab), {&ok, 1}), "token id 999");
    }
};

QTEST_GUILESS_MAIN(TestModel)
#include "test_model.moc"
