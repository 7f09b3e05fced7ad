// The LLaMA family: config.json as Llama, Mistral and Qwen2 folders give it,
// the published shapes, Hugging Face folders written and read back, and the
// engine's logits against an independent reference written from the papers
// and Hugging Face's config semantics (plain loops in double, reading the
// folder's tensors by their Hugging Face names; nothing of the engine's).
#include "engine/model_source.h"
#include "model/model_fixtures.h"
#include "sample/stop_rule.h"
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "weights/model_config.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"

#include <QTest>

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// A LLaMA-family forward over one whole sequence, from the definitions:
// RMSNorm (Zhang & Sennrich 2019), rotary embedding in Hugging Face's
// rotate-half layout (Su et al. 2021), grouped-query attention (Ainslie et
// al. 2023), SwiGLU (Shazeer 2020), Llama 3.1's rope_scaling rule as
// Hugging Face's config documents it.
class ReferenceLlama {
public:
    ReferenceLlama(const std::filesystem::path& dir, const ModelConfig& c) : file_(dir), c_(c) {}

    // logits [T][V] of every position of `ids`.
    std::vector<std::vector<double>> forward(const std::vector<int64_t>& ids) const {
        const int T = static_cast<int>(ids.size()), C = c_.n_embd, H = c_.n_head, KV = c_.kv_heads(), D = c_.head_dim();
        std::vector<std::vector<double>> x(T);
        const auto embed = matrix("model.embed_tokens.weight");
        for (int t = 0; t < T; ++t) x[t] = embed[ids[t]];
        for (int l = 0; l < c_.n_layer; ++l) {
            const std::string p = "model.layers." + std::to_string(l) + ".";
            std::vector<std::vector<double>> q(T), k(T), v(T), attended(T);
            for (int t = 0; t < T; ++t) {
                const auto h = rms(x[t], vec(p + "input_layernorm.weight"));
                q[t] = project(p + "self_attn.q_proj", h, c_.qkv_bias);
                k[t] = project(p + "self_attn.k_proj", h, c_.qkv_bias);
                v[t] = project(p + "self_attn.v_proj", h, c_.qkv_bias);
                rotate(q[t], H, t);
                rotate(k[t], KV, t);
            }
            for (int t = 0; t < T; ++t) {
                attended[t].assign(H * D, 0.0);
                for (int h = 0; h < H; ++h) {
                    const int g = h / (H / KV);  // the key/value head this query head reads
                    std::vector<double> score(t + 1);
                    double top = -1e300, total = 0;
                    for (int s = 0; s <= t; ++s) {
                        double dot = 0;
                        for (int d = 0; d < D; ++d) dot += q[t][h * D + d] * k[s][g * D + d];
                        score[s] = dot / std::sqrt(double(D));
                        top = std::max(top, score[s]);
                    }
                    for (int s = 0; s <= t; ++s) total += score[s] = std::exp(score[s] - top);
                    for (int s = 0; s <= t; ++s)
                        for (int d = 0; d < D; ++d) attended[t][h * D + d] += score[s] / total * v[s][g * D + d];
                }
            }
            for (int t = 0; t < T; ++t) {
                add(x[t], project(p + "self_attn.o_proj", attended[t], c_.out_bias));
                const auto h = rms(x[t], vec(p + "post_attention_layernorm.weight"));
                auto gate = project(p + "mlp.gate_proj", h, c_.mlp_bias);
                const auto up = project(p + "mlp.up_proj", h, c_.mlp_bias);
                for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];  // silu(g)·u
                add(x[t], project(p + "mlp.down_proj", gate, c_.mlp_bias));
            }
        }
        const auto head = matrix(c_.tied_head ? "model.embed_tokens.weight" : "lm_head.weight");
        std::vector<std::vector<double>> logits(T);
        for (int t = 0; t < T; ++t) {
            const auto h = rms(x[t], vec("model.norm.weight"));
            for (const auto& row : head) {
                double dot = 0;
                for (int i = 0; i < C; ++i) dot += row[i] * h[i];
                logits[t].push_back(dot);
            }
        }
        return logits;
    }

