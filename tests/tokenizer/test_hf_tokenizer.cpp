// tokenizer.json for the LLaMA family, against references nobody here wrote:
// Llama 2's SentencePiece-style BPE and Llama 3's byte-level BPE, as the npm
// packages llama-tokenizer-js and llama3-tokenizer-js encode a varied corpus
// (fetch_llama_tokenizers.sh builds the files and their expected ids).
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

using namespace distgpt;
using namespace distgpt::test;
using nlohmann::json;

namespace {

const std::filesystem::path kFixtures = LLAMA_TOKENIZERS_DIR;

json read(const std::filesystem::path& p) {
    std::ifstream in(p);
    return json::parse(in);
}

// A copy of a fixture's files with its tokenizer.json changed by `edit`.
std::filesystem::path variant(const QTemporaryDir& dir, const std::string& which, const std::function<void(json&)>& edit) {
    json t = read(kFixtures / which / "tokenizer.json");
    edit(t);
    std::ofstream(path_of(dir) / "tokenizer.json") << t.dump();
    std::filesystem::copy_file(kFixtures / which / "tokenizer_config.json", path_of(dir) / "tokenizer_config.json",
                               std::filesystem::copy_options::overwrite_existing);
    return path_of(dir);
}

// Random valid UTF-8 from every plane the corpus misses: ASCII punctuation
// runs, Latin with combining marks, CJK, emoji, private use, and the last
// code points before the surrogates and past the BMP.
std::string random_text(std::mt19937& rng) {
    const std::vector<std::pair<char32_t, char32_t>> ranges = {{0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0x24F},       {0x300, 0x36F},
                                                               {0x4E00, 0x9FFF}, {0x1F300, 0x1FAFF}, {0xE000, 0xE0FF},    {0xD700, 0xD7FF},
                                                               {0xFFF0, 0xFFFD}, {0x10000, 0x1007F}, {0x10FF00, 0x10FFFF}};
    std::string s;
    const int n = std::uniform_int_distribution<int>(0, 60)(rng);
    for (int i = 0; i < n; ++i) {
        const auto& [lo, hi] = ranges[std::uniform_int_distribution<std::size_t>(0, ranges.size() - 1)(rng)];
        const int run = std::uniform_int_distribution<int>(1, 4)(rng);
        for (int k = 0; k < run; ++k) s += utf8::encode(std::uniform_int_distribution<char32_t>(lo, hi)(rng));
    }
    return s;
}

}  // namespace

