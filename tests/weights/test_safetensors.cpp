#include "support/expect_error.h"
#include "support/fixtures.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"

#include <QTest>

#include <cstring>

using namespace distgpt;
using namespace distgpt::test;

namespace {

// A file from a literal header and data bytes, bypassing the writer's checks.
std::string raw_file(const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return bytes + header + data;
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTripsEveryWeightDtype() {
        QTemporaryDir dir;
        const float f32[6] = {1.5f, -2.f, 3.25f, 0.f, 1e-3f, 7.f};
        const uint16_t f16[4] = {0x3C00, 0xC000, 0x3555, 0x0000};  // 1, -2, 0.333, 0
        const uint16_t bf16[3] = {0x3F80, 0xC040, 0x4049};         // 1, -3, 3.14
        const auto path = path_of(dir) / "model.safetensors";
        write_safetensors(
            path, {{{"a.f32", DType::F32, {2, 3}}, f32}, {{"b.f16", DType::F16, {4}}, f16}, {{"c.bf16", DType::BF16, {1, 3}}, bf16}},
            {{"format", "pt"}});
        SafetensorsFile file(path);
        QCOMPARE(file.tensors().size(), size_t(3));
        QCOMPARE(file.metadata().at("format"), std::string("pt"));
        const auto* a = file.find("a.f32");
        QVERIFY(a);
        QCOMPARE(a->dtype, DType::F32);
        QCOMPARE(a->shape, (std::vector<int64_t>{2, 3}));
        QCOMPARE(std::memcmp(a->data, f32, sizeof f32), 0);
        QCOMPARE(file.find("b.f16")->dtype, DType::F16);
        QCOMPARE(std::memcmp(file.find("b.f16")->data, f16, sizeof f16), 0);
        QCOMPARE(file.find("c.bf16")->dtype, DType::BF16);
        QCOMPARE(std::memcmp(file.find("c.bf16")->data, bf16, sizeof bf16), 0);
        QVERIFY(!file.find("missing"));
        // The header is padded to 8 bytes, so tensor data is aligned.
        QCOMPARE(reinterpret_cast<uintptr_t>(a->data) % 8, uintptr_t(0));
    }

    void readsShardedCheckpointThroughItsIndex() {
        QTemporaryDir dir;
        const float one[2] = {1, 2}, two[3] = {3, 4, 5};
        write_safetensors(path_of(dir) / "model-00001-of-00002.safetensors", {{{"x", DType::F32, {2}}, one}});
        write_safetensors(path_of(dir) / "model-00002-of-00002.safetensors", {{{"y", DType::F32, {3}}, two}});
        write_file(
            path_of(dir) / "model.safetensors.index.json",
            R"({"metadata": {"total_size": 20}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}})");
        SafetensorsCheckpoint checkpoint(path_of(dir));
        QCOMPARE(checkpoint.file_count(), size_t(2));
        QVERIFY(checkpoint.contains("x") && checkpoint.contains("y"));
        QCOMPARE(checkpoint.get("y").shape, (std::vector<int64_t>{3}));
        QCOMPARE(reinterpret_cast<const float*>(checkpoint.get("y").data)[2], 5.f);
        EXPECT_ERROR(checkpoint.get("z"), "'z'", "2 safetensors shards");
    }

    void refusesABrokenIndex_data() {
        QTest::addColumn<QString>("index");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing shard") << R"({"weight_map": {"x": "gone.safetensors"}})"
                                       << "gone.safetensors is listed but missing";
        QTest::newRow("tensor not in shard") << R"({"weight_map": {"nope": "a.safetensors"}})"
                                             << "'nope'";
        QTest::newRow("path escape") << R"({"weight_map": {"x": "../a.safetensors"}})"
                                     << "plain file name";
        QTest::newRow("no weight_map") << R"({"metadata": {}})"
                                       << "no weight_map";
        QTest::newRow("not json") << R"({"weight_map": )"
                                  << "not valid JSON";
    }
    void refusesABrokenIndex() {
        QFETCH(QString, index);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const float one[2] = {1, 2};
        write_safetensors(path_of(dir) / "a.safetensors", {{{"x", DType::F32, {2}}, one}});
        write_file(path_of(dir) / "model.safetensors.index.json", index.toStdString());
        EXPECT_ERROR(SafetensorsCheckpoint{path_of(dir)}, "model.safetensors.index.json", expected.toStdString());
    }

    void refusesACorruptFile_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        const std::string data16(16, '\1');
        auto row = [](const char* name, const std::string& bytes, const char* expected) {
            QTest::newRow(name) << QByteArray(bytes.data(), static_cast<int>(bytes.size())) << expected;
        };
        row("empty file", "", "too short");
        row("cut inside the length", std::string(5, '\0'), "too short");
        row("header longer than file", raw_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", data16).substr(0, 30),
            "header claims");
        row("huge header length", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "100 MB");
        row("header not json", raw_file("{\"w\": [", data16), "not valid JSON");
        row("header not an object", raw_file("[1, 2]  ", data16), "not a JSON object");
        row("offsets past the data", raw_file(R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})", data16), "tensor 'w'");
        row("truncated data", raw_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", data16.substr(0, 9)),
            "truncated");
        row("shape lies about size", raw_file(R"({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}})", data16),
            "needs 36 bytes");
        row("offsets reversed", raw_file(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}})", data16),
            "data_offsets [16, 0]");
        row("unknown dtype", raw_file(R"({"w": {"dtype": "F7", "shape": [4], "data_offsets": [0, 16]}})", data16), "unknown dtype 'F7'");
        row("negative dimension", raw_file(R"({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", data16), "negative");
        row("overflowing shape",
            raw_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 16]}})", data16),
            "overflows");
        row("missing dtype", raw_file(R"({"w": {"shape": [4], "data_offsets": [0, 16]}})", data16), "missing dtype");
        row("bad offsets", raw_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", data16), "data_offsets must be");
    }
    void refusesACorruptFile() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const auto path = path_of(dir) / "model.safetensors";
        write_file(path, bytes.toStdString());
        EXPECT_ERROR(SafetensorsFile{path}, path.string(), expected.toStdString());
    }

    void namesAMissingFolderAndFile() {
        QTemporaryDir dir;
        EXPECT_ERROR(SafetensorsCheckpoint{path_of(dir)}, "no model.safetensors");
        EXPECT_ERROR(SafetensorsFile{path_of(dir) / "absent.safetensors"}, "absent.safetensors", "cannot open");
    }

    void writerRefusesWrongSizes() {
        QTemporaryDir dir;
        const auto path = path_of(dir) / "w.safetensors";
        {
            SafetensorsWriter writer(path, {{"a", DType::F32, {4}}});
            const float v[4] = {};
            EXPECT_ERROR(writer.write(v, 8), "declared 16 bytes");
        }
        QVERIFY(!std::filesystem::exists(path));  // an unfinished file never appears under its name
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
