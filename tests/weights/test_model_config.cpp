#include "support/expect_error.h"
#include "support/fixtures.h"
#include "weights/model_config.h"

#include <QTest>

using namespace distgpt;
using namespace distgpt::test;

class TestModelConfig : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // config.json exactly as the hub's gpt2 folder has it.
    void readsTheHubGpt2Config() {
        QTemporaryDir dir;
        write_file(path_of(dir) / "config.json", R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
  "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
  "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257})");
        const ModelConfig c = read_model_config(path_of(dir));
        QCOMPARE(c.n_layer, 12);
        QCOMPARE(c.n_head, 12);
        QCOMPARE(c.n_embd, 768);
        QCOMPARE(c.n_positions, 1024);
        QCOMPARE(c.vocab_size, 50257);
        QCOMPARE(c.norm_eps, 1e-5);
        QCOMPARE(c.activation, Activation::GeluTanh);
        QCOMPARE(c.eos_token_id, 50256);
        QCOMPARE(c.parameter_count(), int64_t(124439808));  // the published size of gpt2
    }

    void presetsMatchTheHubModels_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<qlonglong>("parameters");
        // Parameter counts of the Hugging Face checkpoints (head tied, not counted twice).
        QTest::newRow("distilgpt2") << "distilgpt2" << 81912576LL;
        QTest::newRow("gpt2") << "gpt2" << 124439808LL;
        QTest::newRow("gpt2-medium") << "gpt2-medium" << 354823168LL;
        QTest::newRow("gpt2-large") << "gpt2-large" << 774030080LL;
        QTest::newRow("gpt2-xl") << "gpt2-xl" << 1557611200LL;
    }
    void presetsMatchTheHubModels() {
        QFETCH(QString, name);
        QFETCH(qlonglong, parameters);
        QCOMPARE(model_preset(name.toStdString()).parameter_count(), static_cast<int64_t>(parameters));
    }

    void writesWhatItReads() {
        QTemporaryDir dir;
        ModelConfig c = small_config(3, 2, 32, 100, 64);
        c.activation = Activation::GeluErf;
        write_model_config(path_of(dir), c);
        const ModelConfig back = read_model_config(path_of(dir));
        QCOMPARE(back.n_layer, 3);
        QCOMPARE(back.n_head, 2);
        QCOMPARE(back.n_embd, 32);
        QCOMPARE(back.vocab_size, 100);
        QCOMPARE(back.n_positions, 64);
        QCOMPARE(back.activation, Activation::GeluErf);
    }

    void refusesBadConfigs_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("another family") << R"({"model_type": "falcon"})"
                                        << "model_type 'falcon' is not supported (supported: gpt2, llama, mistral, qwen2)";
        QTest::newRow("llama without sizes") << R"({"model_type": "llama"})"
                                             << "missing \"num_hidden_layers\"";
        QTest::newRow("no type") << R"({"n_layer": 2})"
                                 << "no \"model_type\"";
        QTest::newRow("missing n_head") << R"({"model_type": "gpt2", "n_layer": 2, "n_embd": 8, "vocab_size": 10})"
                                        << "missing \"n_head\"";
        QTest::newRow("indivisible") << R"({"model_type": "gpt2", "n_layer": 2, "n_head": 3, "n_embd": 8, "vocab_size": 10})"
                                     << "not divisible by n_head 3";
        QTest::newRow("zero layers") << R"({"model_type": "gpt2", "n_layer": 0, "n_head": 2, "n_embd": 8, "vocab_size": 10})"
                                     << "n_layer must be positive";
        QTest::newRow("a billion layers") << R"({"model_type": "gpt2", "n_layer": 1000000000, "n_head": 2, "n_embd": 8, "vocab_size": 10})"
                                          << "n_layer is 1000000000; at most 1024 is accepted";
        QTest::newRow("2^31-1 layers") << R"({"model_type": "gpt2", "n_layer": 2147483647, "n_head": 2, "n_embd": 8, "vocab_size": 10})"
                                       << "n_layer is 2147483647; at most 1024";
        QTest::newRow("past int") << R"({"model_type": "gpt2", "n_layer": 99999999999, "n_head": 2, "n_embd": 8, "vocab_size": 10})"
                                  << "\"n_layer\" is 99999999999, far beyond any model";
        QTest::newRow("huge vocabulary") << R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 2000000000})"
                                         << "vocab_size is 2000000000; at most 4194304";
        QTest::newRow("huge width") << R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 1000000, "vocab_size": 10})"
                                    << "n_embd is 1000000; at most 65536";
        QTest::newRow("negative context")
            << R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "n_positions": -7})"
            << "n_positions must be positive, got -7";
        QTest::newRow("string field") << R"({"model_type": "gpt2", "n_layer": "two", "n_head": 2, "n_embd": 8, "vocab_size": 10})"
                                      << "must be an integer";
        QTest::newRow("activation")
            << R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10, "activation_function": "mish"})"
            << "'mish' is not supported";
        QTest::newRow("not json") << "{"
                                  << "not valid JSON";
    }
    void refusesBadConfigs() {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        write_file(path_of(dir) / "config.json", json.toStdString());
        EXPECT_ERROR(read_model_config(path_of(dir)), "config.json", expected.toStdString());
    }

    void namesAMissingFolder() {
        EXPECT_ERROR(read_model_config("/nonexistent/model"), "/nonexistent/model", "no such model folder");
        QTemporaryDir dir;
        EXPECT_ERROR(read_model_config(path_of(dir)), "config.json: missing");
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
