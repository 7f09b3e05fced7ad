#include "support/expect_error.h"
#include "support/fixtures.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/utf8.h"

#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

using namespace distgpt;
using namespace distgpt::test;

namespace {

const std::filesystem::path kVocab = GPT2_VOCAB_DIR;

struct Expected {
    std::string text;
    std::vector<int> ids;
};

// The reference encoder's ids (fetch_gpt2_vocab.sh ran OpenAI's algorithm in node).
std::vector<Expected> reference_encodings() {
    std::ifstream in(kVocab / "expected.json");
    const auto j = nlohmann::json::parse(in);
    std::vector<Expected> out;
    for (const auto& e : j) out.push_back({e["text"].get<std::string>(), e["ids"].get<std::vector<int>>()});
    return out;
}

// The same vocabulary in the tokenizer.json form of Hugging Face's tokenizers.
std::filesystem::path write_tokenizer_json(const std::filesystem::path& dir, bool merges_as_pairs) {
    std::ifstream vocab_in(kVocab / "vocab.json");
    nlohmann::json vocab = nlohmann::json::parse(vocab_in);
    nlohmann::json merges = nlohmann::json::array();
    std::ifstream merges_in(kVocab / "merges.txt");
    std::string line;
    while (std::getline(merges_in, line)) {
        if (line.empty() || line.starts_with("#version")) continue;
        const auto space = line.find(' ');
        if (merges_as_pairs)
            merges.push_back({line.substr(0, space), line.substr(space + 1)});
        else
            merges.push_back(line);
    }
    nlohmann::json j = {
        {"version", "1.0"},
        {"added_tokens", {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}}},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
    };
    std::ofstream(dir / "tokenizer.json") << j.dump();
    return dir;
}

}  // namespace

class TestGpt2Tokenizer : public QObject {
    Q_OBJECT
    std::unique_ptr<Tokenizer> tok;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(std::filesystem::exists(kVocab / "vocab.json"), "the fetch_gpt2_vocab fixture did not run");
        tok = load_tokenizer(kVocab);
        QCOMPARE(tok->kind(), std::string("gpt2-bpe"));
        QCOMPARE(tok->size(), size_t(50257));
        QCOMPARE(tok->eos_id().value(), 50256);
    }

    void encodesTheKnownExample() {
        QCOMPARE(tok->encode("Hello world, this is GPT-2!"), (std::vector<int>{15496, 995, 11, 428, 318, 402, 11571, 12, 17, 0}));
    }

    void matchesTheReferenceEncoder_data() {
        QTest::addColumn<int>("index");
        const auto all = reference_encodings();
        QVERIFY(all.size() >= 20);
        for (std::size_t i = 0; i < all.size(); ++i)
            QTest::newRow(utf8::escape_invalid(all[i].text.substr(0, 40)).c_str()) << static_cast<int>(i);
    }
    void matchesTheReferenceEncoder() {
        QFETCH(int, index);
        const auto e = reference_encodings()[index];
        QCOMPARE(tok->encode(e.text), e.ids);
        QCOMPARE(tok->decode(e.ids), e.text);
    }

    void tokenizerJsonEncodesTheSame_data() {
        QTest::addColumn<bool>("pairs");
        QTest::newRow("merges as \"a b\"") << false;
        QTest::newRow("merges as [a, b]") << true;
    }
    void tokenizerJsonEncodesTheSame() {
        QFETCH(bool, pairs);
        QTemporaryDir dir;
        auto from_json = load_tokenizer(write_tokenizer_json(path_of(dir), pairs));
        for (const auto& e : reference_encodings()) QCOMPARE(from_json->encode(e.text), e.ids);
        QCOMPARE(from_json->eos_id().value(), 50256);
    }

    void endOfTextIsOneSpecialToken() {
        const auto ids = tok->encode("The end.<|endoftext|>A new start");
        std::vector<int> expected = tok->encode("The end.");
        expected.push_back(50256);
        const auto tail = tok->encode("A new start");
        expected.insert(expected.end(), tail.begin(), tail.end());
        QCOMPARE(ids, expected);
        QCOMPARE(tok->decode(ids), std::string("The end.<|endoftext|>A new start"));
    }

    // decode(encode(s)) == s for seeded random UTF-8 from every plane.
    void roundTripsRandomUnicode() {
        std::mt19937 rng(1234);
        std::uniform_int_distribution<int> length(1, 60), kind(0, 5);
        for (int n = 0; n < 300; ++n) {
            std::string s;
            for (int i = length(rng); i > 0; --i) {
                char32_t cp;
                switch (kind(rng)) {
                    case 0: cp = 0x20 + rng() % 0x5F; break;      // ASCII
                    case 1: cp = " \n\t\r"[rng() % 4]; break;     // whitespace runs
                    case 2: cp = 0xA0 + rng() % 0x500; break;     // Latin, Greek, Cyrillic
                    case 3: cp = 0x4E00 + rng() % 0x5000; break;  // CJK
                    case 4: cp = 0x1F300 + rng() % 0x300; break;  // emoji
                    default:
                        cp = 0x1 + rng() % 0x10FFFE;
                        if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
                        break;
                }
                s += utf8::encode(cp);
            }
            const auto ids = tok->encode(s);
            QCOMPARE(tok->decode(ids), s);
        }
    }

    void refusesInvalidUtf8() {
        EXPECT_ERROR(tok->encode("valid then \xc3\x28 broken"), "not valid UTF-8 at byte 11");
        EXPECT_ERROR(tok->encode("\xff"), "byte 0");
    }

    void refusesMismatchedFiles() {
        QTemporaryDir dir;
        write_file(path_of(dir) / "vocab.json", R"({"a": 0, "b": 1})");
        write_file(path_of(dir) / "merges.txt", "#version: 0.2\na b\n");
        auto broken = load_tokenizer(path_of(dir));
        EXPECT_ERROR(broken->encode("ab"), "'ab'", "not in the vocabulary");
        write_file(path_of(dir) / "merges.txt", "#version: 0.2\nab\n");
        EXPECT_ERROR(load_tokenizer(path_of(dir)), "merges.txt", "merge 1");
    }
};

QTEST_GUILESS_MAIN(TestGpt2Tokenizer)
#include "test_gpt2_tokenizer.moc"
