// The decode kernel for every weight format against a plain reference: odd
// shapes (tails of the vector width and of the 4-row blocks, batches past
// 32 rows), column blocks as tensor parallelism takes them, and each row's
// bits independent of the rows beside it.
#include "model/rows_times_weight.h"
#include "model/cached_attention.h"
#include "model/row_kernels.h"
#include "model/held_matrix.h"
#include "proto/wire_format.h"
#include "weights/block_quant.h"
#include "support/expect_error.h"
#include "weights/half_float.h"

#include <ATen/ATen.h>
#include <QTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace distgpt;

namespace {

struct Case {
    at::Tensor x;  // [n, ldx] fp32
    at::Tensor w;  // [out, ldw] in the format
};

Case random_case(WeightFormat f, int n, int ldx, int out, int ldw, uint64_t seed) {
    at::manual_seed(seed);
    return {at::randn({n, ldx}), at::randn({out, ldw}).to(scalar_type_of(f))};
}

// The shapes a held matrix is multiplied in: tails of a block, of the vector
// width and of the 4-row groups, two passes of input rows, and a segment of
// two or of three odd ones (a tensor-parallel rank's share of the columns).
void held_matrix_shapes(std::initializer_list<WeightFormat> formats) {
    QTest::addColumn<int>("format");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("out");
    QTest::addColumn<int>("in");        // columns of a segment
    QTest::addColumn<int>("segments");  // the matrix holds this many
    QTest::addColumn<int>("segment");   // the one multiplied
    for (WeightFormat f : formats) {
        const std::string name = weight_format_name(f);
        auto row = [&](const char* what, int n, int out, int in, int segments, int segment) {
            QTest::newRow((name + ", " + what).c_str()) << int(f) << n << out << in << segments << segment;
        };
        row("one row, whole blocks", 1, 64, 128, 1, 0);
        row("tails of a block (16, 8, 5) and of 4 rows", 3, 37, 45, 1, 0);
        row("one column", 2, 5, 1, 1, 0);
        row("33 rows: two passes", 33, 12, 96, 1, 0);
        row("second of two segments", 4, 20, 64, 2, 1);
        row("third of three odd segments", 2, 9, 13, 3, 2);
    }
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
        QTest::addColumn<int>("first");            // column where the block starts (a tensor-parallel share)
        const WeightFormat f = WeightFormat::F32;  // held row by row: the others are held in tiles (below)
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

    // 16-bit matrices are held in tiles of 4 rows and 32 columns, each
    // segment in blocks of its own: against the held values widened in double,
    // and a segment's rows with the bits of the same columns held alone (a
    // tensor-parallel rank's weights are the same on whichever node holds it).
    void sixteenBitTilesMatchAPlainReference_data() { held_matrix_shapes({WeightFormat::BF16, WeightFormat::F16}); }
    void sixteenBitTilesMatchAPlainReference() {
        QFETCH(int, format);
        QFETCH(int, n);
        QFETCH(int, out);
        QFETCH(int, in);
        QFETCH(int, segments);
        QFETCH(int, segment);
        const auto f = static_cast<WeightFormat>(format);
        at::manual_seed(13);
        const at::Tensor x = at::randn({n, in * segments}), bias = at::randn({out}), w = at::randn({out, in * segments});
        const HeldMatrix held = hold_matrix(w, f, segments);
        QVERIFY(at::equal(held.to_float(), w.to(scalar_type_of(f)).to(at::kFloat)));
        const at::Tensor ids = at::tensor({int64_t(out - 1), int64_t(0), int64_t(out / 2)});
        QVERIFY(at::equal(held.rows_as_float(ids), w.to(scalar_type_of(f)).to(at::kFloat).index_select(0, ids)));
        at::Tensor y = at::empty({n, out});
        rows_times_weight(x.data_ptr<float>() + segment * in, in * segments, n, held.segment(segment), bias.data_ptr<float>(), out, in,
                          y.data_ptr<float>(), 2);
        const at::Tensor xs = x.narrow(1, segment * in, in).to(at::kDouble);
        const at::Tensor ws = w.narrow(1, segment * in, in).to(scalar_type_of(f)).to(at::kDouble);
        const at::Tensor want = at::matmul(xs, ws.t()) + bias.to(at::kDouble);  // [n, out]
        const double err = (y.to(at::kDouble) - want).abs().max().item<double>();
        QVERIFY2(err < 1e-4 * std::sqrt(double(in)) * 4, qPrintable(QString("max error %1").arg(err)));
        const HeldMatrix alone = hold_matrix(w.narrow(1, segment * in, in), f);
        at::Tensor y_alone = at::empty({n, out});
        rows_times_weight(x.data_ptr<float>() + segment * in, in * segments, n, alone.weight_rows(), bias.data_ptr<float>(), out, in,
                          y_alone.data_ptr<float>(), 1);
        QVERIFY(std::memcmp(y.data_ptr<float>(), y_alone.data_ptr<float>(), sizeof(float) * n * out) == 0);
    }

    // q8 and q4: each segment of a matrix (a tensor-parallel rank's share of
    // its columns) in blocks of its own, against the weights it stands for.
    // The inputs are rounded to 8-bit blocks too: the error is that rounding's.
    void blockFormatsMatchAPlainReference_data() { held_matrix_shapes({WeightFormat::Q8, WeightFormat::Q4}); }
    void blockFormatsMatchAPlainReference() {
        QFETCH(int, format);
        QFETCH(int, n);
        QFETCH(int, out);
        QFETCH(int, in);
        QFETCH(int, segments);
        QFETCH(int, segment);
        const auto f = static_cast<WeightFormat>(format);
        at::manual_seed(7);
        const at::Tensor x = at::randn({n, in * segments}), bias = at::randn({out});
        const HeldMatrix w = hold_matrix(at::randn({out, in * segments}), f, segments);
        at::Tensor y = at::empty({n, out});
        rows_times_weight(x.data_ptr<float>() + segment * in, in * segments, n, w.segment(segment), bias.data_ptr<float>(), out, in,
                          y.data_ptr<float>(), 2);
        const at::Tensor xs = x.narrow(1, segment * in, in).to(at::kDouble), ws = w.to_float().narrow(1, segment * in, in).to(at::kDouble);
        const at::Tensor want = at::matmul(xs, ws.t()) + bias.to(at::kDouble);  // [n, out]
        // An input is off by at most half its block's step (absmax/254).
        const at::Tensor bound = at::matmul(xs.abs().amax(1, true).expand({n, in}) / 254, ws.abs().t());  // [n, out]
        const double excess = ((y.to(at::kDouble) - want).abs() - bound - 1e-4).max().item<double>();
        QVERIFY2(excess <= 0, qPrintable(QString("error beyond the input rounding's bound by %1").arg(excess)));
        // Inputs that 8 bits hold exactly (integers, each block's largest 127): the sums are exact.
        at::Tensor xi = at::randint(-126, 127, {n, in * segments}).to(at::kFloat);
        for (int s = 0; s < segments; ++s)  // the first input of every block of every segment
            for (int b = 0; b < in; b += kQuantBlock) xi.select(1, s * in + b).fill_(127);
        rows_times_weight(xi.data_ptr<float>() + segment * in, in * segments, n, w.segment(segment), nullptr, out, in, y.data_ptr<float>(),
                          1);
        const at::Tensor exact = at::matmul(xi.narrow(1, segment * in, in).to(at::kDouble), ws.t());
        const double err = (y.to(at::kDouble) - exact).abs().max().item<double>() / std::max(1.0, exact.abs().max().item<double>());
        QVERIFY2(err < 1e-5, qPrintable(QString("relative error %1 on exact inputs").arg(err)));
    }

    // Rounding to blocks is a projection: what dequantizes from blocks
    // quantizes back to the same bits (a quantized checkpoint loads to the
    // blocks it stores), and each weight is within half a step of its value
    // (q4: a step, on the side where 16 levels end at +7 against -8).
    void blockRoundingIsAProjection_data() {
        QTest::addColumn<int>("format");
        QTest::newRow("q8") << int(WeightFormat::Q8);
        QTest::newRow("q4") << int(WeightFormat::Q4);
    }
    void blockRoundingIsAProjection() {
        QFETCH(int, format);
        const auto f = static_cast<WeightFormat>(format);
        at::manual_seed(3);
        const int rows = 64, columns = 200;  // 200: a padded last block
        at::Tensor w = at::randn({rows, columns});
        w.narrow(0, 0, 8).mul_(1e-4);  // blocks whose scale would be subnormal
        w.narrow(0, 8, 4).zero_();
        w.narrow(0, 12, 4).mul_(1e4);
        w[16][3] = 50;  // q4: positive and negative extremes
        w[17][3] = -50;
        const BlockLayout layout{f, columns, 1};
        std::vector<std::byte> codes(rows * layout.code_bytes_per_row()), again(codes.size());
        std::vector<uint16_t> scales(rows * layout.blocks_per_row()), scales_again(scales.size());
        quantize_rows(w.data_ptr<float>(), columns, rows, layout, codes.data(), scales.data());
        at::Tensor back = at::empty({rows, columns});
        dequantize_rows(codes.data(), scales.data(), rows, layout, back.data_ptr<float>(), columns);
        quantize_rows(back.data_ptr<float>(), columns, rows, layout, again.data(), scales_again.data());
        QVERIFY(codes == again);
        QVERIFY(scales == scales_again);
        for (int r = 0; r < rows; ++r)
            for (int b = 0; b < layout.blocks_per_row(); ++b) {
                const int len = std::min(kQuantBlock, columns - b * kQuantBlock);
                const at::Tensor block = w[r].narrow(0, b * kQuantBlock, len), got = back[r].narrow(0, b * kQuantBlock, len);
                const double step = std::abs(f16_to_f32(scales[r * layout.blocks_per_row() + b]));
                const double err = (block - got).abs().max().item<double>();
                const double bound = step * (f == WeightFormat::Q4 ? 1.0 : 0.5);
                QVERIFY2(err <= bound * (1 + 1e-6) + 1e-12,
                         qPrintable(QString("row %1 block %2: error %3, step %4").arg(r).arg(b).arg(err).arg(step)));
            }
    }

    // A row's bits are its own: alone, or among 39 others (in tiles of 3
    // input rows, then 2 or 1, over passes of 32), on 1 or 2 threads.
    void aRowsBitsDoNotDependOnItsNeighbours_data() {
        QTest::addColumn<int>("format");
        for (WeightFormat f : weight_formats()) QTest::newRow(weight_format_name(f).c_str()) << int(f);
    }
    void aRowsBitsDoNotDependOnItsNeighbours() {
        QFETCH(int, format);
        const auto f = static_cast<WeightFormat>(format);
        const int out = 70, in = 99;
        at::manual_seed(11);
        const int n = 40;
        const Case c{at::randn({n, in}), at::Tensor()};
        const HeldMatrix held = hold_matrix(at::randn({out, in}), f);
        const WeightRows w = held.weight_rows();
        at::Tensor all = at::empty({n, out}), one = at::empty({1, out});
        rows_times_weight(c.x.data_ptr<float>(), in, n, w, nullptr, out, in, all.data_ptr<float>(), 2);
        for (int r : {0, 2, 5, 30, 31, 32, 39}) {  // first, last and middle of a tile; each end of a pass
            rows_times_weight(c.x.data_ptr<float>() + r * in, in, 1, w, nullptr, out, in, one.data_ptr<float>(), 1);
            QVERIFY2(std::memcmp(all[r].data_ptr<float>(), one.data_ptr<float>(), out * sizeof(float)) == 0,
                     qPrintable(QString("row %1").arg(r)));
        }
    }

    // The element-wise kernels against libtorch's ops (in double): GELU with
    // tanh and SiLU within a few ulp over ±30 (their tails through the same
    // lanes), the norms to float rounding. 3077 values: a tail past 8.
    void elementWiseKernelsMatchLibtorch() {
        at::manual_seed(17);
        const int n = 3077;
        at::Tensor x = at::randn({n}) * 4;
        x[0] = 0;
        x[1] = 30;
        x[2] = -30;
        x[3] = 1e-20f;
        x[n - 1] = -9;
        const at::Tensor xd = x.to(at::kDouble);
        at::Tensor gelu = x.clone();
        gelu_tanh(gelu.data_ptr<float>(), n, 2);
        // libtorch's 0.5·x·(1 + tanh(y)) in double loses the far negative
        // side to cancellation (1 + tanh(−20) is 1e-17 there, within 1e-16):
        // close to it, and to a relative error of a few ulp of the exponent
        // 2y (the rounding of y in float) against x·sigmoid(2y), the same
        // function, in double.
        const at::Tensor gelu_torch = at::gelu(xd, "tanh");
        QVERIFY2((gelu.to(at::kDouble) - gelu_torch).abs().max().item<double>() < 1e-5, "gelu against libtorch");
        const at::Tensor two_y = 2 * 0.7978845608028654 * (xd + 0.044715 * xd.pow(3));
        const at::Tensor gelu_want = xd * at::sigmoid(two_y);
        const double gelu_err =
            ((gelu.to(at::kDouble) - gelu_want).abs() - 5e-7 * (1 + two_y.abs()) * gelu_want.abs() - 1e-36).max().item<double>();
        QVERIFY2(gelu_err <= 0, qPrintable(QString("gelu error beyond bound %1").arg(gelu_err)));

        const at::Tensor up = at::randn({n});
        at::Tensor gate_up = at::cat({x, up}).view({1, 2 * n});
        at::Tensor swi = at::empty({n});
        swiglu(gate_up.data_ptr<float>(), 1, n, swi.data_ptr<float>(), 2);
        const at::Tensor swi_want = at::silu(xd) * up.to(at::kDouble);
        const double swi_err =
            ((swi.to(at::kDouble) - swi_want).abs() - 5e-7 * (1 + xd.abs()) * swi_want.abs() - 1e-36).max().item<double>();
        QVERIFY2(swi_err <= 0, qPrintable(QString("swiglu error beyond bound %1").arg(swi_err)));

        const int rows = 3, width = 771;
        const at::Tensor h = at::randn({rows, width}) * 3 + 1, w = at::randn({width}), b = at::randn({width});
        at::Tensor ln = at::empty({rows, width});
        layer_norm(h.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), rows, width, 1e-5, ln.data_ptr<float>(), 2);
        const at::Tensor ln_want = at::layer_norm(h.to(at::kDouble), {width}, w.to(at::kDouble), b.to(at::kDouble), 1e-5);
        QVERIFY2((ln.to(at::kDouble) - ln_want).abs().max().item<double>() < 1e-5, "layer norm");
        layer_norm(h.data_ptr<float>(), w.data_ptr<float>(), nullptr, rows, width, 1e-5, ln.data_ptr<float>(), 2);
        QVERIFY2((ln.to(at::kDouble) - (ln_want - b.to(at::kDouble))).abs().max().item<double>() < 1e-5, "layer norm without a bias");
    }

