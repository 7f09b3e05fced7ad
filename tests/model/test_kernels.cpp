// The decode kernel for every weight format against a plain reference: odd
// shapes (tails of the vector width and of the 4-row blocks, batches past
// 32 rows), column blocks as tensor parallelism takes them, and each row's
// bits independent of the rows beside it.
#include "model/rows_times_weight.h"

#include <ATen/ATen.h>
#include <QTest>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace distgpt;

namespace {

at::ScalarType scalar_type(WeightFormat f) {
    return f == WeightFormat::BF16 ? at::kBFloat16 : f == WeightFormat::F16 ? at::kHalf : at::kFloat;
}

struct Case {
    at::Tensor x;  // [n, ldx] fp32
    at::Tensor w;  // [out, ldw] in the format
};

Case random_case(WeightFormat f, int n, int ldx, int out, int ldw, uint64_t seed) {
    at::manual_seed(seed);
    return {at::randn({n, ldx}), at::randn({out, ldw}).to(scalar_type(f))};
}

}  // namespace

class TestKernels : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesAPlainReference_data() {
        QTest::addColumn<int>("format");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("out");
        QTest::addColumn<int>("in");
        QTest::addColumn<int>("first");  // column where the block starts (a tensor-parallel share)
        for (WeightFormat f : weight_formats()) {
            const std::string name = weight_format_name(f);
            auto row = [&](const char* what, int n, int out, int in, int first) {
                QTest::newRow((name + ", " + what).c_str()) << int(f) << n << out << in << first;
            };
            row("one row, round sizes", 1, 64, 128, 0);
            row("tails of 8 and of 4", 3, 37, 29, 0);
            row("one column", 2, 5, 1, 0);
            row("33 rows: two passes", 33, 12, 40, 0);
            row("second share of columns", 4, 20, 24, 24);
            row("odd share at an odd column", 2, 9, 13, 7);
        }
    }
    void matchesAPlainReference() {
        QFETCH(int, format);
        QFETCH(int, n);
        QFETCH(int, out);
        QFETCH(int, in);
        QFETCH(int, first);
        const auto f = static_cast<WeightFormat>(format);
        const int ld = first + in + 3;  // rows wider than the block read
        const Case c = random_case(f, n, ld, out, ld, 7);
        const at::Tensor bias = at::randn({out});
        at::Tensor y = at::empty({n, out});
        const WeightRows w{c.w.data_ptr(), f, ld};
        rows_times_weight(c.x.data_ptr<float>() + first, ld, n, w.columns_from(first), bias.data_ptr<float>(), out, in, y.data_ptr<float>(),
                          2);
        // In double, from the weights as stored widened by libtorch.
        const at::Tensor xs = c.x.narrow(1, first, in).to(at::kDouble), ws = c.w.narrow(1, first, in).to(at::kDouble);
        const at::Tensor want = at::matmul(xs, ws.t()) + bias.to(at::kDouble);  // [n, out]
        const double err = (y.to(at::kDouble) - want).abs().max().item<double>();
        QVERIFY2(err < 1e-4 * std::sqrt(double(in)) * 4, qPrintable(QString("max error %1").arg(err)));
    }

    // A row's bits are its own: alone, or among 7 others, on 1 or 2 threads.
    void aRowsBitsDoNotDependOnItsNeighbours_data() {
        QTest::addColumn<int>("format");
        for (WeightFormat f : weight_formats()) QTest::newRow(weight_format_name(f).c_str()) << int(f);
    }
    void aRowsBitsDoNotDependOnItsNeighbours() {
        QFETCH(int, format);
        const auto f = static_cast<WeightFormat>(format);
        const int out = 70, in = 99;
        const Case c = random_case(f, 8, in, out, in, 11);
        const WeightRows w{c.w.data_ptr(), f, in};
        at::Tensor all = at::empty({8, out}), one = at::empty({1, out});
        rows_times_weight(c.x.data_ptr<float>(), in, 8, w, nullptr, out, in, all.data_ptr<float>(), 2);
        rows_times_weight(c.x.data_ptr<float>() + 5 * in, in, 1, w, nullptr, out, in, one.data_ptr<float>(), 1);
        QVERIFY(std::memcmp(all[5].data_ptr<float>(), one.data_ptr<float>(), out * sizeof(float)) == 0);
    }

    // Every one of the 65536 halves, against libtorch's conversion.
    void portableHalfWideningIsExact() {
        for (uint32_t h = 0; h < 65536; ++h) {
            uint16_t bits = static_cast<uint16_t>(h);
            at::Half half;
            std::memcpy(&half, &bits, 2);
            const float want = static_cast<float>(half), got = widen_f16(bits);
            if (std::isnan(want)) {
                QVERIFY2(std::isnan(got), qPrintable(QString::number(h, 16)));
                continue;
            }
            QVERIFY2(std::memcmp(&want, &got, 4) == 0, qPrintable(QString("0x%1: %2 vs %3").arg(h, 4, 16).arg(want).arg(got)));
        }
    }
};

QTEST_GUILESS_MAIN(TestKernels)
#include "test_kernels.moc"