private:
    std::vector<double> vec(const std::string& name) const {
        const TensorView v = file_.get(name);
        const auto* f = reinterpret_cast<const float*>(v.data);
        return {f, f + v.numel()};
    }
    std::vector<std::vector<double>> matrix(const std::string& name) const {
        const TensorView v = file_.get(name);
        const auto* f = reinterpret_cast<const float*>(v.data);
        std::vector<std::vector<double>> rows(v.shape[0]);
        for (int64_t r = 0; r < v.shape[0]; ++r) rows[r].assign(f + r * v.shape[1], f + (r + 1) * v.shape[1]);
        return rows;
    }
    // nn.Linear: y = W x (+ b), W stored [out, in].
    std::vector<double> project(const std::string& name, const std::vector<double>& in, bool bias) const {
        const auto w = matrix(name + ".weight");
        std::vector<double> y(w.size(), 0.0);
        for (std::size_t o = 0; o < w.size(); ++o)
            for (std::size_t i = 0; i < in.size(); ++i) y[o] += w[o][i] * in[i];
        if (bias) add(y, vec(name + ".bias"));
        return y;
    }
    std::vector<double> rms(const std::vector<double>& x, const std::vector<double>& w) const {
        double mean = 0;
        for (double v : x) mean += v * v / x.size();
        std::vector<double> y(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(mean + c_.norm_eps) * w[i];
        return y;
    }
    static void add(std::vector<double>& x, const std::vector<double>& y) {
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    }
    double frequency(int i) const {
        const int D = c_.head_dim();
        const double f = std::pow(c_.rope.theta, -2.0 * i / D);
        const RopeSettings& r = c_.rope;
        if (r.scaling == RopeScaling::Linear) return f / r.factor;
        if (r.scaling != RopeScaling::Llama3) return f;
        const double wavelength = 2 * std::numbers::pi / f;
        const double ratio = r.original_max_positions / wavelength;  // turns within the original context
        if (ratio < r.low_freq_factor) return f / r.factor;          // slow: stretched
        if (ratio > r.high_freq_factor) return f;                    // fast: kept
        const double smooth = (ratio - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        return (1 - smooth) * f / r.factor + smooth * f;
    }
    // Each head's dimension i pairs with i + D/2 (rotate_half).
    void rotate(std::vector<double>& x, int heads, int pos) const {
        const int D = c_.head_dim(), half = D / 2;
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < half; ++i) {
                const double angle = pos * frequency(i), a = x[h * D + i], b = x[h * D + i + half];
                x[h * D + i] = a * std::cos(angle) - b * std::sin(angle);
                x[h * D + i + half] = b * std::cos(angle) + a * std::sin(angle);
            }
    }

    SafetensorsCheckpoint file_;
    ModelConfig c_;
};

// GPT-2's initialisation leaves attention nearly uniform, which would hide a
// wrong rotation: sharpen it, so every position's angle shows in the logits.
void sharpen(const std::filesystem::path& dir) {
    std::vector<at::Tensor> keep;
    std::vector<TensorToWrite> out;
    {
        SafetensorsCheckpoint in(dir);
        for (const auto& name : in.names()) {
            const TensorView v = in.get(name);
            const bool query_or_key = name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos;
            const double scale = query_or_key                                                                                  ? 12.0
                                 : name.find("embed_tokens") != std::string::npos || name.find("lm_head") != std::string::npos ? 20.0
                                                                                                                               : 1.0;
            keep.push_back(at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::kFloat).mul(scale).contiguous());
            out.push_back({{name, DType::F32, v.shape}, keep.back().data_ptr()});
        }
    }
    write_safetensors(dir / "model.safetensors", out);
}

ModelConfig shape_of(const QString& row) {
    ModelConfig c = model_preset(row.startsWith("qwen") ? "qwen-tiny" : "llama-tiny");
    if (row.contains("llama3 rope")) {
        c.rope.scaling = RopeScaling::Llama3;
        c.rope.factor = 8;
        c.rope.low_freq_factor = 1;
        c.rope.high_freq_factor = 4;
        c.rope.original_max_positions = 32;
    }
    if (row.contains("linear rope")) {
        c.rope.scaling = RopeScaling::Linear;
        c.rope.factor = 4;
    }
    if (row.contains("mistral")) c.model_type = "mistral";
    if (row.contains("no GQA")) c.n_kv_head = c.n_head;
    if (row.contains("biases")) c.qkv_bias = c.out_bias = c.mlp_bias = true;  // Llama's attention_bias and mlp_bias
    return c;
}

}  // namespace