class TestHfTokenizer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void encodesAsTheReference_data() {
        QTest::addColumn<QString>("which");
        QTest::newRow("Llama 2 (SentencePiece BPE, byte fallback)") << "llama2";
        QTest::newRow("Llama 3 (byte-level BPE, its own split pattern)") << "llama3";
    }
    void encodesAsTheReference() {
        QFETCH(QString, which);
        const auto tok = HfTokenizer::from_folder(kFixtures / which.toStdString());
        int texts = 0, tokens = 0;
        for (const auto& e : read(kFixtures / which.toStdString() / "expected.json")) {
            const std::string text = e["text"].get<std::string>();
            const auto ids = tok->encode(text);
            QVERIFY2(ids == e["ids"].get<std::vector<int>>(), text.c_str());
            QCOMPARE(tok->decode(ids), text);
            ++texts;
            tokens += static_cast<int>(ids.size());
        }
        qInfo("%s: %d texts, %d tokens, all as the reference encodes them", qPrintable(which), texts, tokens);
        QVERIFY(texts >= 20);
    }

    // BOS and EOS as tokenizer_config.json and the post-processor say.
    void promptsStartAsTheModelsExpect_data() {
        QTest::addColumn<QString>("which");
        QTest::addColumn<int>("bos");
        QTest::addColumn<int>("eos");
        QTest::addColumn<QString>("kind");
        QTest::newRow("Llama 2") << "llama2" << 1 << 2 << "SentencePiece BPE";
        QTest::newRow("Llama 3") << "llama3" << 128000 << 128001 << "byte-level BPE";
    }
    void promptsStartAsTheModelsExpect() {
        QFETCH(QString, which);
        QFETCH(int, bos);
        QFETCH(int, eos);
        QFETCH(QString, kind);
        const auto tok = HfTokenizer::from_folder(kFixtures / which.toStdString());
        const auto prompt = tok->encode_prompt("Hello world");
        QCOMPARE(prompt.front(), bos);
        QCOMPARE(std::vector<int>(prompt.begin() + 1, prompt.end()), tok->encode("Hello world"));
        QCOMPARE(tok->eos_id().value(), eos);
        QCOMPARE(QString::fromStdString(tok->kind()), kind);
        // A continuation keeps its leading space (it follows its prompt); a
        // text decoded from its start loses the space SentencePiece prepended.
        const auto world = tok->encode(which == "llama2" ? "world" : " world");  // one token: "▁world" or "Ġworld"
        QCOMPARE(world.size(), std::size_t(1));
        QCOMPARE(tok->generated_text(world, false), std::string(" world"));
        QCOMPARE(tok->decode(world), std::string(which == "llama2" ? "world" : " world"));
        // tokenizer_config.json's add_bos_token overrides the template.
        QTemporaryDir dir;
        variant(dir, which.toStdString(), [](json&) {});
        json config = read(path_of(dir) / "tokenizer_config.json");
        config["add_bos_token"] = false;
        std::ofstream(path_of(dir) / "tokenizer_config.json") << config.dump();
        QCOMPARE(HfTokenizer::from_folder(path_of(dir))->encode_prompt("Hello"), tok->encode("Hello"));
    }

    // Any valid UTF-8 comes back as it went in.
    void anyTextRoundTrips_data() {
        QTest::addColumn<QString>("which");
        QTest::newRow("Llama 2") << "llama2";
        QTest::newRow("Llama 3") << "llama3";
    }
    void anyTextRoundTrips() {
        QFETCH(QString, which);
        const auto tok = HfTokenizer::from_folder(kFixtures / which.toStdString());
        std::mt19937 rng(2026);
        for (int i = 0; i < 300; ++i) {
            const std::string text = random_text(rng);
            QVERIFY(!utf8::first_invalid(text));
            QCOMPARE(tok->decode(tok->encode(text)), text);
        }
    }

    // Newer conversions of SentencePiece models (Mistral, TinyLlama's later
    // files) say the same with a Metaspace pre-tokenizer (and Llama 2's
    // decoders). One
    // difference is Hugging Face's own: Metaspace prepends "▁" only to a text
    // that does not start with a space already, so such a text decodes one
    // space short.
    void metaspaceEncodesAsPrependAndReplace() {
        QTemporaryDir dir;
        variant(dir, "llama2", [](json& t) {
            t["normalizer"] = nullptr;
            t["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", false}};
        });
        const auto metaspace = HfTokenizer::from_folder(path_of(dir));
        const auto original = HfTokenizer::from_folder(kFixtures / "llama2");
        for (const auto& e : read(kFixtures / "llama2" / "expected.json")) {
            const std::string text = e["text"].get<std::string>();
            if (text.starts_with(' ')) {
                QCOMPARE(metaspace->decode(metaspace->encode(text)), text.substr(1));
                continue;
            }
            QCOMPARE(metaspace->encode(text), original->encode(text));
            QVERIFY2(metaspace->decode(metaspace->encode(text)) == text, text.c_str());
        }
    }

    // The Metaspace decoder alone turns "▁" back into spaces, less the first.
    void metaspaceDecodes() {
        QTemporaryDir dir;
        variant(dir, "llama2", [](json& t) {
            t["decoder"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
        });
        const auto tok = HfTokenizer::from_folder(path_of(dir));
        QCOMPARE(tok->decode(tok->encode("Hello brave new world")), std::string("Hello brave new world"));
        QCOMPARE(tok->generated_text(tok->encode("world"), false), std::string(" world"));
    }

    // Qwen2 normalises to NFC; SmolLM splits digits one by one.
    void normalisesAndSplitsDigitsWhereTheFileSays() {
        QTemporaryDir nfc_dir, digits_dir;
        const auto nfc = HfTokenizer::from_folder(variant(nfc_dir, "llama3", [](json& t) { t["normalizer"] = {{"type", "NFC"}}; }));
        QCOMPARE(nfc->encode("caf\x65\xCC\x81"), nfc->encode("caf\xC3\xA9"));  // e + combining acute is é
        const auto digits = HfTokenizer::from_folder(variant(digits_dir, "llama3", [](json& t) {
            t["pre_tokenizer"]["pretokenizers"].insert(t["pre_tokenizer"]["pretokenizers"].begin(),
                                                       json{{"type", "Digits"}, {"individual_digits", true}});
        }));
        const auto ids = digits->encode("2024");
        QCOMPARE(ids.size(), std::size_t(4));
        QCOMPARE(digits->decode(ids), std::string("2024"));
    }

    void refusesWhatItCannotRead_data() {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("expected");
        QTest::newRow("WordPiece") << "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}"
                                   << "model type 'WordPiece' is not supported (BPE: byte-level or SentencePiece-style)";
        QTest::newRow("a normalizer it lacks") << "{\"normalizer\": {\"type\": \"BertNormalizer\"}}"
                                               << "normalizer BertNormalizer is not supported";
        QTest::newRow("a pre-tokenizer it lacks") << "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}}"
                                                  << "pre_tokenizer Whitespace is not supported";
        QTest::newRow("a split that removes")
            << "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s\"}, \"behavior\": \"Removed\"}}"
            << "behavior 'Removed' is not supported";
        QTest::newRow("a pattern that does not compile")
            << "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}}}"
            << "does not compile";
        QTest::newRow("a decoder it lacks") << "{\"decoder\": {\"type\": \"WordPiece\"}}"
                                            << "decoder WordPiece is not supported";
        QTest::newRow("an added token without id") << "{\"added_tokens\": [{\"content\": \"<x>\"}]}"
                                                   << "an added token needs a string \"content\" and an integer \"id\"";
    }
    void refusesWhatItCannotRead() {
        QFETCH(QString, edit);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        variant(dir, "llama3", [&](json& t) { t.merge_patch(json::parse(edit.toStdString())); });
        EXPECT_ERROR(HfTokenizer::from_folder(path_of(dir)), "tokenizer.json", expected.toStdString());
    }

    void aFolderWithoutTokenizerJsonIsNamed() {
        QTemporaryDir dir;
        std::ofstream(path_of(dir) / "tokenizer.model") << "sentencepiece";
        EXPECT_ERROR(load_tokenizer(path_of(dir)), "has only tokenizer.model", "tokenizer.json");
        QTemporaryDir empty;
        EXPECT_ERROR(load_tokenizer(path_of(empty)), "no tokenizer files");
    }

    // A model folder's tokenizer is saved as it was read.
    void savesTheFilesItRead() {
        QTemporaryDir dir;
        const auto tok = HfTokenizer::from_folder(kFixtures / "llama2");
        tok->save(path_of(dir));
        const auto back = load_tokenizer(path_of(dir));
        QCOMPARE(back->kind(), tok->kind());
        QCOMPARE(back->encode_prompt("To be, or not to be"), tok->encode_prompt("To be, or not to be"));
    }
};

QTEST_GUILESS_MAIN(TestHfTokenizer)
#include "test_hf_tokenizer.moc"