    // New positions against a sequence's cache, each against softmax(q·Kᵀ/√D)·V
    // over the positions up to its own, in double: grouped heads, head sizes
    // the AVX2 path takes (multiples of 8, one of more than 64 columns) and
    // one it does not (12), the first position, tails of 4 and of 8, a
    // prefill of 19 rows after 6 cached ones. And each row's bits are those
    // it gets alone, as a decode step (a prompt prefilled or fed a token at
    // a time computes the same bits).
    void cachedAttentionMatchesAPlainReference_data() {
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("kv_heads");
        QTest::addColumn<int>("head_dim");
        QTest::addColumn<int>("pos");
        QTest::addColumn<int>("rows");
        QTest::newRow("first position") << 4 << 4 << 64 << 0 << 1;
        QTest::newRow("grouped, 37 positions") << 4 << 2 << 64 << 36 << 1;
        QTest::newRow("head of 8, 6 positions") << 3 << 3 << 8 << 5 << 1;
        QTest::newRow("head of 12 (plain loops), 10 positions") << 2 << 1 << 12 << 9 << 1;
        QTest::newRow("head of 128, 71 positions") << 2 << 2 << 128 << 70 << 1;
        QTest::newRow("head of 72, 9 positions") << 2 << 2 << 72 << 8 << 1;
        QTest::newRow("prefill of 19 after 6, grouped") << 6 << 2 << 64 << 6 << 19;
        QTest::newRow("prefill of 7 from the start, head of 12") << 2 << 2 << 12 << 0 << 7;
    }
    void cachedAttentionMatchesAPlainReference() {
        QFETCH(int, heads);
        QFETCH(int, kv_heads);
        QFETCH(int, head_dim);
        QFETCH(int, pos);
        QFETCH(int, rows);
        const int T = pos + rows + 4, D = head_dim, group = heads / kv_heads, Q = heads * D, K = kv_heads * D, W = Q + 2 * K;
        at::manual_seed(19);
        const at::Tensor cache_k = at::randn({kv_heads, T, D}), cache_v = at::randn({kv_heads, T, D});
        const at::Tensor qkv = at::randn({rows, W}) * 2;  // each row q | k | v, as a stage's qkv projection gives them
        const float* r = qkv.data_ptr<float>();
        at::Tensor k_cache = cache_k.clone(), v_cache = cache_v.clone(), out = at::empty({rows, Q});
        cached_attention(r, r + Q, r + Q + K, W, rows, k_cache.data_ptr<float>(), v_cache.data_ptr<float>(), heads, kv_heads, T, D, pos,
                         out.data_ptr<float>(), 2);
        QVERIFY(at::equal(k_cache.narrow(1, pos, rows), qkv.narrow(1, Q, K).view({rows, kv_heads, D}).transpose(0, 1)));
        QVERIFY(at::equal(v_cache.narrow(1, pos, rows), qkv.narrow(1, Q + K, K).view({rows, kv_heads, D}).transpose(0, 1)));
        for (int i = 0; i < rows; ++i)
            for (int h = 0; h < heads; ++h) {
                const at::Tensor keys = k_cache[h / group].narrow(0, 0, pos + i + 1).to(at::kDouble);    // [P, D]
                const at::Tensor values = v_cache[h / group].narrow(0, 0, pos + i + 1).to(at::kDouble);  // [P, D]
                const at::Tensor qh = qkv[i].narrow(0, h * D, D).to(at::kDouble);
                const at::Tensor want = at::matmul(at::softmax(at::matmul(keys, qh) / std::sqrt(double(D)), 0), values);  // [D]
                const double err = (out[i].narrow(0, h * D, D).to(at::kDouble) - want).abs().max().item<double>();
                QVERIFY2(err < 1e-5, qPrintable(QString("row %1 head %2: max error %3").arg(i).arg(h).arg(err)));
            }
        // The last row again, alone on one thread, from the cache as the prefill left it.
        at::Tensor alone = at::empty({1, Q});
        const float* last = r + (rows - 1) * W;
        cached_attention(last, last + Q, last + Q + K, W, 1, k_cache.data_ptr<float>(), v_cache.data_ptr<float>(), heads, kv_heads, T, D,
                         pos + rows - 1, alone.data_ptr<float>(), 1);
        QVERIFY(std::memcmp(alone.data_ptr<float>(), out[rows - 1].data_ptr<float>(), sizeof(float) * Q) == 0);
    }

