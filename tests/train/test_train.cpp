// distgpt-cli train's engine: it learns, it resumes exactly, and what it
// writes is an ordinary Hugging Face folder.
#include "engine/local_engine.h"
#include "model/random_model.h"
#include "tokenizer/char_tokenizer.h"
#include "weights/hf_model_writer.h"
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "train/trainer.h"
#include "weights/safetensors.h"

#include <QTest>

#include <algorithm>
#include <cstring>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// A few kilobytes of varied text, made here so the test needs no data files.
std::string training_text() {
    const char* lines[] = {"ROMEO:\nBut soft, what light through yonder window breaks?\n",
                           "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n", "HAMLET:\nTo be, or not to be, that is the question.\n",
                           "MACBETH:\nTomorrow, and tomorrow, and tomorrow.\n", "PORTIA:\nThe quality of mercy is not strained.\n"};
    std::string text;
    for (int i = 0; i < 60; ++i) text += lines[(i * 7 + i / 5) % 5];
    return text;
}

TrainOptions small_run(const std::filesystem::path& text, const std::filesystem::path& out, int steps) {
    TrainOptions o;
    o.text = text;
    o.out = out;
    o.layers = 2;
    o.heads = 2;
    o.embd = 32;
    o.context = 32;
    o.steps = steps;
    o.batch = 8;
    o.lr = 3e-3;
    o.warmup = 10;
    o.eval_every = 3;
    o.eval_batches = 2;
    o.threads = 1;
    o.seed = 5;
    return o;
}

}  // namespace

class TestTrain : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
    std::filesystem::path text;

