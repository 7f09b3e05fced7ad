// The decode kernels as a 64-bit Arm board runs them, without libtorch or Qt
// (neither is there when cross-compiling): every weight format against a
// plain reference in double, on shapes with tails, segments and two passes
// of input rows; each row's bits the same alone and among 40. Prints one
// digest of all outputs per format: check-kernels.sh compares the NEON
// run's block-format digests with the plain C++ run's (they must be equal,
// bit for bit). Exit status 1 on any failure.
#include "model/rows_times_weight.h"
#include "model/simd.h"
#include "weights/block_quant.h"
#include "weights/half_float.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace distgpt;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (ok) return;
    std::printf("FAIL %s\n", what.c_str());
    ++failures;
}

// A matrix [out, in·segments] held as a stage holds it, and its values as held.
struct Held {
    WeightFormat format;
    int64_t out, columns;
    int segments;
    std::vector<std::byte> bytes;  // fp32 row-major, or tiles
    std::vector<double> values;    // [out, columns]: what the held bits are worth

    WeightRows segment(int s) const {
        if (format == WeightFormat::F32)
            return WeightRows{bytes.data(), format, static_cast<long>(columns)}.columns_from(s * columns / segments);
        const BlockLayout layout{format, columns, segments};
        return WeightRows{bytes.data(), format, static_cast<long>(layout.blocks_per_row())}.columns_from(
            static_cast<long>(s * layout.blocks_per_segment() * kQuantBlock));
    }
};

Held hold(const std::vector<float>& w, int64_t out, int64_t columns, int segments, WeightFormat f) {
    Held h{f, out, columns, segments, {}, std::vector<double>(w.size())};
    if (f == WeightFormat::F32) {
        h.bytes.resize(w.size() * 4);
        std::memcpy(h.bytes.data(), w.data(), h.bytes.size());
        for (std::size_t i = 0; i < w.size(); ++i) h.values[i] = w[i];
        return h;
    }
    const BlockLayout layout{f, columns, segments};
    const BlockTiles tiles{f, out, layout.blocks_per_row()};
    h.bytes.resize(static_cast<std::size_t>(tiles.bytes()));
    std::vector<std::byte> codes(static_cast<std::size_t>(out * layout.code_bytes_per_row()));
    std::vector<uint16_t> scales;
    if (is_block_format(f)) {
        scales.resize(static_cast<std::size_t>(out * layout.blocks_per_row()));
        quantize_rows(w.data(), columns, out, layout, codes.data(), scales.data());
        std::vector<float> back(w.size());
        dequantize_rows(codes.data(), scales.data(), out, layout, back.data(), columns);
        for (std::size_t i = 0; i < w.size(); ++i) h.values[i] = back[i];
    } else {  // 16-bit: each segment's values in blocks of 32, zero-padded
        const int64_t per = layout.segment_columns(), blocks = layout.blocks_per_segment();
        auto* halves = reinterpret_cast<uint16_t*>(codes.data());
        for (int64_t r = 0; r < out; ++r)
            for (int s = 0; s < segments; ++s)
                for (int64_t c = 0; c < per; ++c) {
                    const float v = w[r * columns + s * per + c];
                    const uint16_t bits = f == WeightFormat::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
                    halves[(r * layout.blocks_per_row() + s * blocks) * kQuantBlock + c] = bits;
                    h.values[r * columns + s * per + c] = f == WeightFormat::BF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
                }
    }
    tile_blocks(codes.data(), scales.empty() ? nullptr : scales.data(), tiles, h.bytes.data());
    return h;
}

uint64_t digest(uint64_t h, const std::vector<float>& y) {
    for (float v : y) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        for (int i = 0; i < 4; ++i) h = (h ^ ((bits >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
    return h;
}

struct Shape {
    const char* what;
    int n, out, in, segments, segment;
};

}  // namespace

int main() {
    std::printf("kernels: %s\n", use_neon_kernels() ? "NEON" : use_avx2_kernels() ? "AVX2" : "plain C++");
    const Shape shapes[] = {{"one row, whole blocks", 1, 64, 128, 1, 0},
                            {"tails of a block and of 4 rows", 3, 37, 45, 1, 0},
                            {"one column", 2, 5, 1, 1, 0},
                            {"33 rows: two passes", 33, 12, 96, 1, 0},
                            {"second of two segments", 4, 20, 64, 2, 1},
                            {"third of three odd segments", 2, 9, 13, 3, 2}};
    std::mt19937 random(7);
    std::normal_distribution<float> normal;
    for (WeightFormat f : weight_formats()) {
        uint64_t h = 1469598103934665603ull;
        for (const Shape& s : shapes) {
            const int64_t columns = int64_t(s.in) * s.segments;
            std::vector<float> w(static_cast<std::size_t>(s.out * columns)), x(static_cast<std::size_t>(s.n * columns)), bias(s.out);
            for (float& v : w) v = normal(random);
            for (float& v : x) v = normal(random);
            for (float& v : bias) v = normal(random);
            const Held held = hold(w, s.out, columns, s.segments, f);
            std::vector<float> y(static_cast<std::size_t>(s.n * s.out));
            rows_times_weight(x.data() + s.segment * s.in, static_cast<int>(columns), s.n, held.segment(s.segment), bias.data(), s.out,
                              s.in, y.data(), 2);
            h = digest(h, y);
            double worst = 0;  // beyond the bound: q8/q4 round each input block to 8 bits (half a step, absmax/254)
            for (int r = 0; r < s.n; ++r)
                for (int o = 0; o < s.out; ++o) {
                    double want = bias[o], bound = 0;
                    for (int b = 0; b < s.in; b += kQuantBlock) {
                        double absmax = 0;
                        for (int c = b; c < std::min(s.in, b + kQuantBlock); ++c)
                            absmax = std::max(absmax, std::fabs(double(x[r * columns + s.segment * s.in + c])));
                        for (int c = b; c < std::min(s.in, b + kQuantBlock); ++c) {
                            const double wv = held.values[o * columns + s.segment * s.in + c];
                            want += wv * x[r * columns + s.segment * s.in + c];
                            bound += is_block_format(f) ? absmax / 254 * std::fabs(wv) : 0;
                        }
                    }
                    bound += 1e-4 * std::sqrt(double(s.in)) * 4;
                    worst = std::max(worst, std::fabs(y[r * s.out + o] - want) - bound);
                }
            check(worst <= 0, weight_format_name(f) + ", " + s.what + ": error beyond the bound by " + std::to_string(worst));
        }
        // A row's bits alone and among 40 (passes of 32 input rows, tiles of 4 weight rows).
        const int out = 70, in = 99, n = 40;
        std::vector<float> w(out * in), x(n * in);
        for (float& v : w) v = normal(random);
        for (float& v : x) v = normal(random);
        const Held held = hold(w, out, in, 1, f);
        std::vector<float> all(n * out), one(out);
        rows_times_weight(x.data(), in, n, held.segment(0), nullptr, out, in, all.data(), 2);
        for (int r : {0, 2, 5, 30, 31, 32, 39}) {
            rows_times_weight(x.data() + r * in, in, 1, held.segment(0), nullptr, out, in, one.data(), 1);
            check(std::memcmp(all.data() + r * out, one.data(), out * sizeof(float)) == 0,
                  weight_format_name(f) + ": row " + std::to_string(r) + "'s bits depend on the rows beside it");
        }
        h = digest(h, all);
        std::printf("digest %s %016llx\n", weight_format_name(f).c_str(), static_cast<unsigned long long>(h));
    }
    std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
    return failures ? 1 : 0;
}
