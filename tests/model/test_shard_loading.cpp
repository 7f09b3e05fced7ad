// Loading real checkpoint folders: the Hugging Face layouts and dtypes, a
// config that lies, and a stage touching only its own tensors' pages.
#include "engine/model_source.h"
#include "model/model_fixtures.h"
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"
#include "weights/buffer_tensor_source.h"
#include "weights/checkpoint_layout.h"
#include "weights/hf_model_writer.h"
#include "weights/quantized_tensors.h"
#include "weights/tensor_parallel_slice.h"

#include <QTest>

#include <ATen/ATen.h>

#include <fstream>
#include <malloc.h>
#include <unistd.h>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// Rewrites dir/model.safetensors tensor by tensor: new names, new dtype.
void rewrite_checkpoint(const std::filesystem::path& dir, const std::function<std::string(const std::string&)>& rename,
                        at::ScalarType dtype) {
    std::vector<at::Tensor> keep;
    std::vector<TensorToWrite> out;
    {
        SafetensorsCheckpoint in(dir);
        for (const auto& name : in.names()) {
            const TensorView v = in.get(name);
            // clone: the file is unmapped before it is rewritten
            at::Tensor t = at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::kFloat).clone().to(dtype);
            keep.push_back(t);
            const DType d = dtype == at::kHalf ? DType::F16 : dtype == at::kBFloat16 ? DType::BF16 : DType::F32;
            out.push_back({{rename(name), d, v.shape}, t.data_ptr()});
        }
    }
    write_safetensors(dir / "model.safetensors", out);
}

at::Tensor logits_of(const TensorSource& source, const ModelConfig& config) {
    Stage stage = make_stage(source, config, ShardSpec::whole(config), 1);
    std::vector<int64_t> ids = {3, 14, 15, 92, 65, 35};
    const Segment seg{0, 0, 6};
    return stage.forward(ids_of(ids), {&seg, 1}, LogitRows::All);  // [6, V]
}

int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

class TestShardLoading : public QObject {
    Q_OBJECT
    const ModelConfig config = small_config(3, 4, 64, 257, 64);

private Q_SLOTS:
    // The writer's folder loads through the same path as any downloaded
    // model, to the same bits as the weights it was written from.
    void writtenFolderLoadsToTheSameBits() {
        QTemporaryDir dir;
        write_random_model(path_of(dir), config, 5);
        QVERIFY(std::filesystem::exists(path_of(dir) / "config.json"));
        QVERIFY(std::filesystem::exists(path_of(dir) / "vocab.json"));
        QVERIFY(std::filesystem::exists(path_of(dir) / "merges.txt"));
        SafetensorsCheckpoint checkpoint(path_of(dir));
        QVERIFY(checkpoint.contains("transformer.h.0.attn.c_attn.weight"));                                     // save_pretrained's names
        QCOMPARE(checkpoint.get("transformer.h.0.attn.c_attn.weight").shape, (std::vector<int64_t>{64, 192}));  // Conv1D [in, out]
        QVERIFY(at::equal(logits_of(checkpoint, read_model_config(path_of(dir))), logits_of(RandomModelSource(config, 5), config)));
    }

    // The hub's own gpt2 files have no "transformer." prefix.
    void namesWithoutPrefixLoad() {
        QTemporaryDir dir;
        write_random_model(path_of(dir), config, 5);
        rewrite_checkpoint(
            path_of(dir), [](const std::string& n) { return n.substr(std::string("transformer.").size()); }, at::kFloat);
        SafetensorsCheckpoint checkpoint(path_of(dir));
        QVERIFY(checkpoint.contains("h.0.attn.c_attn.weight"));
        QVERIFY(at::equal(logits_of(checkpoint, config), logits_of(RandomModelSource(config, 5), config)));
    }

