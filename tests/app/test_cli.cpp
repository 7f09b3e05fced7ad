// distgpt-cli as a user runs it: real processes, real files, exit codes and
// the one-line errors on stderr.
#include "model/random_model.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"
#include "weights/hf_model_writer.h"
#include "weights/weight_format.h"

#include <QFile>
#include <QProcess>
#include <QScopeGuard>
#include <QTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <regex>

using namespace distgpt;
using namespace distgpt::test;

namespace {

struct Run {
    int exit_code = -1;
    std::string out, err;
    nlohmann::json json() const { return nlohmann::json::parse(out); }
};

Run cli(const QStringList& args) {
    QProcess p;
    p.start(DISTGPT_CLI, args);
    if (!p.waitForFinished(300000)) p.kill();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput().toStdString(),
            p.readAllStandardError().toStdString()};
}

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

}  // namespace

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir work;

private Q_SLOTS:
    void generateJsonHasIdsTextAndTimings() {
        const Run r = cli({"generate", "--random-init", "tiny", "--prompt", "Once upon", "--max-new-tokens", "12", "--seed", "3",
                           "--ignore-eos", "--json", "--threads", "1"});
        QCOMPARE(r.exit_code, 0);
        const auto j = r.json();
        QCOMPARE(j["prompt_ids"].size(), size_t(9));  // one token per byte
        QCOMPARE(j["generated_ids"].size(), size_t(12));
        QCOMPARE(j["finish"].get<std::string>(), std::string("length"));
        QVERIFY(j["prefill_ms"].get<double>() > 0);
        QVERIFY(j["ms_per_decode_token"].get<double>() > 0);
        QVERIFY(j["tokens_per_second"].get<double>() > 0);
        QVERIFY(j.contains("text"));
        // Same seed, same text; another seed, other text.
        QVERIFY(cli({"generate", "--random-init", "tiny", "--prompt", "Once upon", "--max-new-tokens", "12", "--seed", "3", "--ignore-eos",
                     "--json", "--threads", "2"})
                    .json()["generated_ids"] == j["generated_ids"]);
        QVERIFY(cli({"generate", "--random-init", "tiny", "--prompt", "Once upon", "--max-new-tokens", "12", "--seed", "4", "--ignore-eos",
                     "--json"})
                    .json()["generated_ids"] != j["generated_ids"]);
    }

    // With no model named, the bundled demo model writes a play.
    void theDemoModelIsTheDefault() {
        const Run info = cli({"inspect", "--json"});
        QCOMPARE(info.exit_code, 0);
        QVERIFY(info.json()["model"].get<std::string>().find("shakespeare-char") != std::string::npos);
        QCOMPARE(info.json()["config"]["n_layer"].get<int>(), 8);
        QCOMPARE(info.json()["tokenizer"]["kind"].get<std::string>(), std::string("char"));
        const Run r = cli({"generate", "--prompt", "ROMEO:\n", "--max-new-tokens", "120", "--seed", "1", "--temperature", "0.8", "--json"});
        QCOMPARE(r.exit_code, 0);
        const std::string text = r.json()["text"].get<std::string>();
        QCOMPARE(r.json()["generated_ids"].size(), size_t(120));
        QVERIFY(std::count(text.begin(), text.end(), '\n') >= 2);  // lines, as in a play
        QVERIFY(std::count(text.begin(), text.end(), ' ') >= 15);  // words
    }

    // --demo names the other bundled model: a LLaMA with its own vocabulary.
    void theLlamaDemoIsOneFlagAway() {
        const Run info = cli({"inspect", "--demo", "shakespeare-llama", "--json"});
        QCOMPARE(info.exit_code, 0);
        QCOMPARE(info.json()["family"].get<std::string>(), std::string("llama"));
        QCOMPARE(info.json()["gqa_ratio"].get<int>(), 4);  // 8 query heads share 2 key/value heads
        QCOMPARE(info.json()["tokenizer"]["kind"].get<std::string>(), std::string("byte-level BPE"));
        const Run r = cli({"generate", "--demo", "shakespeare-llama", "--prompt", "ROMEO:\n", "--max-new-tokens", "60", "--seed", "1",
                           "--temperature", "0.8", "--json"});
        QCOMPARE(r.exit_code, 0);
        const std::string text = r.json()["text"].get<std::string>();
        QVERIFY(std::count(text.begin(), text.end(), '\n') >= 2);  // lines, as in a play
        QVERIFY(std::count(text.begin(), text.end(), ' ') >= 15);  // words
        const Run unknown = cli({"inspect", "--demo", "shakespeare-gpt5"});
        QVERIFY(unknown.exit_code != 0);
        QVERIFY2(unknown.err.find("shakespeare-char") != std::string::npos, unknown.err.c_str());  // says what there is
        const Run both = cli({"inspect", "--demo", "shakespeare-llama", "--random-init", "tiny"});
        QVERIFY(both.exit_code != 0);
        QVERIFY2(both.err.find("give one of --model, --demo and --random-init") != std::string::npos, both.err.c_str());
    }

    void generateStreamsPromptAndText() {
        const Run r = cli({"generate", "--random-init", "tiny", "--prompt", "Hi", "--max-new-tokens", "5", "--temperature", "0"});
        QCOMPARE(r.exit_code, 0);
        QVERIFY(r.out.starts_with("Hi"));
        QVERIFY(r.err.find("ms per decode step") != std::string::npos);
    }

    void severalPromptsGenerateTogether() {
        const Run r = cli({"generate", "--random-init", "tiny", "--prompt", "one", "--prompt", "second prompt", "--max-new-tokens", "4",
                           "--ignore-eos", "--json"});
        QCOMPARE(r.exit_code, 0);
        QCOMPARE(r.json()["sequences"].size(), size_t(2));
        QCOMPARE(r.json()["sequences"][1]["prompt_ids"].size(), size_t(13));
    }

    // A saved random model is an ordinary Hugging Face folder that generates
    // exactly what the random model did.
    void savedModelGeneratesTheSame() {
        const auto dir = path_of(work) / "saved-tiny";
        const Run saved = cli({"save", "--random-init", "tiny", "--init-seed", "9", "--out", q(dir)});
        QCOMPARE(saved.exit_code, 0);
        const QStringList gen = {"--prompt", "Hello", "--max-new-tokens", "10", "--temperature", "0", "--ignore-eos", "--json"};
        const auto from_folder = cli(QStringList{"generate", "--model", q(dir)} + gen).json()["generated_ids"].get<std::vector<int>>();
        const auto from_seed =
            cli(QStringList{"generate", "--random-init", "tiny", "--init-seed", "9"} + gen).json()["generated_ids"].get<std::vector<int>>();
        QCOMPARE(from_folder.size(), size_t(10));
        QCOMPARE(from_folder, from_seed);
        const auto info = cli({"inspect", "--model", q(dir), "--json"}).json();
        QCOMPARE(info["parameters"].get<int64_t>(), model_preset("tiny").parameter_count());
        QCOMPARE(info["family"].get<std::string>(), std::string("gpt2"));
        QCOMPARE(info["tokenizer"]["kind"].get<std::string>(), std::string("gpt2-bpe"));
    }

    // quantize writes a folder that loads in its format: a q4 LLaMA demo is
    // under a seventh of the fp32 file, loads as q4 (held as stored), and the
    // same blocks give the same tokens as quantizing on load.
    void aQuantizedFolderRunsAsItsFormat() {
        const auto dir = path_of(work) / "llama-q4";
        const Run made = cli({"quantize", "--demo", "shakespeare-llama", "--dtype", "q4", "--out", q(dir)});
        QVERIFY2(made.exit_code == 0, made.err.c_str());
        QVERIFY(made.out.find("in q4") != std::string::npos);
        const auto fp32_bytes =
            std::filesystem::file_size(std::filesystem::path(DISTGPT_RESOURCES "/models/shakespeare-llama/model.safetensors"));
        QVERIFY(std::filesystem::file_size(dir / "model.safetensors") < fp32_bytes / 7);
        const auto info = cli({"inspect", "--model", q(dir), "--json"}).json();
        QCOMPARE(info["weights_dtype"].get<std::string>(), std::string("q4"));
        const QStringList gen = {"--prompt", "ROMEO:", "--max-new-tokens", "40", "--temperature", "0", "--ignore-eos", "--json"};
        const Run from_folder = cli(QStringList{"generate", "--model", q(dir)} + gen);
        const Run on_load = cli(QStringList{"generate", "--demo", "shakespeare-llama", "--weights-dtype", "q4"} + gen);
        QVERIFY2(from_folder.exit_code == 0, from_folder.err.c_str());
        const auto ids = from_folder.json()["generated_ids"].get<std::vector<int>>();
        QCOMPARE(ids, on_load.json()["generated_ids"].get<std::vector<int>>());
        QCOMPARE(ids.size(), size_t(40));
    }

    // A LLaMA-family shape by name, or by any model's config.json, runs on
    // real workers as in one process, and saves as a folder that inspect
    // describes: family, grouped-query ratio, rope.
    void aLlamaShapeRunsAndSaves() {
        const auto config = path_of(work) / "llama-shape.json";
        std::ofstream(config) << R"({"model_type": "llama", "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
            "hidden_size": 32, "intermediate_size": 64, "max_position_embeddings": 64, "vocab_size": 300, "rope_theta": 500000.0,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 16}})";
        const QStringList gen = {"--prompt", "Hello", "--max-new-tokens", "8", "--temperature", "0", "--ignore-eos", "--json"};
        const auto alone = cli(QStringList{"generate", "--random-init", q(config)} + gen).json()["generated_ids"].get<std::vector<int>>();
        const auto run = cli(QStringList{"run", "--random-init", q(config), "--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json"} + gen)
                             .json()["sequences"][0]["generated_ids"]
                             .get<std::vector<int>>();
        QCOMPARE(alone.size(), size_t(8));
        QCOMPARE(run, alone);
        const auto dir = path_of(work) / "saved-llama";
        QCOMPARE(cli({"save", "--random-init", "llama-tiny", "--out", q(dir)}).exit_code, 0);
        const auto info = cli({"inspect", "--model", q(dir), "--json"}).json();
        QCOMPARE(info["family"].get<std::string>(), std::string("llama"));
        QCOMPARE(info["gqa_ratio"].get<int>(), 4);
        QCOMPARE(info["rope"]["theta"].get<double>(), 10000.0);
        QCOMPARE(info["parameters"].get<int64_t>(), model_preset("llama-tiny").parameter_count());
        QCOMPARE(info["kv_cache_bytes_per_token"].get<int64_t>(), int64_t(2 * 4 * 16 * 4));  // 4 layers of 2 KV heads of 8
    }

    // A vocabulary learned from a text, and a LLaMA model trained on it: a
    // folder that generates, with its loss also per character.
    void aLearnedVocabularyTrainsALlama() {
        const auto text = path_of(work) / "lines.txt";
        std::ofstream out(text);
        for (int i = 0; i < 400; ++i) out << "To be, or not to be: that is the question " << i % 7 << ".\n";
        out << std::string(1000, 'Q') << "\n";  // within the held-out last 10%: never seen by the vocabulary
        out.close();
        const auto vocab = path_of(work) / "vocab-learned";
        const Run learned = cli({"train-tokenizer", "--text", q(text), "--vocab-size", "300", "--out", q(vocab)});
        QCOMPARE(learned.exit_code, 0);
        QVERIFY2(learned.out.find("learned 31 merges: 288 tokens") != std::string::npos, learned.out.c_str());
        QVERIFY2(read_file(vocab / "tokenizer.json").find("\"QQ\"") == std::string::npos, "a merge learned from held-out text");
        const auto model = path_of(work) / "llama-learned";
        const Run trained =
            cli({"train", "--arch",  "llama", "--tokenizer",  q(vocab), "--text",         q(text), "--out",     q(model), "--layers",
                 "1",     "--heads", "2",     "--kv-heads",   "1",      "--embd",         "32",    "--context", "32",     "--steps",
                 "4",     "--batch", "4",     "--eval-every", "2",      "--eval-batches", "1",     "--threads", "1"});
        QCOMPARE(trained.exit_code, 0);
        QVERIFY2(trained.out.find("nats/character") != std::string::npos, trained.out.c_str());
        const auto info = cli({"inspect", "--model", q(model), "--json"}).json();
        QCOMPARE(info["tokenizer"]["kind"].get<std::string>(), std::string("byte-level BPE"));
        QCOMPARE(info["tokenizer"]["tokens"].get<int>(), 288);  // every pair seen twice was merged before 300
        const auto gen = cli({"generate", "--model", q(model), "--prompt", "To be", "--max-new-tokens", "5", "--json"}).json();
        QCOMPARE(gen["generated_ids"].size(), std::size_t(5));
    }

    void tokenizeWithTheRealGpt2Vocabulary() {
        // A small model with GPT-2's vocabulary and tokenizer files.
        const auto dir = path_of(work) / "gpt2-vocab-model";
        const ModelConfig c = small_config(2, 2, 32, 50257, 64);
        write_hf_model_folder(dir, c, RandomModelSource(c, 1), *load_tokenizer(GPT2_VOCAB_DIR));
        const Run r = cli({"tokenize", "--model", q(dir), "--text", "Hello world, this is GPT-2!", "--json"});
        QCOMPARE(r.exit_code, 0);
        QCOMPARE(r.json()["ids"].get<std::vector<int>>(), (std::vector<int>{15496, 995, 11, 428, 318, 402, 11571, 12, 17, 0}));
        QCOMPARE(r.json()["tokens"][1].get<std::string>(), std::string(" world"));  // Ġworld, as bytes
    }

    void evalReportsCrossEntropyAndPerplexity() {
        const auto text = path_of(work) / "text.txt";
        const std::string hamlet =
            "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
            "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n";
        write_file(text, hamlet);
        auto eval = [&](const char* context) {
            const Run r = cli({"eval", "--random-init", "tiny", "--text", q(text), "--context", context, "--json"});
            QTest::qVerify(r.exit_code == 0, "exit code", r.err.c_str(), __FILE__, __LINE__);
            return r.json();
        };
        const auto whole = eval("128"), windows = eval("32");
        QCOMPARE(whole["tokens"].get<int64_t>(), static_cast<int64_t>(hamlet.size() - 1));  // every byte but the first is predicted
        QCOMPARE(windows["tokens"].get<int64_t>(), static_cast<int64_t>(hamlet.size() - 1));
        QCOMPARE(whole["windows"].get<int>(), 2);    // 172 bytes in windows of 128 that overlap by one
        QCOMPARE(windows["windows"].get<int>(), 6);  // and of 32
        const double ce = whole["mean_cross_entropy"].get<double>();
        QVERIFY(std::abs(std::exp(ce) - whole["perplexity"].get<double>()) < 1e-6 * whole["perplexity"].get<double>());
        QVERIFY(std::abs(ce - std::log(257.0)) < 0.3);               // an untrained model is near uniform
        QVERIFY(windows["mean_cross_entropy"].get<double>() != ce);  // shorter windows see less context
        // One byte per token and an ASCII text: per character is per token.
        QCOMPARE(whole["characters"].get<int64_t>(), static_cast<int64_t>(hamlet.size() - 1));
        QVERIFY(std::abs(whole["nats_per_character"].get<double>() - ce) < 1e-9);
    }

    void invalidUtf8FileIsNamed() {
        const auto text = path_of(work) / "latin1.txt";
        write_file(text, "caf\xe9 au lait");
        const Run r = cli({"eval", "--random-init", "tiny", "--text", q(text)});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.err.find("not valid UTF-8 at byte 3") != std::string::npos, r.err.c_str());
    }

    void badInputGetsOneClearLine_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing folder") << QStringList{"generate", "--model", "/no/such/model", "--prompt", "x"}
                                        << "/no/such/model: no such model folder";
        QTest::newRow("two models") << QStringList{"generate", "--model", "/x", "--random-init", "tiny", "--prompt", "x"}
                                    << "give one of --model, --demo and --random-init";
        QTest::newRow("prompt too long") << QStringList{"generate", "--random-init", "tiny", "--prompt", QString(200, 'x')}
                                         << "prompt 1 has 200 tokens; the context holds 128";
        QTest::newRow("unknown shape") << QStringList{"inspect", "--random-init", "gpt5"} << "unknown model shape 'gpt5'";
        QTest::newRow("bad top-p") << QStringList{"generate", "--random-init", "tiny", "--prompt", "x", "--top-p", "2"}
                                   << "top-p must be in (0, 1]";
        const QStringList run = {"run", "--random-init", "tiny", "--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--prompt", "x"};
        QTest::newRow("temperature nan") << run + QStringList{"--temperature", "nan"} << "temperature must be a number from 0 to 100";
        QTest::newRow("no new tokens") << run + QStringList{"--max-new-tokens", "0"} << "--max-new-tokens: Value 0 not in range 1";
        QTest::newRow("negative new tokens") << run + QStringList{"--max-new-tokens", "-5"} << "--max-new-tokens: Value -5 not in range 1";
        QTest::newRow("negative in flight") << run + QStringList{"--in-flight", "-3"} << "--in-flight: Value -3 not in range 0";
        QTest::newRow("empty micro-batch") << run + QStringList{"--micro-batch", "0"} << "--micro-batch: Value 0 not in range 1";
        QTest::newRow("negative micro-batch") << run + QStringList{"--micro-batch", "-2"} << "--micro-batch: Value -2 not in range 1";
        QTest::newRow("negative context") << run + QStringList{"--context", "-7"} << "--context: Value -7 not in range 0";
        QTest::newRow("prompts from a folder") << run + QStringList{"--prompts", "/tmp"} << "--prompts /tmp is a folder";
        QTest::newRow("prompts without end") << run + QStringList{"--prompts", "/dev/zero"} << "--prompts /dev/zero holds more than 64 MiB";
        QTest::newRow("too many sequences") << run + QStringList{"--prompt", "y", "--samples", "1048576"}
                                            << "2 prompts × --samples 1048576 is more than 1048576 sequences";
        QTest::newRow("unknown flag") << run + QStringList{"--bogus"} << "--bogus";
        QTest::newRow("unknown wire format") << run + QStringList{"--wire", "q4"} << "--wire: q4 not in {f32,bf16,q8}";
        const QStringList bare = {"run", "--random-init", "tiny", "--prompt", "x"};
        QTest::newRow("no topology") << bare << "run needs --topology FILE, or --slurm inside a Slurm allocation";
        QTest::newRow("slurm outside an allocation")
            << bare + QStringList{"--slurm"} << "--slurm runs inside a Slurm allocation ($SLURM_JOB_ID is not set)";
        QTest::newRow("slurm and a topology") << run + QStringList{"--slurm"} << "--topology excludes --slurm";
        QTest::newRow("a split without slurm") << run + QStringList{"--strategy", "tensor"} << "--strategy requires --slurm";
        QTest::newRow("keep the whole context")
            << run + QStringList{"--keep", "128"} << "--keep 128 is out of range: a shift keeps 1 to 64 tokens (the context holds 65";
        QTest::newRow("unknown arch") << QStringList{"train", "--arch", "falcon", "--text", "x.txt", "--out", "y"}
                                      << "--arch: falcon not in {gpt2,llama}";
        QTest::newRow("kv heads for gpt2") << QStringList{"train", "--kv-heads", "2", "--text", "x.txt", "--out", "y"}
                                           << "--kv-heads needs --arch llama";
        QTest::newRow("threads 0") << QStringList{"generate", "--random-init", "tiny", "--prompt", "x", "--threads", "0"}
                                   << "--threads: Value 0 not in range 1";
        QTest::newRow("fault bench, unknown strategy")
            << QStringList{"bench", "faults", "--strategy", "ring"} << "--strategy: Check ring value in";
        QTest::newRow("fault bench, hybrid of 3")
            << QStringList{"bench", "faults", "--strategy", "hybrid", "--nodes", "3"} << "needs a multiple of 2 --nodes";
        QTest::newRow("quantize to an unknown format")
            << QStringList{"quantize", "--random-init", "tiny", "--dtype", "q3", "--out", "/tmp/x"}
            << "--dtype: q3 not in {f32,bf16,f16,q8,q4}";
        QTest::newRow("missing eval file") << QStringList{"eval", "--random-init", "tiny", "--text", "/no/file.txt"}
                                           << "cannot open text file /no/file.txt";
    }
    void badInputGetsOneClearLine() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const Run r = cli(args);
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.err.find(expected.toStdString()) != std::string::npos, r.err.c_str());
        QCOMPARE(std::count(r.err.begin(), r.err.end(), '\n'), std::ptrdiff_t(1));
        QVERIFY(r.err.starts_with("distgpt-cli "));
    }

    // With --json, a failure is JSON too: the error, and no plain text on stdout.
    void aFailedRunIsJsonWithJson() {
        const auto topology = path_of(work) / "nobody-home.json";
        // (Not a raw string: moc reads the // of tcp:// as a comment.)
        write_file(topology, "{\"nodes\": [{\"name\": \"ghost\", \"endpoint\": \"tcp://127.0.0.1:9\"}]}");
        const Run r = cli({"run", "--random-init", "tiny", "--topology", q(topology), "--prompt", "x", "--json"});
        QCOMPARE(r.exit_code, 1);
        const auto j = nlohmann::json::parse(r.out);
        QVERIFY2(j["error"].get<std::string>().find("node 'ghost'") != std::string::npos, r.out.c_str());
    }

    // bench decode splits a token into the matrices and the rest, and sets
    // the kernel's in-cache roofline beside the floor, for every format.
    void benchDecodeSplitsATokensTime() {
        // One token timed a round (past the warm-up steps) is enough.
        const Run r = cli({"bench", "decode", "--random-init", "llama-tiny", "--threads", "1", "--rounds", "1", "--tokens", "1", "--json"});
        QCOMPARE(r.exit_code, 0);
        const auto j = r.json();
        QCOMPARE(j["formats"].size(), weight_formats().size());
        QCOMPARE(j["tokens_timed"].get<std::size_t>(), weight_formats().size());
        for (const auto& f : j["formats"]) {
            const std::string name = f["weights_dtype"];
            const double engine = f["engine_ms_per_token"], matrices = f["matrices_ms_per_token"];
            QVERIFY2(matrices > 0 && matrices <= engine, name.c_str());
            QVERIFY2(f["kernel_in_cache_ms_per_token"].get<double>() > 0, name.c_str());
            QVERIFY2(f["ratio_to_bound"].get<double>() >= f["ratio_to_bandwidth_bound"].get<double>(), name.c_str());
        }
        for (const char* option : {"--tokens", "--rounds"}) {
            const Run none = cli({"bench", "decode", "--random-init", "llama-tiny", option, "0"});
            QCOMPARE(none.exit_code, 1);
            QVERIFY2(none.err.find(std::string(option) + ": Value 0 not in range 1 to 1000000") != std::string::npos, none.err.c_str());
        }
    }

    // Past the context (the demo's 128 characters) the window slides; the bench says what a shift costs.
    void benchDecodeBeyondTheContextReportsTheShifts() {
        const Run r = cli({"bench", "decode", "--demo", "shakespeare-char", "--weights-dtype", "f32", "--threads", "1", "--rounds", "1",
                           "--tokens", "300", "--json"});
        QCOMPARE(r.exit_code, 0);
        const auto shift = r.json()["window_shift"];
        QCOMPARE(shift["context"].get<int>(), 128);
        QCOMPARE(shift["keep"].get<int>(), 64);
        // A 44-character prompt and 303 tokens: shifts at lengths 129, 194, 259 and 324.
        QCOMPARE(shift["shifts_timed"].get<int>(), 4);
        QVERIFY(shift["ms_per_shift"].get<double>() > 0 && shift["decode_steps_per_shift"].get<double>() > 0);
        // And generate says so too.
        const Run g = cli({"generate", "--prompt", "ROMEO:", "--max-new-tokens", "300", "--keep", "100", "--json"});
        QCOMPARE(g.exit_code, 0);
        QCOMPARE(g.json()["generated_ids"].size(), std::size_t(300));
        QCOMPARE(g.json()["finish"].get<std::string>(), std::string("length"));
        QCOMPARE(g.json()["window_shifts"]["count"].get<int>(), 7);  // every 28 tokens past the first 128
    }

    void configThatDoesNotMatchTheWeightsFails() {
        const auto dir = path_of(work) / "lying";
        QCOMPARE(cli({"save", "--random-init", "tiny", "--out", q(dir)}).exit_code, 0);
        ModelConfig c = read_model_config(dir);
        c.n_layer = 6;
        write_model_config(dir, c);
        const Run r = cli({"generate", "--model", q(dir), "--prompt", "x"});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.err.find("transformer.h.4.ln_1.weight") != std::string::npos, r.err.c_str());
    }

    // plan --predict: the plan and the cost model's numbers, nothing run;
    // this machine measured once into the cache, then read from it.
    void planPredictsWithoutRunning() {
        const QString cache = work.path() + "/cache";
        qputenv("XDG_CACHE_HOME", cache.toUtf8());
        const QStringList args{
            "plan", "--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--prompt", "ROMEO:", "--samples", "4", "--max-new-tokens",
            "40",   "--predict"};
        const Run first = cli(args + QStringList{"--json"});
        QVERIFY2(first.exit_code == 0, first.err.c_str());
        const auto doc = first.json();
        QCOMPARE(doc["stages"].size(), 2u);
        const auto& p = doc["prediction"];
        QVERIFY(p["tokens_per_second"].get<double>() > 0);
        QVERIFY(p["first_token_ms"].get<double>() > 0);
        QCOMPARE(p["nodes"].size(), 2u);
        QCOMPARE(p["links"].size(), 2u);
        QVERIFY(!p["bottleneck"].get<std::string>().empty());
        QVERIFY(QFile::exists(cache + "/distgpt/node-rates.json"));
        const Run again = cli(args);
        QVERIFY2(again.exit_code == 0, again.err.c_str());
        QVERIFY2(again.out.find("tokens/s") != std::string::npos, again.out.c_str());
        QVERIFY2(again.out.find("measured now") == std::string::npos, again.out.c_str());  // from the cache
        // run --predict: predicted beside measured.
        const Run run =
            cli({"run", "--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--prompt", "ROMEO:", "--max-new-tokens", "20", "--predict"});
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        QVERIFY2(run.err.find("predicted") != std::string::npos && run.err.find("measured") != std::string::npos, run.err.c_str());
        // A Pi beside a laptop gets fewer layers; --slurm is not a topology to plan.
        const auto mixed = cli({"plan", "--topology", DISTGPT_TOPOLOGIES "/laptop-and-pi-wifi.json", "--prompt", "x", "--json"}).json();
        const auto layers = [&](int s) { return mixed["stages"][s]["layers"][1].get<int>() - mixed["stages"][s]["layers"][0].get<int>(); };
        QVERIFY2(layers(1) < layers(0), mixed.dump().c_str());
        const Run slurm = cli({"plan", "--slurm", "--prompt", "x"});
        QCOMPARE(slurm.exit_code, 1);
        QVERIFY2(slurm.err.find("--topology") != std::string::npos, slurm.err.c_str());
        qunsetenv("XDG_CACHE_HOME");
    }

    // bench predict: a topology predicted, then run on real workers, the two
    // side by side. --calibration-only measures this machine for the row and
    // keeps it nowhere else; without it, the row's runs teach the cache
    // (--remeasure: measured again before the row, all the same).
    void benchPredictSetsPredictedBesideMeasured_data() {
        QTest::addColumn<QStringList>("flags");
        QTest::addColumn<bool>("learning");
        QTest::newRow("calibration only") << QStringList{"--calibration-only"} << false;
        QTest::newRow("learning, measured again") << QStringList{"--remeasure"} << true;
    }
    void benchPredictSetsPredictedBesideMeasured() {
        QFETCH(QStringList, flags);
        QFETCH(bool, learning);
        const QString cache = work.path() + "/bench-predict-cache-" + QTest::currentDataTag(), out = work.path() + "/bench-predict.json";
        qputenv("XDG_CACHE_HOME", cache.toUtf8());
        const Run run = cli(QStringList{"bench", "predict", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--random-init", "tiny", "--sequences",
                                        "2", "--tokens", "4", "--out", out} +
                            flags);
        qunsetenv("XDG_CACHE_HOME");
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        QVERIFY2(run.out.find("pipeline-2") != std::string::npos && run.out.find("as written") != std::string::npos, run.out.c_str());
        const auto doc = nlohmann::json::parse(read_file(out.toStdString()));
        QVERIFY(doc["remeasured"].get<bool>());
        QCOMPARE(doc["learning"].get<bool>(), learning);
        QCOMPARE(doc["rows"].size(), 1u);
        const auto& row = doc["rows"][0];
        QVERIFY(row["predicted_tokens_per_second"].get<double>() > 0 && row["measured_tokens_per_second"].get<double>() > 0);
        QCOMPARE(row["ratio"].get<double>(),
                 row["measured_tokens_per_second"].get<double>() / row["predicted_tokens_per_second"].get<double>());
        const std::string cache_file = (cache + "/distgpt/node-rates.json").toStdString();
        if (!learning) {
            QVERIFY2(!std::filesystem::exists(cache_file), "--calibration-only wrote the machine's cache");
            return;
        }
        const auto kept = nlohmann::json::parse(read_file(cache_file));
        bool taught = false;
        for (const auto& [key, value] : kept.items()) taught |= key.starts_with("learned | ") && value.contains("step_ms");
        QVERIFY2(taught, kept.dump(1).c_str());
    }

    // serve with strategy auto: each split of its nodes predicted for its
    // load (its requests at once), the fastest served, and why said. (Here,
    // not in test_serve: measuring this machine under ThreadSanitizer, which
    // runs test_serve, takes minutes.)
    void serveChoosesItsStrategy() {
        const auto topology = path_of(work) / "serve-auto.json";
        write_file(topology, R"({"strategy": "auto", "nodes": [{"name": "a", "threads": 1}, {"name": "b", "threads": 1}]})");
        QProcess server;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("XDG_CACHE_HOME", work.path() + "/serve-cache");
        server.setProcessEnvironment(env);
        server.setStandardErrorFile(work.path() + "/serve-auto.log");
        server.start(DISTGPT_CLI, {"serve", "--topology", q(topology), "--port", "0", "--max-in-flight", "2"});
        QTRY_VERIFY_WITH_TIMEOUT(server.canReadLine() || server.state() == QProcess::NotRunning, 120000);
        const QString listening = QString::fromUtf8(server.readLine());
        const std::string log = read_file((work.path() + "/serve-auto.log").toStdString());
        server.terminate();
        server.waitForFinished(20000);
        QVERIFY2(listening.startsWith("listening on http://"), log.c_str());
        std::smatch chosen;
        QVERIFY2(std::regex_search(log, chosen, std::regex("strategy auto: (pipeline|tensor 2)[^\n]*tokens/s predicted")), log.c_str());
        const std::string strategy = chosen[1] == "pipeline" ? "pipeline" : "tensor";
        QVERIFY2(log.find("plan (" + strategy + ",") != std::string::npos, log.c_str());
    }

    // A node elsewhere (a worker started by hand, reached over TCP) measures
    // its own speed the first time a run with --predict meets it; the
    // controller keeps it, and plan --predict then uses it, saying so. The
    // worker keeps its measurement too: asked again, it answers at once.
    void aNodeElsewhereMeasuresItselfOnFirstContact() {
        const QString controllerCache = work.path() + "/controller-cache", workerCache = work.path() + "/worker-cache";
        const int port = free_tcp_port();
        QProcess worker;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("XDG_CACHE_HOME", workerCache);
        worker.setProcessEnvironment(env);
        worker.setStandardOutputFile(work.path() + "/far.out");
        worker.setStandardErrorFile(work.path() + "/far.err");
        worker.start(DISTGPT_WORKER, {"--listen", QString("tcp://127.0.0.1:%1").arg(port), "--name", "far", "--threads", "1"});
        QVERIFY(worker.waitForStarted());
        const auto stopWorker = qScopeGuard([&] {  // on a failure too
            worker.kill();
            worker.waitForFinished();
        });
        const auto topology = path_of(work) / "far.json";
        write_file(topology, "{\"nodes\": [{\"name\": \"near\"}, {\"name\": \"far\", \"endpoint\": \"tcp://127.0.0.1:" +
                                 std::to_string(port) + "\", \"speed\": 0.1}]}");
        qputenv("XDG_CACHE_HOME", controllerCache.toUtf8());
        const QStringList plan{"plan", "--random-init", "tiny", "--topology", q(topology), "--prompt", "x", "--predict"};
        // far's predicted compute time per layer it holds (its head, small here, counted in)
        auto far_ms_per_layer = [&] {
            const auto plan_json =
                cli({"plan", "--random-init", "tiny", "--topology", q(topology), "--prompt", "x", "--json", "--predict"}).json();
            const auto& layers = plan_json["stages"][1]["layers"];
            return plan_json["prediction"]["nodes"][1]["compute_ms"].get<double>() / (layers[1].get<int>() - layers[0].get<int>());
        };
        const double declared_ms = far_ms_per_layer();  // a tenth of this machine's speed, as declared
        const Run before = cli(plan);
        QVERIFY2(before.exit_code == 0, before.err.c_str());
        QVERIFY2(before.out.find("far run elsewhere, not measured yet") != std::string::npos, before.out.c_str());
        QTRY_VERIFY_WITH_TIMEOUT(listening_on(port), 20000);  // the worker has bound its port
        const Run run =
            cli({"run", "--random-init", "tiny", "--topology", q(topology), "--prompt", "x", "--max-new-tokens", "4", "--predict"});
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        QVERIFY2(run.err.find("node far: measured its speed") != std::string::npos, run.err.c_str());
        QVERIFY2(run.err.find("far run elsewhere: as measured there on first contact") != std::string::npos, run.err.c_str());
        // Kept on both sides: the controller's under the worker's host, the worker's under its own machine.
        const auto kept = nlohmann::json::parse(read_file((controllerCache + "/distgpt/node-rates.json").toStdString()));
        bool elsewhere = false;
        for (const auto& [key, rates] : kept.items()) elsewhere |= key.starts_with("elsewhere 127.0.0.1 | ");
        QVERIFY2(elsewhere, kept.dump().c_str());
        QVERIFY(QFile::exists(workerCache + "/distgpt/node-rates.json"));
        const Run after = cli(plan);
        QVERIFY2(after.exit_code == 0, after.err.c_str());
        QVERIFY2(after.out.find("far run elsewhere: as measured there on first contact") != std::string::npos, after.out.c_str());
        // Measured there (this very machine, in truth), its declared tenth no longer counts: a layer there
        // is predicted about ten times faster. (Not compared by the layers it gets: a tiny model's layers
        // take microseconds, and two measurements on a loaded machine can differ enough to keep the split.)
        QVERIFY2(after.out != before.out, after.out.c_str());
        const double measured_ms = far_ms_per_layer();
        QVERIFY2(measured_ms < declared_ms / 3,
                 qPrintable(QString("far: %1 ms a layer as measured, %2 as declared").arg(measured_ms).arg(declared_ms)));
        const Run again =
            cli({"run", "--random-init", "tiny", "--topology", q(topology), "--prompt", "x", "--max-new-tokens", "4", "--predict"});
        QVERIFY2(again.exit_code == 0, again.err.c_str());
        QVERIFY2(again.err.find("measured its speed") == std::string::npos, again.err.c_str());  // known: not asked again
        qunsetenv("XDG_CACHE_HOME");
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