    // What travels between nodes with --wire: f32 as it is, bf16 rounded to
    // nearest even, q8 within half a step of its block; a frame of the wrong
    // size, or in a format this version does not know, is refused by name.
    void wireFormatsRoundTrip() {
        at::manual_seed(5);
        const at::Tensor x = at::randn({1000}) * 3;  // 1000: a partial last block
        for (WireFormat f : wire_formats()) {
            const auto bytes = encode_wire(f, x.data_ptr<float>(), 1000);
            QCOMPARE(bytes.size(), wire_bytes(f, 1000));
            at::Tensor back = at::empty({1000});
            decode_wire(f, bytes, 1000, back.data_ptr<float>());
            const double err = (back - x).abs().max().item<double>();
            if (f == WireFormat::F32) QVERIFY(at::equal(back, x));
            if (f == WireFormat::BF16) QVERIFY(at::equal(back, x.to(at::kBFloat16).to(at::kFloat)));
            if (f == WireFormat::Q8) QVERIFY2(err <= x.abs().max().item<double>() / 254 * 1.01, qPrintable(QString::number(err)));
        }
        QCOMPARE(wire_bytes(WireFormat::Q8, 1000), std::size_t(32 * 34));  // 32 blocks of 32 int8 and an fp16 scale
        const auto bytes = encode_wire(WireFormat::BF16, x.data_ptr<float>(), 1000);
        std::vector<float> out(1000);
        EXPECT_ERROR(decode_wire(WireFormat::BF16, bytes, 999, out.data()), "2000 bytes are not 999 values in bf16");
        EXPECT_ERROR(decode_wire(static_cast<WireFormat>(5), bytes, 1000, out.data()), "unknown wire format 5");
    }

