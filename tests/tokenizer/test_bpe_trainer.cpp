// The byte-level BPE trainer: merges by pair frequency, the same vocabulary
// from the same text, any text back as it went in.
#include "support/expect_error.h"
#include "support/fixtures.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

#include <QTest>

#include <fstream>

using namespace distgpt;
using namespace distgpt::test;

namespace {

std::unique_ptr<HfTokenizer> tokenizer_of(const nlohmann::json& j) {
    return std::make_unique<HfTokenizer>(j, byte_level_bpe_config(), "trained");
}

std::vector<std::pair<std::string, std::string>> merges_of(const nlohmann::json& j) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& m : j["model"]["merges"]) out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    return out;
}

const std::string kSpace = "\xC4\xA0";  // Ġ, a space in byte-level form

}  // namespace

class TestBpeTrainer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // "ab" occurs three times, "Ġa"… twice: the pair seen most is merged first;
    // among equals, the pair whose tokens sort first ("c" before "Ġ").
    void mergesThePairSeenMostFirst() {
        const auto j = train_byte_level_bpe("ab ab ab cd cd xy", 1000);
        const std::vector<std::pair<std::string, std::string>> expected = {{"a", "b"}, {"c", "d"}, {kSpace, "ab"}, {kSpace, "cd"}};
        QCOMPARE(merges_of(j), expected);  // then no pair occurs twice
        const auto tok = tokenizer_of(j);
        QCOMPARE(tok->size(), std::size_t(256 + 4 + 1));
        QCOMPARE(tok->encode(" ab").size(), std::size_t(1));
        QCOMPARE(tok->eos_id().value(), 260);
        QVERIFY(!tok->bos_id());
    }

    void stopsAtTheVocabularySize() {
        const auto j = train_byte_level_bpe("ab ab ab cd cd xy", 258);
        QCOMPARE(merges_of(j).size(), std::size_t(1));
        QCOMPARE(tokenizer_of(j)->size(), std::size_t(258));
    }

    void theSameTextGivesTheSameVocabulary() {
        std::ifstream in(std::string(TEST_DATA_DIR) + "/tokenizer_texts.json");
        const auto texts = nlohmann::json::parse(in);
        std::string corpus;
        for (const auto& t : texts) corpus += t.get<std::string>() + "\n";
        const auto a = train_byte_level_bpe(corpus, 600), b = train_byte_level_bpe(corpus, 600);
        QCOMPARE(QString::fromStdString(a.dump()), QString::fromStdString(b.dump()));
        // It reads the text it learned from in fewer tokens than bytes, and gives every text back.
        const auto tok = tokenizer_of(a);
        const std::size_t tokens = tok->encode(corpus).size();
        qInfo("the corpus: %zu bytes, %zu tokens", corpus.size(), tokens);
        QVERIFY(tokens * 3 < corpus.size() * 2);
        for (const auto& t : texts) QCOMPARE(tok->decode(tok->encode(t.get<std::string>())), t.get<std::string>());
        QCOMPARE(tok->decode(tok->encode("never seen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ \t\r\n")), std::string("never seen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ \t\r\n"));
    }

    void refusesWhatCannotBeLearned() {
        EXPECT_ERROR(train_byte_level_bpe("text", 100), "--vocab-size must be 257 to 1048576, not 100");
        EXPECT_ERROR(train_byte_level_bpe("caf\xC3", 300), "not valid UTF-8 at byte 3");
    }
};

QTEST_GUILESS_MAIN(TestBpeTrainer)
#include "test_bpe_trainer.moc"