class TestLlama : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsPublishedConfigs_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("preset");  // the shape it matches, or ""
        QTest::addColumn<int>("positions");
        QTest::addColumn<int>("eos_ids");
        QTest::newRow("TinyLlama-1.1B") << R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1,
            "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632,
            "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22,
            "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
            "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.35.0", "use_cache": true,
            "vocab_size": 32000})"
                                        << "tinyllama-1.1b" << 2048 << 1;
        QTest::newRow("SmolLM2-135M") << R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
            "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576, "initializer_range": 0.041666666666666664,
            "intermediate_size": 1536, "is_llama_config": true, "max_position_embeddings": 8192, "model_type": "llama",
            "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
            "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true,
            "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 49152})"
                                      << "smollm2-135m" << 8192 << 1;
        QTest::newRow("Llama-3.2-1B") << R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu",
            "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072,
            "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
            "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
            "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0,
            "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 128256})"
                                      << "llama-3.2-1b" << 131072 << 3;
        QTest::newRow("Qwen2.5-0.5B") << R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
            "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
            "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
            "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
            "use_sliding_window": false, "vocab_size": 151936})"
                                      << "qwen2.5-0.5b" << 32768 << 1;
        QTest::newRow("OpenLLaMA-3B") << R"({"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": 3200, "initializer_range": 0.02, "intermediate_size": 8640,
            "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 26,
            "pad_token_id": 0, "rms_norm_eps": 1e-06, "tie_word_embeddings": false, "torch_dtype": "float16",
            "use_cache": true, "vocab_size": 32000})"
                                      << "openllama-3b" << 2048 << 1;
        // Mistral's sliding window of 4096 bounds the context held, so attention stays exact.
        QTest::newRow("Mistral-7B-v0.1") << R"({"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
            "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
            "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000})"
                                         << "" << 4096 << 1;
    }
    void readsPublishedConfigs() {
        QFETCH(QString, json);
        QFETCH(QString, preset);
        QFETCH(int, positions);
        QFETCH(int, eos_ids);
        const ModelConfig c = parse_model_config(json.toStdString(), "config.json");
        QCOMPARE(c.family, ModelFamily::Llama);
        QCOMPARE(c.n_positions, positions);
        QCOMPARE(int(c.more_eos_token_ids.size()) + 1, eos_ids);
        QCOMPARE(c.norm(), NormKind::RmsNorm);
        QCOMPARE(c.positions(), Positions::Rotary);
        if (!preset.isEmpty()) {
            ModelConfig expected = model_preset(preset.toStdString());
            expected.torch_dtype = c.torch_dtype;
            QCOMPARE(c.parameter_count(), expected.parameter_count());
            QVERIFY(c == expected);
        } else {
            QCOMPARE(c.parameter_count(), int64_t(7241732096));  // Mistral-7B's published size
        }
    }

    // The shapes users name: the parameter counts their model cards publish.
    void presetsHaveThePublishedSizes_data() {
        QTest::addColumn<QString>("shape");
        QTest::addColumn<qint64>("parameters");
        QTest::newRow("TinyLlama 1.1B") << "tinyllama-1.1b" << qint64(1100048384);
        QTest::newRow("SmolLM2 135M") << "smollm2-135m" << qint64(134515008);
        QTest::newRow("SmolLM2 360M") << "smollm2-360m" << qint64(361821120);
        QTest::newRow("Llama 3.2 1B") << "llama-3.2-1b" << qint64(1235814400);
        QTest::newRow("Qwen2.5 0.5B") << "qwen2.5-0.5b" << qint64(494032768);
        QTest::newRow("OpenLLaMA 3B") << "openllama-3b" << qint64(3426473600);
    }
    void presetsHaveThePublishedSizes() {
        QFETCH(QString, shape);
        QFETCH(qint64, parameters);
        const ModelConfig c = model_preset(shape.toStdString());
        QCOMPARE(c.parameter_count(), parameters);
        // config.json as distgpt writes it reads back to the same shape.
        QVERIFY(parse_model_config(model_config_json(c), shape.toStdString()) == c);
    }

    void refusesWhatItCannotRun_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        const QString base = R"("hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "vocab_size": 100)";
        QTest::newRow("unknown family") << R"({"model_type": "falcon"})"
                                        << "model_type 'falcon' is not supported (supported: gpt2, llama, mistral, qwen2)";
        QTest::newRow("groups that do not divide")
            << "{\"model_type\": \"llama\", " + base + R"(, "num_attention_heads": 8, "num_key_value_heads": 3})"
            << "8 attention heads do not divide into groups of the 3 key/value heads";
        QTest::newRow("odd head_dim") << "{\"model_type\": \"llama\", " + base + R"(, "num_attention_heads": 4, "head_dim": 7})"
                                      << "rotary positions need an even head_dim, got 7";
        QTest::newRow("yarn") << "{\"model_type\": \"qwen2\", " + base +
                                     R"(, "num_attention_heads": 4, "rope_scaling": {"type": "yarn", "factor": 4.0}})"
                              << "rope_scaling of type 'yarn' is not supported (linear, llama3)";
        QTest::newRow("eos not a number") << "{\"model_type\": \"llama\", " + base + R"(, "num_attention_heads": 4, "eos_token_id": ["x"]})"
                                          << "\"eos_token_id\" must be an integer";
        QTest::newRow("no intermediate_size") << R"({"model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 100})"
                                              << "missing \"intermediate_size\"";
    }
    void refusesWhatItCannotRun() {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        EXPECT_ERROR(parse_model_config(json.toStdString(), "config.json"), "config.json", expected.toStdString());
    }

    // `save` of a random LLaMA-family model writes a Hugging Face folder with
    // save_pretrained's names and nn.Linear [out, in] shapes that loads back
    // bit for bit, in config and in every tensor.
    void aSavedFolderReadsBackBitForBit_data() {
        QTest::addColumn<QString>("shape");
        QTest::newRow("llama, separate head") << "llama-tiny";
        QTest::newRow("qwen2, biases, tied head") << "qwen-tiny";
    }
    void aSavedFolderReadsBackBitForBit() {
        QFETCH(QString, shape);
        const ModelConfig c = model_preset(shape.toStdString());
        QTemporaryDir dir;
        write_random_model(path_of(dir), c, 9);
        QVERIFY(read_model_config(path_of(dir)) == c);
        const SafetensorsCheckpoint back(path_of(dir));
        const RandomModelSource made(c, 9);
        QCOMPARE(back.names().size(), made.names().size());
        QCOMPARE(back.get("model.layers.0.self_attn.q_proj.weight").shape, (std::vector<int64_t>{c.q_width(), c.n_embd}));
        QCOMPARE(back.get("model.layers.0.self_attn.k_proj.weight").shape, (std::vector<int64_t>{c.kv_width(), c.n_embd}));
        QCOMPARE(back.get("model.layers.0.mlp.down_proj.weight").shape, (std::vector<int64_t>{c.n_embd, c.hidden()}));
        QCOMPARE(back.contains("lm_head.weight"), !c.tied_head);
        QCOMPARE(back.contains("model.layers.0.self_attn.q_proj.bias"), c.qkv_bias);
        for (const auto& name : made.names()) {
            const TensorView a = back.get(name), b = made.get(name);
            QCOMPARE(a.shape, b.shape);
            QVERIFY2(std::memcmp(a.data, b.data, a.nbytes) == 0, name.c_str());
        }
    }

    // Llama 3's instruct models end a turn with <|eot_id|>: every id that
    // config.json and generation_config.json list ends a text, as long as the
    // tokenizer can spell it.
    void everyEndOfTextIdStops() {
        QTemporaryDir dir;
        ModelConfig c = model_preset("llama-tiny");
        c.eos_token_id = 256;
        c.more_eos_token_ids = {10, 400};  // a newline byte, and an id past the tokenizer
        write_random_model(path_of(dir), c, 1);
        std::ofstream(path_of(dir) / "generation_config.json") << R"({"eos_token_id": [256, 13], "do_sample": false})";
        ModelSource source;
        source.dir = path_of(dir);
        const OpenedModel m = open_model(source);
        QCOMPARE(end_of_text_ids(m), (std::vector<int>{256, 10, 13}));
        const StopRule stop{end_of_text_ids(m), true, 100};
        for (int id : {256, 10, 13}) QVERIFY(stop.after(id, 1) == FinishReason::EndOfText);
        QVERIFY(!stop.after(11, 1));
    }

    void logitsMatchAnIndependentReference_data() {
        QTest::addColumn<QString>("row");
        for (const char* row :
             {"llama GQA", "llama no GQA", "llama biases", "llama llama3 rope", "llama linear rope", "mistral", "qwen2 biases tied"})
            QTest::newRow(row) << row;
    }
    void logitsMatchAnIndependentReference() {
        QFETCH(QString, row);
        const ModelConfig c = shape_of(row);
        QTemporaryDir dir;
        write_random_model(path_of(dir), c, 11);
        sharpen(path_of(dir));
        const ModelConfig read = read_model_config(path_of(dir));
        SafetensorsCheckpoint checkpoint(path_of(dir));
        // Positions past the llama3 rule's original context (32) see its stretched frequencies.
        std::vector<int64_t> ids;
        for (int i = 0; i < 40; ++i) ids.push_back((5 + 31 * i * i + 7 * i) % 256);
        Stage stage = make_stage(checkpoint, read, ShardSpec::whole(read), 1);
        const Segment all{0, 0, static_cast<int>(ids.size())};
        const at::Tensor logits = stage.forward(ids_of(ids), {&all, 1}, LogitRows::All);  // [T, V]
        const auto reference = ReferenceLlama(path_of(dir), read).forward(ids);
        double worst = 0, scale = 0;
        for (std::size_t t = 0; t < ids.size(); ++t)
            for (int v = 0; v < c.vocab_size; ++v) {
                worst = std::max(worst, std::abs(logits[t][v].item<double>() - reference[t][v]));
                scale = std::max(scale, std::abs(reference[t][v]));
            }
        qInfo("%s: max |logit - reference| = %.2e over logits up to %.2f", qPrintable(row), worst, scale);
        QVERIFY2(worst < 1e-5 * std::max(1.0, scale), std::to_string(worst).c_str());
    }
};

QTEST_GUILESS_MAIN(TestLlama)
#include "test_llama.moc"