    // F16 and BF16 checkpoints load to exactly the fp32 values they hold.
    void halfPrecisionCheckpointsLoad_data() {
        QTest::addColumn<int>("dtype");
        QTest::newRow("F16") << static_cast<int>(at::kHalf);
        QTest::newRow("BF16") << static_cast<int>(at::kBFloat16);
    }
    void halfPrecisionCheckpointsLoad() {
        QFETCH(int, dtype);
        const auto type = static_cast<at::ScalarType>(dtype);
        QTemporaryDir half, rounded;
        write_random_model(path_of(half), config, 5);
        write_random_model(path_of(rounded), config, 5);
        rewrite_checkpoint(
            path_of(half), [](const std::string& n) { return n; }, type);
        QCOMPARE(SafetensorsCheckpoint(path_of(half)).get("transformer.wte.weight").nbytes, size_t(257 * 64 * 2));
        // The same values, rounded through the half type but stored as F32.
        std::vector<at::Tensor> keep;
        std::vector<TensorToWrite> out;
        {
            SafetensorsCheckpoint in(path_of(rounded));
            for (const auto& name : in.names()) {
                const TensorView v = in.get(name);
                keep.push_back(at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::kFloat).to(type).to(at::kFloat).contiguous());
                out.push_back({{name, DType::F32, v.shape}, keep.back().data_ptr()});
            }
        }
        write_safetensors(path_of(rounded) / "model.safetensors", out);
        const at::Tensor want = logits_of(SafetensorsCheckpoint(path_of(rounded)), config);
        QVERIFY(at::equal(logits_of(SafetensorsCheckpoint(path_of(half)), config), want));
        // Opened as a model, it stays in its 16 bits: half the bytes in memory, the same logits.
        ModelSource source;
        source.dir = path_of(half);
        const OpenedModel m = open_model(source);
        const WeightFormat format = type == at::kHalf ? WeightFormat::F16 : WeightFormat::BF16;
        QCOMPARE(m.weight_format, format);
        StageWeights held = load_stage_weights(*m.weights, m.config, ShardSpec::whole(m.config), m.weight_format);
        QCOMPARE(held.layers[0].qkv_w.values.scalar_type(), type);
        QCOMPARE(held.wte.values.scalar_type(), type);
        QCOMPARE(held.layers[0].qkv_b.scalar_type(), at::kFloat);  // vectors stay fp32
        const int64_t fp32_bytes = load_stage_weights(*m.weights, m.config, ShardSpec::whole(m.config)).bytes();
        QVERIFY(held.bytes() < fp32_bytes * 51 / 100);
        Stage stage(std::move(held), 1, config.n_positions, 1);
        std::vector<int64_t> ids = {3, 14, 15, 92, 65, 35};
        const Segment seg{0, 0, 6};
        const at::Tensor got = stage.forward(ids_of(ids), {&seg, 1}, LogitRows::All);  // [6, V]
        // Each format's kernel sums in its own fixed order: the same values, not always the same last bits.
        QVERIFY2(at::allclose(got, want, 0, 1e-4), qPrintable(QString::number((got - want).abs().max().item<double>())));
    }

    // What the controller streams to a tensor-parallel shard (only its ranks'
    // slices) loads to the very weights that shard cuts from the whole checkpoint.
    void slicesStreamedToARankLoadAsCutOnLoad_data() {
        QTest::addColumn<QString>("shape");  // "" = this test's GPT-2
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("ranks");
        QTest::addColumn<int>("held");  // ranks per shard
        QTest::newRow("F32, 2 ranks") << "" << static_cast<int>(at::kFloat) << 2 << 1;
        QTest::newRow("F32, 4 ranks") << "" << static_cast<int>(at::kFloat) << 4 << 1;
        QTest::newRow("F16, 2 ranks") << "" << static_cast<int>(at::kHalf) << 2 << 1;
        QTest::newRow("F32, 4 ranks, 2 per shard") << "" << static_cast<int>(at::kFloat) << 4 << 2;
        QTest::newRow("llama GQA, 2 ranks") << "llama-tiny" << static_cast<int>(at::kFloat) << 2 << 1;
        QTest::newRow("llama GQA, BF16, 2 ranks, 2 per shard") << "llama-tiny" << static_cast<int>(at::kBFloat16) << 2 << 2;
        QTest::newRow("qwen2 biases, 2 ranks") << "qwen-tiny" << static_cast<int>(at::kFloat) << 2 << 1;
        QTest::newRow("F16, 4 ranks, 4 per shard") << "" << static_cast<int>(at::kHalf) << 4 << 4;
    }
    void slicesStreamedToARankLoadAsCutOnLoad() {
        QFETCH(QString, shape);
        QFETCH(int, dtype);
        QFETCH(int, ranks);
        QFETCH(int, held);
        const ModelConfig shaped = shape.isEmpty() ? this->config : model_preset(shape.toStdString());
        QTemporaryDir dir;
        write_random_model(path_of(dir), shaped, 5);
        if (dtype != static_cast<int>(at::kFloat))
            rewrite_checkpoint(
                path_of(dir), [](const std::string& n) { return n; }, static_cast<at::ScalarType>(dtype));
        const SafetensorsCheckpoint whole(path_of(dir));
        for (int rank = 0; rank < ranks; rank += held) {
            ShardSpec cut_here{1, 3, false, true, rank, ranks};
            cut_here.tp_ranks = held;
            BufferTensorSource sliced;
            int64_t sent = 0;
            for (const auto& t : CheckpointLayout(shaped).shard(1, 3, false, true)) {
                if (rank > 0 && t.cut == TensorParallelCut::RankZeroOnly) continue;
                const TensorView v = whole.get(t.name);
                const TensorSlice slice = slice_for_ranks(v, t.cut, rank, held, ranks);
                sliced.add_chunk(t.name, v.dtype, slice.shape, 0, slice.bytes.size(), slice.bytes.data(), slice.bytes.size());
                sent += static_cast<int64_t>(slice.bytes.size());
            }
            ShardSpec cut_before = cut_here;
            cut_before.sliced_source = true;
            const StageWeights a = load_stage_weights(whole, shaped, cut_here);
            const StageWeights b = load_stage_weights(sliced, shaped, cut_before);
            QCOMPARE(a.bytes(), b.bytes());
            if (dtype == static_cast<int>(at::kFloat)) QCOMPARE(sent, a.bytes());  // exactly the shard, nothing more
            QCOMPARE(a.layers.size(), b.layers.size());
            for (std::size_t l = 0; l < a.layers.size(); ++l) {
                const auto& x = a.layers[l];
                const auto& y = b.layers[l];
                for (auto [p, q] : {std::pair{&x.qkv_b, &y.qkv_b},
                                    {&x.attn_out_b, &y.attn_out_b},
                                    {&x.up_b, &y.up_b},
                                    {&x.down_b, &y.down_b},
                                    {&x.attn_norm_w, &y.attn_norm_w}}) {
                    QCOMPARE(p->defined(), q->defined());
                    if (p->defined()) QVERIFY(at::equal(*p, *q));
                }
                for (auto [p, q] :
                     {std::pair{&x.qkv_w, &y.qkv_w}, {&x.attn_out_w, &y.attn_out_w}, {&x.up_w, &y.up_w}, {&x.down_w, &y.down_w}})
                    QVERIFY(at::equal(p->values, q->values));
            }
        }
    }

    // `quantize` writes codes and scales that load to exactly the blocks a
    // stage makes when it quantizes the original on load: a quantized folder
    // is the same model, a quarter or an eighth of the bytes.
    void aQuantizedFolderLoadsToItsOwnBlocks_data() {
        QTest::addColumn<QString>("shape");
        QTest::addColumn<int>("format");
        QTest::addColumn<int>("ranks");  // tensor-parallel ranks the stage is one of
        QTest::newRow("gpt2 (Conv1D), q8") << "" << int(WeightFormat::Q8) << 1;
        QTest::newRow("gpt2 (Conv1D), q4") << "" << int(WeightFormat::Q4) << 1;
        QTest::newRow("gpt2, q4, rank 1 of 2") << "" << int(WeightFormat::Q4) << 2;
        QTest::newRow("llama GQA, q8") << "llama-tiny" << int(WeightFormat::Q8) << 1;
        QTest::newRow("llama GQA, q4") << "llama-tiny" << int(WeightFormat::Q4) << 1;
        QTest::newRow("qwen2 biases, bf16 written") << "qwen-tiny" << int(WeightFormat::BF16) << 1;
    }
    void aQuantizedFolderLoadsToItsOwnBlocks() {
        QFETCH(QString, shape);
        QFETCH(int, format);
        QFETCH(int, ranks);
        const auto f = static_cast<WeightFormat>(format);
        const ModelConfig shaped = shape.isEmpty() ? this->config : model_preset(shape.toStdString());
        QTemporaryDir original, quantized;
        write_random_model(path_of(original), shaped, 5);
        ModelSource from;
        from.dir = path_of(original);
        const OpenedModel m = open_model(from);
        write_hf_model_folder(path_of(quantized), m.config, *m.weights, *m.tokenizer, f);
        const auto size = [](const QTemporaryDir& d) { return std::filesystem::file_size(path_of(d) / "model.safetensors"); };
        QVERIFY(size(quantized) < size(original) * (is_block_format(f) ? bytes_per_weight(f) / 4 + 0.02 : 0.51));
        ModelSource again;
        again.dir = path_of(quantized);
        const OpenedModel q = open_model(again);
        QCOMPARE(q.weight_format, f);  // held as stored
        for (const auto& n : q.weights->names()) QVERIFY(!n.ends_with("_scale"));
        const ShardSpec shard{0, shaped.n_layer, true, true, ranks - 1, ranks};
        const StageWeights a = load_stage_weights(*m.weights, m.config, shard, f);
        const StageWeights b = load_stage_weights(*q.weights, q.config, shard, f);
        QCOMPARE(a.bytes(), b.bytes());
        auto same = [](const HeldMatrix& x, const HeldMatrix& y) {
            return x.format == y.format && x.segments == y.segments && at::equal(x.values, y.values);
        };
        QVERIFY(same(a.wte, b.wte));
        for (std::size_t l = 0; l < a.layers.size(); ++l)
            for (auto [x, y] : {std::pair{&a.layers[l].qkv_w, &b.layers[l].qkv_w},
                                {&a.layers[l].attn_out_w, &b.layers[l].attn_out_w},
                                {&a.layers[l].up_w, &b.layers[l].up_w},
                                {&a.layers[l].down_w, &b.layers[l].down_w}})
                QVERIFY2(same(*x, *y), ("layer " + std::to_string(l)).c_str());
        // And it runs: the same logits from either.
        std::vector<int64_t> ids = {3, 14, 15, 92, 65, 35};
        const Segment seg{0, 0, 6};
        Stage sa(load_stage_weights(*m.weights, m.config, ShardSpec::whole(m.config), f), 1, 64, 1);
        Stage sb(load_stage_weights(*q.weights, q.config, ShardSpec::whole(q.config), f), 1, 64, 1);
        QVERIFY(at::equal(sa.forward(ids_of(ids), {&seg, 1}, LogitRows::All), sb.forward(ids_of(ids), {&seg, 1}, LogitRows::All)));
    }

    // Codes that do not fit the config are named, with what to do.
    void aQuantizedTensorOfTheWrongShapeIsNamed() {
        QTemporaryDir original, quantized;
        write_random_model(path_of(original), config, 5);
        ModelSource from;
        from.dir = path_of(original);
        const OpenedModel m = open_model(from);
        write_hf_model_folder(path_of(quantized), m.config, *m.weights, *m.tokenizer, WeightFormat::Q8);
        ModelConfig wider = config;
        wider.n_inner = 4 * 64 + 32;  // the MLP the config claims is wider than its codes
        const SafetensorsCheckpoint file(path_of(quantized));
        const QuantizedTensors source(file, wider);
        EXPECT_ERROR(source.get("transformer.h.0.mlp.c_fc.weight"), "transformer.h.0.mlp.c_fc.weight", "q8", "quantize the model again");
    }

    void aTensorThatDoesNotSplitIsNamed() {
        const std::vector<float> values(6 * 10);
        TensorView v{"transformer.h.0.mlp.c_fc.weight",
                     DType::F32,
                     {6, 10},
                     reinterpret_cast<const std::byte*>(values.data()),
                     values.size() * 4,
                     "model.safetensors"};
        const std::string error = error_of([&] { slice_for_ranks(v, TensorParallelCut::LastDim, 0, 1, 4); });
        QVERIFY2(
            contains_all(error, {"transformer.h.0.mlp.c_fc.weight", "[6, 10]", "does not split by columns", "4 tensor-parallel ranks"}),
            error.c_str());
    }

    void configThatDoesNotMatchItsTensorsIsNamed() {
        QTemporaryDir dir;
        write_random_model(path_of(dir), config, 5);
        ModelConfig lying = config;
        lying.n_embd = 128;
        write_model_config(path_of(dir), lying);
        EXPECT_ERROR(logits_of(SafetensorsCheckpoint(path_of(dir)), read_model_config(path_of(dir))), "model.safetensors",
                     "transformer.wte.weight", "config and weights do not match");
    }

    void missingTensorIsNamed() {
        QTemporaryDir dir;
        write_random_model(path_of(dir), config, 5);
        rewrite_checkpoint(
            path_of(dir), [](const std::string& n) { return n == "transformer.h.2.mlp.c_fc.bias" ? "junk" : n; }, at::kFloat);
        EXPECT_ERROR(logits_of(SafetensorsCheckpoint(path_of(dir)), config), "model.safetensors", "transformer.h.2.mlp.c_fc.bias");
    }

    void integerWeightsAreRefused() {
        QTemporaryDir dir;
        const int64_t data[4] = {1, 2, 3, 4};
        write_safetensors(path_of(dir) / "model.safetensors", {{{"wte.weight", DType::I64, {2, 2}}, data}});
        EXPECT_ERROR(logits_of(SafetensorsCheckpoint(path_of(dir)), config), "'wte.weight'", "dtype I64");
    }

    // A process running layers 0-2 of 12 grows by about those layers: it
    // neither copies nor keeps resident the pages of the other nine.
    void aStageTouchesOnlyItsOwnTensors() {
        const ModelConfig big = small_config(12, 8, 256, 1024, 64);
        QTemporaryDir dir;
        write_random_model(path_of(dir), big, 3);
        const int64_t layer_bytes = big.params_per_layer() * 4;  // 3.2 MB
        SafetensorsCheckpoint checkpoint(path_of(dir));
        // Memory the tests before this one freed would be reused without
        // growing the RSS: hand it back first.
        malloc_trim(0);
        const int64_t before = resident_bytes();
        StageWeights shard = load_stage_weights(checkpoint, big, layers(0, 3, false, false));
        const int64_t grown = resident_bytes() - before;
        QCOMPARE(shard.bytes(), 3 * layer_bytes);
        qInfo("layers 0-2 of 12: RSS grew %.1f MB for %.1f MB of weights (whole model: %.1f MB)", grown / 1e6, 3 * layer_bytes / 1e6,
              12 * layer_bytes / 1e6);
        QVERIFY2(grown < 5 * layer_bytes, ("RSS grew " + std::to_string(grown) + " bytes").c_str());
        QVERIFY2(grown > 2 * layer_bytes, "the shard's own weights should be resident");
    }
};

QTEST_GUILESS_MAIN(TestShardLoading)
#include "test_shard_loading.moc"