    // Every one of the 65536 halves widens as libtorch widens it.
    void halfWideningIsExact() {
        for (uint32_t h = 0; h < 65536; ++h) {
            const auto bits = static_cast<uint16_t>(h);
            const float want = static_cast<float>(c10::Half(bits, c10::Half::from_bits())), got = f16_to_f32(bits);
            QVERIFY2(std::isnan(want) ? std::isnan(got) : std::memcmp(&want, &got, 4) == 0, qPrintable(QString::number(h, 16)));
        }
    }

    // Narrowing rounds as libtorch does: a million floats across every
    // exponent, and each tie halfway between two neighbouring halves.
    void narrowingRoundsToNearestEven() {
        std::vector<float> values;
        for (uint64_t b = 0; b < (1ull << 32); b += 4099) values.push_back(std::bit_cast<float>(static_cast<uint32_t>(b)));
        for (uint32_t h = 0; h < 0x7c00; ++h)  // halfway to the next half up, and to the next bf16 up
            for (float sign : {1.0f, -1.0f}) {
                values.push_back(sign * (f16_to_f32(h) + f16_to_f32(h + 1)) / 2);
                values.push_back(sign * std::bit_cast<float>((h << 16) | 0x8000u));
            }
        for (float v : values) {
            const uint16_t half = f32_to_f16(v), brain = f32_to_bf16(v);
            if (std::isnan(v)) {
                QVERIFY(std::isnan(f16_to_f32(half)) && std::isnan(bf16_to_f32(brain)));
                continue;
            }
            QVERIFY2(half == c10::Half(v).x, qPrintable(QString("f16 of %1: %2 vs %3").arg(v).arg(half).arg(c10::Half(v).x)));
            QVERIFY2(brain == c10::BFloat16(v).x, qPrintable(QString("bf16 of %1: %2 vs %3").arg(v).arg(brain).arg(c10::BFloat16(v).x)));
        }
    }

    // What the controller converts before it streams: F32 <-> F16 <-> BF16.
    void convertsBetweenCheckpointDtypes() {
        const std::vector<float> f32 = {0.0f, -1.5f, 3.140625f, 65504.0f, 1e-7f};
        const auto bytes = std::as_bytes(std::span(f32));
        const auto half = convert_floats(bytes, DType::F32, DType::F16);
        QCOMPARE(half.size(), f32.size() * 2);
        const auto brain = convert_floats(half, DType::F16, DType::BF16);
        const auto back = convert_floats(brain, DType::BF16, DType::F32);
        std::vector<float> got(f32.size());
        std::memcpy(got.data(), back.data(), back.size());
        for (std::size_t i = 0; i < f32.size(); ++i) QCOMPARE(got[i], bf16_to_f32(f32_to_bf16(f16_to_f32(f32_to_f16(f32[i])))));
        EXPECT_ERROR(convert_floats(bytes, DType::F32, DType::I8), "cannot convert F32 to I8");
    }
};

QTEST_GUILESS_MAIN(TestKernels)
#include "test_kernels.moc"
