#include "support/expect_error.h"
#include "support/fixtures.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/utf8.h"

#include <QTest>

using namespace distgpt;
using namespace distgpt::test;

class TestUtf8AndCharTokenizer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void findsInvalidUtf8_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("offset");  // -1 = valid
        QTest::newRow("ascii") << QByteArray("hello") << -1;
        QTest::newRow("accents and emoji") << QByteArray("caf\xc3\xa9 \xf0\x9f\x98\x80") << -1;
        QTest::newRow("lone continuation") << QByteArray("ab\x80") << 2;
        QTest::newRow("cut sequence") << QByteArray("x\xe4\xb8") << 1;
        QTest::newRow("overlong slash") << QByteArray("\xc0\xaf") << 0;
        QTest::newRow("surrogate") << QByteArray("a\xed\xa0\x80") << 1;
        QTest::newRow("past U+10FFFF") << QByteArray("\xf4\x90\x80\x80") << 0;
        QTest::newRow("invalid byte") << QByteArray("ok\xff") << 2;
    }
    void findsInvalidUtf8() {
        QFETCH(QByteArray, text);
        QFETCH(int, offset);
        const auto bad = utf8::first_invalid(std::string_view(text.constData(), text.size()));
        QCOMPARE(bad ? static_cast<int>(*bad) : -1, offset);
    }

    void holdsBackACharacterCutAcrossTokens_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("ready");
        QTest::newRow("complete") << QByteArray("ab\xc3\xa9") << 4;
        QTest::newRow("lead of two") << QByteArray("ab\xc3") << 2;
        QTest::newRow("two of three") << QByteArray("a\xe4\xb8") << 1;
        QTest::newRow("three of four") << QByteArray("\xf0\x9f\x98") << 0;
        QTest::newRow("whole emoji") << QByteArray("\xf0\x9f\x98\x80") << 4;
        QTest::newRow("garbage passes") << QByteArray("a\xff") << 2;
    }
    void holdsBackACharacterCutAcrossTokens() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, ready);
        QCOMPARE(static_cast<int>(utf8::complete_prefix(std::string_view(bytes.constData(), bytes.size()))), ready);
    }

    void charTokenizerRoundTripsAndSaves() {
        const std::string text = "First Citizen:\nBefore we proceed, hear me speak. \xe2\x80\x94 h\xc3\xa9llo \xe4\xb8\xad";
        auto tok = CharTokenizer::from_text(text);
        const auto ids = tok->encode(text);
        QCOMPARE(tok->encode("h\xc3\xa9llo, \xe4\xb8\xad").size(), size_t(8));  // characters, not bytes
        QCOMPARE(tok->decode(ids), text);
        QTemporaryDir dir;
        tok->save(path_of(dir));
        auto loaded = load_tokenizer(path_of(dir));
        QCOMPARE(loaded->kind(), std::string("char"));
        QCOMPARE(loaded->encode(text), ids);
    }

    void charTokenizerNamesAnUnknownCharacter() {
        auto tok = CharTokenizer::from_text("abc");
        EXPECT_ERROR(tok->encode("abz"), "'z'", "byte 2", "not in this model's character vocabulary");
        EXPECT_ERROR(tok->encode("a\xff"), "not valid UTF-8 at byte 1");
        EXPECT_ERROR(tok->token_bytes(3), "token id 3");
    }

    void bytesOnlyTokenizerSpellsAnything() {
        auto tok = ByteLevelBpe::bytes_only(50256);
        const std::string text = "any text at all: \xe4\xb8\xad \xf0\x9f\x98\x80\n\t";
        const auto ids = tok->encode(text);
        QCOMPARE(ids.size(), text.size());
        QCOMPARE(tok->decode(ids), text);
        QCOMPARE(tok->encode("!")[0], 0);  // GPT-2's id order: '!' is id 0
        QCOMPARE(tok->encode("<|endoftext|>"), std::vector<int>{50256});
        QVERIFY(!tok->has_token(300));
    }

    void missingTokenizerFilesAreNamed() {
        QTemporaryDir dir;
        EXPECT_ERROR(load_tokenizer(path_of(dir)), "no tokenizer files");
        // Found by fuzz_tokenizer: two tokens with one id broke decode(encode(s)) == s.
        write_file(path_of(dir) / "vocab.json", R"({"a": 0, "b": 1, "ab": 2, "x": 2})");
        write_file(path_of(dir) / "merges.txt", "#version: 0.2\na b\n");
        EXPECT_ERROR(load_tokenizer(path_of(dir)), "gives id 2 to both");
        // Found by fuzz_tokenizer: one huge id asked for gigabytes.
        write_file(path_of(dir) / "vocab.json", R"({"p": 88888889, "a": 0})");
        EXPECT_ERROR(load_tokenizer(path_of(dir)), "gives 'p' the id 88888889, out of range for 2 tokens");
    }
};

QTEST_GUILESS_MAIN(TestUtf8AndCharTokenizer)
#include "test_utf8_and_char_tokenizer.moc"