private Q_SLOTS:
    void initTestCase() {
        text = path_of(dir) / "plays.txt";
        write_file(text, training_text());
    }

    void trainingLowersTheLoss_data() {
        QTest::addColumn<QString>("arch");
        QTest::newRow("gpt2") << "gpt2";
        QTest::newRow("llama, grouped-query") << "llama";
    }
    void trainingLowersTheLoss() {
        QFETCH(QString, arch);
        const bool llama = arch == "llama";
        TrainOptions o = small_run(text, path_of(dir) / (llama ? "learned-llama" : "learned"), 60);
        if (llama) {
            o.arch = ModelFamily::Llama;
            o.kv_heads = 1;
        }
        o.eval_every = 20;
        o.warmup = 5;
        std::vector<double> val;
        const TrainResult r = train_model(o, [&](const TrainProgress& p) {
            if (p.val_loss) val.push_back(*p.val_loss);
        });
        QCOMPARE(val.size(), size_t(3));
        QVERIFY2(val.back() < val.front() - 0.3, (std::to_string(val.front()) + " -> " + std::to_string(val.back())).c_str());
        QVERIFY(r.val_loss < std::log(double(read_model_config(o.out).vocab_size)));  // better than uniform
        // It is the block asked for, and it generates through the engine.
        ModelSource source;
        source.dir = o.out;
        const OpenedModel model = open_model(source);
        QCOMPARE(model.config.family, llama ? ModelFamily::Llama : ModelFamily::Gpt2);
        QCOMPARE(model.config.kv_heads(), llama ? 1 : 2);
        QCOMPARE(model.config.hidden(), llama ? 96 : 128);  // 8/3 of 32, to a multiple of 32; 4 x 32
        LocalEngine engine(model, 1);
        GenerateOptions g;
        g.max_new_tokens = 8;
        g.sampling.temperature = 0;
        QCOMPARE(engine.generate({model.tokenizer->encode("ROMEO:\n")}, g).sequences[0].generated_ids.size(), size_t(8));
    }

    // Six steps straight, or three, a checkpoint, and three more from it: the
    // same weights to the bit.
    // Dropout's masks depend only on (seed, step), so they resume exactly too.
    void resumingContinuesExactly_data() {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<double>("dropout");
        QTest::newRow("gpt2") << "" << 0.0;
        QTest::newRow("llama") << "-llama" << 0.0;
        QTest::newRow("llama, dropout") << "-llama-dropout" << 0.2;
    }
    void resumingContinuesExactly() {
        QFETCH(QString, arch);
        QFETCH(double, dropout);
        const std::string suffix = arch.toStdString();
        auto run = [&](const std::string& name, int steps) {
            TrainOptions o = small_run(text, path_of(dir) / (name + suffix), steps);
            if (!suffix.empty()) {
                o.arch = ModelFamily::Llama;
                o.kv_heads = 1;
            }
            o.dropout = dropout;
            return o;
        };
        train_model(run("straight", 6));
        train_model(run("first-half", 3));
        TrainOptions resumed = run("resumed", 6);
        resumed.resume = path_of(dir) / ("first-half" + suffix);
        int first_step = 0;
        train_model(resumed, [&](const TrainProgress& p) {
            if (!first_step) first_step = p.step;
        });
        QCOMPARE(first_step, 4);
        SafetensorsCheckpoint a(path_of(dir) / ("straight" + suffix)), b(path_of(dir) / ("resumed" + suffix));
        QCOMPARE(a.names(), b.names());
        for (const auto& name : a.names()) {
            const TensorView x = a.get(name), y = b.get(name);
            QVERIFY2(x.nbytes == y.nbytes && std::memcmp(x.data, y.data, x.nbytes) == 0, name.c_str());
        }
    }

    // Dropout is really applied: the same run without it ends with other weights.
    void dropoutChangesTheSteps() {
        SafetensorsCheckpoint with(path_of(dir) / "straight-llama-dropout"), without(path_of(dir) / "straight-llama");
        const TensorView x = with.get("model.layers.0.mlp.down_proj.weight"), y = without.get("model.layers.0.mlp.down_proj.weight");
        QCOMPARE(x.nbytes, y.nbytes);
        QVERIFY(std::memcmp(x.data, y.data, x.nbytes) != 0);
    }

    // The held-out part is the last 10% of characters, not of bytes.
    void heldOutPartIsTheLastTenthOfCharacters_data() {
        QTest::addColumn<QString>("sample");
        QTest::addColumn<int>("start");
        QTest::newRow("ascii") << "abcdefghij" << 9;
        QTest::newRow("two-byte letters") << QString::fromUtf8("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x")
                                          << 18;
        QTest::newRow("emoji last") << QString::fromUtf8("abcdefghi\xf0\x9f\x8e\xad") << 9;
        QTest::newRow("empty") << "" << 0;
    }
    void heldOutPartIsTheLastTenthOfCharacters() {
        QFETCH(QString, sample);
        QFETCH(int, start);
        QCOMPARE(held_out_start(sample.toStdString()), std::size_t(start));
    }
    void heldOutPartRefusesInvalidUtf8() { EXPECT_ERROR(held_out_start("abc\xff"), "not valid UTF-8", "byte 3"); }

    // Stopping early follows the full schedule: the first half of a 6-step run.
    void stopAfterIsAPrefixOfTheFullRun() {
        TrainOptions half = small_run(text, path_of(dir) / "stopped", 6);
        half.stop_after = 3;
        QCOMPARE(train_model(half).steps, 3);
        SafetensorsCheckpoint a(path_of(dir) / "stopped"), b(path_of(dir) / "first-half");  // first-half ran 3 of 3 with warm-up only
        for (const auto& name : a.names()) {
            const TensorView x = a.get(name), y = b.get(name);
            QVERIFY2(std::memcmp(x.data, y.data, x.nbytes) == 0, name.c_str());
        }
    }

    // The folder loads through the path every downloaded model takes.
    void trainedFolderIsAHuggingFaceModel() {
        const auto out = path_of(dir) / "learned";
        QVERIFY(std::filesystem::exists(out / "config.json"));
        QVERIFY(std::filesystem::exists(out / "model.safetensors"));
        QVERIFY(std::filesystem::exists(out / "vocab.json"));
        ModelSource source;
        source.dir = out;
        const OpenedModel model = open_model(source);
        QCOMPARE(model.tokenizer->kind(), std::string("char"));
        QCOMPARE(model.config.n_layer, 2);
        LocalEngine engine(model, 1);
        GenerateOptions g;
        g.max_new_tokens = 20;
        g.sampling.temperature = 0;
        const auto r = engine.generate({model.tokenizer->encode("ROMEO:\n")}, g);
        QCOMPARE(r.sequences[0].generated_ids.size(), size_t(20));
    }

    // A character model has no end-of-text: the character its config.json
    // names as eos_token_id ("b" here) is text like any other.
    void characterModelsNeverStopAtACharacter() {
        ModelConfig c = small_config(2, 2, 32, 2, 32);
        c.eos_token_id = 1;
        const auto folder = path_of(dir) / "ab";
        write_hf_model_folder(folder, c, RandomModelSource(c, 3), CharTokenizer({"a", "b"}));
        ModelSource source;
        source.dir = folder;
        const OpenedModel model = open_model(source);
        QCOMPARE(model.config.eos_token_id, 1);
        LocalEngine engine(model, 1);
        GenerateOptions g;
        g.max_new_tokens = 30;
        g.sampling.seed = 4;
        const auto r = engine.generate({model.tokenizer->encode("ab")}, g);
        const auto& ids = r.sequences[0].generated_ids;
        QVERIFY(std::count(ids.begin(), ids.end(), 1) >= 3);  // it did write "b"s
        QCOMPARE(ids.size(), size_t(30));
        QCOMPARE(r.sequences[0].finish, FinishReason::Length);
    }

    void refusesTextShorterThanItsHeldOutWindow() {
        const auto tiny = path_of(dir) / "tiny.txt";
        write_file(tiny, "too short");
        EXPECT_ERROR(train_model(small_run(tiny, path_of(dir) / "never", 3)), "too short");
        EXPECT_ERROR(train_model(small_run(path_of(dir) / "absent.txt", path_of(dir) / "never", 3)), "cannot open training text");
    }
};

QTEST_GUILESS_MAIN(TestTrain)
#include "test_train.moc"
