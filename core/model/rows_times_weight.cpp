#include "model/rows_times_weight.h"

#include "model/simd.h"

#include "weights/block_quant.h"
#include "weights/half_float.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace distgpt {
namespace {

// One clone per instruction set, picked at load time: the same binary runs on
// an AVX-512 server, an AVX2 laptop and (through the default) any other x86.
// (Not under ThreadSanitizer: the clones' resolver runs while the program is
// still being loaded, before the sanitizer's runtime, and crashes.)
#if DISTGPT_AVX2_KERNELS
#define DISTGPT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DISTGPT_MULTIVERSION
#endif

// Input rows per pass over W: each 4-row block of W is reused from L1 for all
// of them, so even a prefill stays close to the arithmetic peak.
constexpr int kMaxRows = 32;

#define DISTGPT_INLINE inline __attribute__((always_inline))

// A stored 16-bit weight as fp32 (f16 in integer steps that vectorize anywhere).
struct WidenBf16 {
    static DISTGPT_INLINE float widen(uint16_t w) { return bf16_to_f32(w); }
};
struct WidenF16 {
    static DISTGPT_INLINE float widen(uint16_t w) { return f16_to_f32(w); }
};

// fp32: four weight rows against one input row: four independent
// accumulators and four streams in flight, where one row's dot product is a
// single dependent chain of FMAs. Every (input row, weight row) pair goes
// through exactly this code whatever the batch size, so a row's result has
// the same bits whether it is decoded alone or with others: a pipeline
// matches the single process.
DISTGPT_INLINE void dot4(const float* __restrict w0, long ldw, int in, const float* __restrict x, float* out) {
    const float* __restrict w1 = w0 + ldw;
    const float* __restrict w2 = w1 + ldw;
    const float* __restrict w3 = w2 + ldw;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int i = 0; i < in; ++i) {
        const float xi = x[i];
        s0 += w0[i] * xi;
        s1 += w1[i] * xi;
        s2 += w2[i] * xi;
        s3 += w3[i] * xi;
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

DISTGPT_INLINE float dot1(const float* __restrict w, int in, const float* __restrict x) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < in; ++i) s += w[i] * x[i];
    return s;
}

// Rows [o_begin, o_end) of W against all n inputs; each 4-row block of W is
// read from memory once and reused from L1 for the other inputs.
DISTGPT_MULTIVERSION
void dot_block_f32(const float* __restrict X, int ldx, int n, const float* __restrict W, long ldw, const float* __restrict bias, int in,
                   int out, int o_begin, int o_end, float* __restrict Y) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4) {
        const float* w = W + o * ldw;
        for (int r = 0; r < n; ++r) {
            float acc[4];
            dot4(w, ldw, in, X + static_cast<long>(r) * ldx, acc);
            float* y = Y + static_cast<long>(r) * out + o;
            for (int j = 0; j < 4; ++j) y[j] = acc[j] + (bias ? bias[o + j] : 0.0f);
        }
    }
    for (; o < o_end; ++o)
        for (int r = 0; r < n; ++r)
            Y[static_cast<long>(r) * out + o] = dot1(W + o * ldw, in, X + static_cast<long>(r) * ldx) + (bias ? bias[o] : 0.0f);
}

// 16-bit weights are held in tiles (weights/block_quant.h): for each group of
// 4 rows and block of 32 columns, the 4 rows' 32 values one after the other;
// a row past the last group, its blocks one after the other. R weight rows
// (4: a group's tiles; 1: a row past the last group) against one input row.
template <class Widen, int R>
DISTGPT_INLINE void dot_rows_16bit(const uint16_t* __restrict tiles, int in, const float* __restrict x, float* y) {
    for (int j = 0; j < R; ++j) {
        float s = 0;
        for (int first = 0; first < in; first += kQuantBlock) {
            const uint16_t* w = tiles + (first / kQuantBlock) * R * kQuantBlock + j * kQuantBlock;
            const int n = std::min(kQuantBlock, in - first);
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < n; ++i) s += Widen::widen(w[i]) * x[first + i];
        }
        y[j] = s;
    }
}

// Rows [o_begin, o_end) of a matrix held in tiles: `rows(tiles, x, y)` with
// R = 4 for each group of rows, then 1 for each row past the last group.
template <class Rows4, class Rows1>
DISTGPT_INLINE void for_each_tile_stream(int n, WeightRows W, const float* bias, int out, int o_begin, int o_end, float* Y, Rows4 rows4,
                                         Rows1 rows1) {
    const BlockTiles tiles{W.format, out, W.ld};
    const auto* data = static_cast<const std::byte*>(W.data);
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4)  // chunks start at multiples of 4: o is a group's first row
        for (int r = 0; r < n; ++r) {
            float* y = Y + static_cast<long>(r) * out + o;
            rows4(data + tiles.place(o, W.first_block).offset, r, y);
            for (int j = 0; j < 4; ++j) y[j] += bias ? bias[o + j] : 0.0f;
        }
    for (; o < o_end; ++o)
        for (int r = 0; r < n; ++r) {
            float* y = Y + static_cast<long>(r) * out + o;
            rows1(data + tiles.place(o, W.first_block).offset, r, y);
            y[0] += bias ? bias[o] : 0.0f;
        }
}

template <class Widen>
DISTGPT_INLINE void dot_block_16bit_portable(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin,
                                             int o_end, float* Y) {
    for_each_tile_stream(
        n, W, bias, out, o_begin, o_end, Y,
        [&](const std::byte* t, int r, float* y) {
            dot_rows_16bit<Widen, 4>(reinterpret_cast<const uint16_t*>(t), in, X + static_cast<long>(r) * ldx, y);
        },
        [&](const std::byte* t, int r, float* y) {
            dot_rows_16bit<Widen, 1>(reinterpret_cast<const uint16_t*>(t), in, X + static_cast<long>(r) * ldx, y);
        });
}

DISTGPT_MULTIVERSION
void dot_block_bf16_portable(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin, int o_end,
                             float* Y) {
    dot_block_16bit_portable<WidenBf16>(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
}

DISTGPT_MULTIVERSION
void dot_block_f16_portable(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin, int o_end,
                            float* Y) {
    dot_block_16bit_portable<WidenF16>(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
}

#if DISTGPT_AVX2_KERNELS
// 16-bit weights on AVX2 (with FMA and F16C, which every AVX2 x86 has),
// written with intrinsics. Half the bytes per weight means twice the FMAs
// per byte read: with one accumulator per row, the FMA latency (4 rows in
// flight, 5 cycles each) capped the kernel at half the bus. Two accumulators
// per row, over 16 weights a step, keep 8 chains in flight. GCC 12 also
// does not vectorize the f16 conversion by itself.

// 8 stored weights as fp32.
template <WeightFormat F>
DISTGPT_AVX2 inline __m256 load8(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (F == WeightFormat::F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));  // bf16: the top half of an fp32
}

template <WeightFormat F>
DISTGPT_AVX2 inline float widen1(uint16_t w) {
    if constexpr (F == WeightFormat::F16) return _cvtsh_ss(w);
    return bf16_to_f32(w);
}

// A 16-bit stream runs 1 KB ahead of the core (4 KB, as the block formats
// prefetch, measured slower here: the 16-bit tiles are read twice as fast).
constexpr long kPrefetchAhead16 = 1024;

DISTGPT_AVX2 inline float fma1(float w, float x, float s) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(w), _mm_set_ss(x), _mm_set_ss(s)));
}

// R rows held in tiles (4: a group's; 1: a row past the last group) against
// one input row. Each row is summed in a fixed order whatever R: 16 columns
// at a time into two accumulators, then 8, the lanes added, then one by one;
// so a row's bits do not depend on the rows held beside it. The tiles make
// one sequential stream of 4 rows (as 4 row-major rows of 768 they were 4
// short streams the prefetchers followed at two thirds of the bus).
template <WeightFormat F, int R>
DISTGPT_AVX2 inline void dot_rows_16bit_avx2(const uint16_t* tiles, int in, const float* x, float* y, bool prefetch) {
    constexpr long tile = R * kQuantBlock;  // values in a block's tile
    __m256 a[R], b[R];
    for (int j = 0; j < R; ++j) a[j] = b[j] = _mm256_setzero_ps();
    // 16 columns of the R rows from t (row j at t + j·32), at column i.
    auto sixteen = [&](const uint16_t* t, int i) DISTGPT_AVX2 {
        const __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);
        for (int j = 0; j < R; ++j) {
            a[j] = _mm256_fmadd_ps(load8<F>(t + j * kQuantBlock), xa, a[j]);
            b[j] = _mm256_fmadd_ps(load8<F>(t + j * kQuantBlock + 8), xb, b[j]);
        }
    };
    const uint16_t* t = tiles;  // the block of column i
    int i = 0;
    for (; i + kQuantBlock <= in; i += kQuantBlock, t += tile) {
        // Half the tile's lines before each 16 columns (spread out, the
        // requests measured ~3% faster than all at once).
        if (prefetch)
            for (long line = 0; line < tile; line += 64)
                _mm_prefetch(reinterpret_cast<const char*>(t) + kPrefetchAhead16 + line, _MM_HINT_T0);
        sixteen(t, i);
        if (prefetch)
            for (long line = tile; line < 2 * tile; line += 64)
                _mm_prefetch(reinterpret_cast<const char*>(t) + kPrefetchAhead16 + line, _MM_HINT_T0);
        sixteen(t + 16, i + 16);
    }
    if (i + 16 <= in) {
        sixteen(t, i);
        i += 16;
        t += 16;
    }
    if (i + 8 <= in) {
        const __m256 xa = _mm256_loadu_ps(x + i);
        for (int j = 0; j < R; ++j) a[j] = _mm256_fmadd_ps(load8<F>(t + j * kQuantBlock), xa, a[j]);
        i += 8;
        t += 8;
    }
    for (int j = 0; j < R; ++j) {
        float s = sum8(_mm256_add_ps(a[j], b[j]));
        for (int k = i; k < in; ++k) s = fma1(widen1<F>(t[j * kQuantBlock + k - i]), x[k], s);
        y[j] = s;
    }
}

template <WeightFormat F>
DISTGPT_AVX2 void dot_block_16bit_avx2(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin,
                                       int o_end, float* Y) {
    for_each_tile_stream(
        n, W, bias, out, o_begin, o_end, Y,
        [&](const std::byte* t, int r, float* y) DISTGPT_AVX2 {  // the first input row prefetches the stream for the others
            dot_rows_16bit_avx2<F, 4>(reinterpret_cast<const uint16_t*>(t), in, X + static_cast<long>(r) * ldx, y, r == 0);
        },
        [&](const std::byte* t, int r, float* y) DISTGPT_AVX2 {
            dot_rows_16bit_avx2<F, 1>(reinterpret_cast<const uint16_t*>(t), in, X + static_cast<long>(r) * ldx, y, r == 0);
        });
}

// fp32 weights on AVX2, blocked over weight rows and input rows: a tile of
// 4 weight rows × up to 3 input rows keeps 12 accumulators in registers, so
// each weight and input vector loaded feeds 3 or 4 FMAs and 12 chains hide
// the FMA latency (one input row against 4 weight rows, as decode does,
// keeps 4 chains: plenty for the bus, a third of the core for a prefill).
// Every (weight row, input row) pair is summed by the same operations in any
// tile: one 8-lane accumulator over the columns in steps of 8, its lanes
// added as sum8 does, then the tail one FMA at a time. So a row's bits do not
// depend on the rows beside it, and a pipeline matches the single process.
// Lanes added four rows at once by sum8x4 (a 4×3 tile of 768 columns spent a
// sixth of its time adding lanes one row at a time).

template <int WR, int XR>
DISTGPT_AVX2 inline void dot_tile_f32(const float* __restrict w, long ldw, const float* __restrict x, int ldx, int in, const float* bias,
                                      float* __restrict y, int ldy) {
    __m256 acc[XR][WR];
    for (int r = 0; r < XR; ++r)
        for (int j = 0; j < WR; ++j) acc[r][j] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= in; i += 8) {
        __m256 xv[XR];
        for (int r = 0; r < XR; ++r) xv[r] = _mm256_loadu_ps(x + static_cast<long>(r) * ldx + i);
        for (int j = 0; j < WR; ++j) {
            const __m256 wv = _mm256_loadu_ps(w + j * ldw + i);
            for (int r = 0; r < XR; ++r) acc[r][j] = _mm256_fmadd_ps(wv, xv[r], acc[r][j]);
        }
    }
    for (int r = 0; r < XR; ++r) {
        alignas(16) float s[4];
        if constexpr (WR == 4)
            _mm_store_ps(s, sum8x4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
        else
            _mm_store_ps(s, sum8x4(acc[r][0], acc[r][0], acc[r][0], acc[r][0]));  // lane 0 added as any row's
        for (int j = 0; j < WR; ++j) {
            for (int k = i; k < in; ++k) s[j] = fma1(w[j * ldw + k], x[static_cast<long>(r) * ldx + k], s[j]);
            y[static_cast<long>(r) * ldy + j] = s[j] + (bias ? bias[j] : 0.0f);
        }
    }
}

// Input rows in tiles of 3 (then 2 or 1) against weight rows in 4s (then 1s).
template <int WR>
DISTGPT_AVX2 inline void dot_weight_rows_f32(const float* X, int ldx, int n, const float* w, long ldw, const float* bias, int in, int out,
                                             float* y) {
    int r = 0;
    for (; r + 3 <= n; r += 3)
        dot_tile_f32<WR, 3>(w, ldw, X + static_cast<long>(r) * ldx, ldx, in, bias, y + static_cast<long>(r) * out, out);
    if (n - r == 2) dot_tile_f32<WR, 2>(w, ldw, X + static_cast<long>(r) * ldx, ldx, in, bias, y + static_cast<long>(r) * out, out);
    if (n - r == 1) dot_tile_f32<WR, 1>(w, ldw, X + static_cast<long>(r) * ldx, ldx, in, bias, y + static_cast<long>(r) * out, out);
}

DISTGPT_AVX2 void dot_block_f32_avx2(const float* X, int ldx, int n, const float* W, long ldw, const float* bias, int in, int out,
                                     int o_begin, int o_end, float* Y) {
    int o = o_begin;
    for (; o + 4 <= o_end; o += 4) dot_weight_rows_f32<4>(X, ldx, n, W + o * ldw, ldw, bias ? bias + o : nullptr, in, out, Y + o);
    for (; o < o_end; ++o) dot_weight_rows_f32<1>(X, ldx, n, W + o * ldw, ldw, bias ? bias + o : nullptr, in, out, Y + o);
}

#endif

// ---- Block formats (q8, q4) ----

// How far ahead of the core a block format's stream is prefetched.
constexpr int kPrefetchAhead = 4096;

// The input rows rounded to 8-bit blocks: row r's block b is the 32 int8 at
// codes[(r·blocks + b)·32], worth codes·scale[r·blocks + b]. A row's blocks
// depend only on that row. Made once per call, with what the AVX2 kernel
// reads besides the codes, for every weight row of every chunk: for q8, |x|
// (the unsigned side of the byte products, the weights taking x's signs);
// for q4, whose codes c = q + 8 are unsigned already, each block's inputs
// twice over as the kernel pairs them with two rows' nibbles at once (0..15
// twice, then 16..31 twice), and 8·Σx over the 8 inputs each of its lanes
// sums (lane m: 4m..4m+3 and 16+4m..16+4m+3, twice), subtracted to make
// Σ(c - 8)·x.
struct InputBlocks {
    int blocks = 0;
    std::vector<int8_t> codes;
    std::vector<float> scales;
    std::vector<uint8_t> magnitudes;  // q8: [n, blocks·32]
    std::vector<int8_t> doubled;      // q4: [n, blocks·64]
    std::vector<int32_t> offsets;     // q4: [n, blocks·8]
};

InputBlocks input_blocks(const float* X, int ldx, int n, int in, WeightFormat format) {
    InputBlocks q;
    q.blocks = (in + kQuantBlock - 1) / kQuantBlock;
    q.codes.assign(static_cast<std::size_t>(n) * q.blocks * kQuantBlock, 0);
    q.scales.assign(static_cast<std::size_t>(n) * q.blocks, 0.0f);
    for (int r = 0; r < n; ++r)
        for (int b = 0; b < q.blocks; ++b) {
            const float* x = X + static_cast<long>(r) * ldx + b * kQuantBlock;
            const int len = std::min(kQuantBlock, in - b * kQuantBlock);
            float absmax = 0;
            for (int i = 0; i < len; ++i) absmax = std::max(absmax, std::fabs(x[i]));
            if (absmax == 0) continue;
            const float inverse = 127.0f / absmax;
            int8_t* code = q.codes.data() + (static_cast<std::size_t>(r) * q.blocks + b) * kQuantBlock;
            for (int i = 0; i < len; ++i) code[i] = static_cast<int8_t>(std::nearbyint(x[i] * inverse));
            q.scales[static_cast<std::size_t>(r) * q.blocks + b] = absmax / 127.0f;
        }
    if (format == WeightFormat::Q8) {
        q.magnitudes.resize(q.codes.size());
        for (std::size_t i = 0; i < q.codes.size(); ++i) q.magnitudes[i] = static_cast<uint8_t>(std::abs(q.codes[i]));
    } else if (format == WeightFormat::Q4) {
        const std::size_t all = q.codes.size() / kQuantBlock;  // blocks of all rows
        q.doubled.resize(all * 2 * kQuantBlock);
        q.offsets.resize(all * 8);
        for (std::size_t b = 0; b < all; ++b) {
            const int8_t* x = q.codes.data() + b * kQuantBlock;
            int8_t* doubled = q.doubled.data() + b * 2 * kQuantBlock;
            for (int half = 0; half < 2; ++half)
                for (int copy = 0; copy < 2; ++copy) std::memcpy(doubled + 32 * half + 16 * copy, x + 16 * half, 16);
            for (int m = 0; m < 4; ++m) {
                int sum = 0;
                for (int k = 0; k < 4; ++k) sum += x[4 * m + k] + x[16 + 4 * m + k];
                q.offsets[b * 8 + m] = q.offsets[b * 8 + 4 + m] = 8 * sum;
            }
        }
    }
    return q;
}

// Weight j of a block as its integer.
template <WeightFormat F>
DISTGPT_INLINE int block_weight(const uint8_t* block, int j) {
    if constexpr (F == WeightFormat::Q8) return static_cast<int8_t>(block[j]);
    return static_cast<int>(j < kQuantBlock / 2 ? block[j] & 0xf : block[j - kQuantBlock / 2] >> 4) - 8;
}

// A block's exact integer sum into a row's running sum: the portable and
// NEON kernels both add this way, so they give the same bits.
DISTGPT_INLINE float add_block(float s, uint16_t weight_scale, float input_scale, int sum) {
    return s + f16_to_f32(weight_scale) * input_scale * static_cast<float>(sum);
}

template <WeightFormat F>
DISTGPT_INLINE void dot_block_quant_portable(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end,
                                             float* Y) {
    const BlockTiles tiles{F, out, W.ld};
    const auto* data = static_cast<const std::byte*>(W.data);
    for (int o = o_begin; o < o_end; ++o)
        for (int r = 0; r < n; ++r) {
            const std::size_t x0 = static_cast<std::size_t>(r) * X.blocks;
            float s = 0;
            for (int b = 0; b < X.blocks; ++b) {
                const BlockTiles::Block w = tiles.block(data, o, W.first_block + b);
                const int8_t* x = X.codes.data() + (x0 + b) * kQuantBlock;
                int sum = 0;
                for (int j = 0; j < kQuantBlock; ++j) sum += block_weight<F>(w.codes, j) * x[j];
                s = add_block(s, w.scale, X.scales[x0 + b], sum);
            }
            Y[static_cast<long>(r) * out + o] = s + (bias ? bias[o] : 0.0f);
        }
}

DISTGPT_MULTIVERSION
void dot_block_q8_portable(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end, float* Y) {
    dot_block_quant_portable<WeightFormat::Q8>(X, n, W, bias, out, o_begin, o_end, Y);
}

DISTGPT_MULTIVERSION
void dot_block_q4_portable(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end, float* Y) {
    dot_block_quant_portable<WeightFormat::Q4>(X, n, W, bias, out, o_begin, o_end, Y);
}

#if DISTGPT_AVX2_KERNELS
// q8: one weight row's block against one input block, its 32 products
// summed exactly into 8 int32 lanes. (|x| ≤ 127 and |w| ≤ 127, so the
// pairwise int16 sums of maddubs cannot saturate.)
DISTGPT_AVX2 inline __m256i q8_block_products(const uint8_t* w, const int8_t* x, const uint8_t* magnitude) {
    const __m256i wx = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)),
                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));  // w·sign(x)
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(magnitude));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(m, wx), _mm256_set1_epi16(1));
}

// A block-format tile of R rows (R scales, then their codes; `stride` bytes):
// every cache line of the stream 4 KB ahead prefetched (a q8 tile spans more
// than two), and the rows' scales times the input block's `dx`.
template <int R, long stride>
DISTGPT_AVX2 inline __m128 tile_scales(const uint8_t* tile, float dx) {
    for (long line = 0; line < stride; line += 64) _mm_prefetch(reinterpret_cast<const char*>(tile) + kPrefetchAhead + line, _MM_HINT_T0);
    if constexpr (R == 4) return _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tile))), _mm_set1_ps(dx));
    uint16_t scale;
    std::memcpy(&scale, tile, 2);
    return _mm_set_ss(_cvtsh_ss(scale) * dx);
}

// q8: R weight rows (R = 4: a group's tiles; or 1: a row past the last
// group) against input row r. Per block, each row's 32 products are summed
// exactly into 8 int32 lanes; two rounds of pairwise adds (exact, in
// integers) leave 4 lanes holding the 4 rows' sums over the block's first
// and, in the high half, second 16 columns; one conversion and one FMA with
// the 4 rows' scales (times the input block's) then serve all 4 rows, where
// a row at a time took 4 of each. A row past the last group goes through the
// same operations with zeros beside it, so its lanes get the bits they would
// get in a group: a row's bits do not depend on where it falls.
template <int R>
DISTGPT_AVX2 inline void dot_rows_q8(const InputBlocks& X, int r, const std::byte* tiles, float* y) {
    static_assert(R == 4 || R == 1);
    constexpr long stride = R * (2 + block_code_bytes(WeightFormat::Q8));  // a tile: R scales, then R blocks of codes
    const std::size_t first = static_cast<std::size_t>(r) * X.blocks;
    const int8_t* x = X.codes.data() + first * kQuantBlock;
    const float* dx = X.scales.data() + first;
    const uint8_t* magnitude = X.magnitudes.data() + first * kQuantBlock;
    __m256 acc = _mm256_setzero_ps();  // lanes j and 4 + j: row j
    for (int b = 0; b < X.blocks; ++b) {
        const auto* tile = reinterpret_cast<const uint8_t*>(tiles + b * stride);
        const __m128 d = tile_scales<R, stride>(tile, dx[b]);  // the rows' weight scales times the input block's
        __m256i p[4];
        for (int j = 0; j < 4; ++j)
            p[j] = j < R ? q8_block_products(tile + 2 * R + j * kQuantBlock, x + b * kQuantBlock, magnitude + b * kQuantBlock)
                         : _mm256_setzero_si256();
        const __m256i sums = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));  // rows 0-3, twice
        acc = _mm256_fmadd_ps(_mm256_set_m128(d, d), _mm256_cvtepi32_ps(sums), acc);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    for (int j = 0; j < R; ++j) y[j] = lanes[j] + lanes[4 + j];
}

// q4: two rows' blocks at once. One 32-byte load holds two rows' packed
// codes (16 bytes each); masking gives both rows' weights 0..15, shifting
// then masking their weights 16..31, each multiplied with the input block's
// matching half held twice over; one madd leaves 4 int32 lanes of row j in
// the low half and 4 of row j+1 in the high half, each lane exact. Per block
// and pair of rows that is 11 instructions where a row at a time took 18,
// and the kernel is bound by them, not by the bus. A row with no partner
// (rows mod 4) goes through the same operations with zeros beside it, so its
// lanes get the bits they would get in a pair.
DISTGPT_AVX2 inline __m256i q4_pair_products(__m256i packed, const int8_t* doubled, const int32_t* offset) {
    const __m256i nibble = _mm256_set1_epi8(0xf);
    const __m256i low = _mm256_and_si256(packed, nibble), high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
    const __m256i sums = _mm256_add_epi16(_mm256_maddubs_epi16(low, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(doubled))),
                                          _mm256_maddubs_epi16(high, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(doubled + 32))));
    return _mm256_sub_epi32(_mm256_madd_epi16(sums, _mm256_set1_epi16(1)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offset)));
}

// R weight rows (R = 4: a group's tiles, two pairs; or 1: a row past the
// last group) against input row r. The two pairs' lanes are added pairwise
// into one vector (exact, in integers), lanes [r0 r0 r2 r2 | r1 r1 r3 r3],
// so one conversion and one FMA serve the 4 rows; a row past the last group
// goes through the same operations with zeros beside it.
template <int R>
DISTGPT_AVX2 inline void dot_rows_q4(const InputBlocks& X, int r, const std::byte* tiles, float* y) {
    static_assert(R == 4 || R == 1);
    constexpr long stride = R * (2 + block_code_bytes(WeightFormat::Q4));  // a tile: R scales, then R blocks of codes
    const std::size_t first = static_cast<std::size_t>(r) * X.blocks;
    const int8_t* doubled = X.doubled.data() + first * 2 * kQuantBlock;
    const int32_t* offset = X.offsets.data() + first * 8;
    const float* dx = X.scales.data() + first;
    const __m256i row_of_lane = _mm256_setr_epi32(0, 0, 2, 2, 1, 1, 3, 3);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < X.blocks; ++b) {
        const auto* tile = reinterpret_cast<const uint8_t*>(tiles + b * stride);
        const __m128 d = tile_scales<R, stride>(tile, dx[b]);  // the rows' weight scales times the input block's
        __m256i pair[2];
        for (int p = 0; p < 2; ++p) {
            const uint8_t* codes = tile + 2 * R + p * kQuantBlock;  // two rows' 16 bytes each
            pair[p] = R == 4
                          ? q4_pair_products(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes)), doubled + b * 64, offset + b * 8)
                      : p == 0 ? q4_pair_products(_mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes))),
                                                  doubled + b * 64, offset + b * 8)
                               : _mm256_setzero_si256();
        }
        const __m256 scales = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d), row_of_lane);
        acc = _mm256_fmadd_ps(scales, _mm256_cvtepi32_ps(_mm256_hadd_epi32(pair[0], pair[1])), acc);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    const int lane_of_row[4] = {0, 4, 2, 6};
    for (int j = 0; j < R; ++j) y[j] = lanes[lane_of_row[j]] + lanes[lane_of_row[j] + 1];
}

template <WeightFormat F, int R>
DISTGPT_AVX2 inline void dot_rows_block_format(const InputBlocks& X, int r, const std::byte* tiles, float* y) {
    if constexpr (F == WeightFormat::Q4)
        dot_rows_q4<R>(X, r, tiles, y);
    else
        dot_rows_q8<R>(X, r, tiles, y);
}

template <WeightFormat F>
DISTGPT_AVX2 void dot_block_quant_avx2(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end,
                                       float* Y) {
    for_each_tile_stream(
        n, W, bias, out, o_begin, o_end, Y,
        [&](const std::byte* t, int r, float* y) DISTGPT_AVX2 { dot_rows_block_format<F, 4>(X, r, t, y); },
        [&](const std::byte* t, int r, float* y) DISTGPT_AVX2 { dot_rows_block_format<F, 1>(X, r, t, y); });
}
#endif

#if DISTGPT_NEON_KERNELS
// 32 int8 weights times 32 int8 inputs, summed exactly: pairs of products
// into 16-bit lanes (two products of at most 127·127 fit), those into 32-bit
// lanes, then across. A Raspberry Pi 5 (ARMv8.2) has a dot-product
// instruction for it; a Pi 4 (ARMv8.0) has not.
inline int32_t dot32_neon(int8x16_t w0, int8x16_t w1, const int8_t* x) {
    const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
#if defined(__ARM_FEATURE_DOTPROD)
    return vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1));
#else
    const int16x8_t low = vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), vget_high_s8(w0), vget_high_s8(x0));
    const int16x8_t high = vmlal_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), vget_high_s8(w1), vget_high_s8(x1));
    return vaddvq_s32(vpadalq_s16(vpaddlq_s16(low), high));
#endif
}

// A block's weights as int8: q8's as stored, q4's nibbles (q + 8) unpacked,
// weights 0..15 from the low nibbles and 16..31 from the high ones.
template <WeightFormat F>
inline int32_t block_dot_neon(const uint8_t* codes, const int8_t* x) {
    if constexpr (F == WeightFormat::Q8)
        return dot32_neon(vld1q_s8(reinterpret_cast<const int8_t*>(codes)), vld1q_s8(reinterpret_cast<const int8_t*>(codes) + 16), x);
    const uint8x16_t packed = vld1q_u8(codes);
    const int8x16_t eight = vdupq_n_s8(8);
    return dot32_neon(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0xf))), eight),
                      vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight), x);
}

// R rows held in tiles (4: a group's; 1: a row past the last group) against
// input row r, each block's sum added as the portable kernel adds it.
template <WeightFormat F, int R>
inline void dot_rows_block_neon(const InputBlocks& X, int r, const std::byte* tiles, float* y) {
    constexpr long code_bytes = block_code_bytes(F);
    constexpr long stride = R * (2 + code_bytes);  // a tile: R scales, then R blocks of codes
    const std::size_t first = static_cast<std::size_t>(r) * X.blocks;
    const int8_t* x = X.codes.data() + first * kQuantBlock;
    float s[R] = {};
    for (int b = 0; b < X.blocks; ++b) {
        const auto* tile = reinterpret_cast<const uint8_t*>(tiles + b * stride);
        __builtin_prefetch(tile + kPrefetchAhead);
        for (int j = 0; j < R; ++j) {
            uint16_t scale;
            std::memcpy(&scale, tile + 2 * j, 2);
            s[j] = add_block(s[j], scale, X.scales[first + b], block_dot_neon<F>(tile + 2 * R + j * code_bytes, x + b * kQuantBlock));
        }
    }
    for (int j = 0; j < R; ++j) y[j] = s[j];
}

template <WeightFormat F>
void dot_block_quant_neon(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end, float* Y) {
    for_each_tile_stream(
        n, W, bias, out, o_begin, o_end, Y, [&](const std::byte* t, int r, float* y) { dot_rows_block_neon<F, 4>(X, r, t, y); },
        [&](const std::byte* t, int r, float* y) { dot_rows_block_neon<F, 1>(X, r, t, y); });
}
#endif

template <WeightFormat F>
void dot_block_quant(const InputBlocks& X, int n, WeightRows W, const float* bias, int out, int o_begin, int o_end, float* Y) {
#if DISTGPT_AVX2_KERNELS
    if (use_avx2_kernels()) return dot_block_quant_avx2<F>(X, n, W, bias, out, o_begin, o_end, Y);
#endif
#if DISTGPT_NEON_KERNELS
    if (use_neon_kernels()) return dot_block_quant_neon<F>(X, n, W, bias, out, o_begin, o_end, Y);
#endif
    if constexpr (F == WeightFormat::Q8) return dot_block_q8_portable(X, n, W, bias, out, o_begin, o_end, Y);
    return dot_block_q4_portable(X, n, W, bias, out, o_begin, o_end, Y);
}

// fp32: the AVX2 kernel where the CPU has it, else the portable one.
void dot_block_f32_of(const float* X, int ldx, int n, const float* W, long ldw, const float* bias, int in, int out, int o_begin, int o_end,
                      float* Y) {
#if DISTGPT_AVX2_KERNELS
    if (use_avx2_kernels()) return dot_block_f32_avx2(X, ldx, n, W, ldw, bias, in, out, o_begin, o_end, Y);
#endif
    dot_block_f32(X, ldx, n, W, ldw, bias, in, out, o_begin, o_end, Y);
}

// A 16-bit format: the AVX2 kernel where the CPU has it, else the portable one.
template <WeightFormat F>
void dot_block_16bit(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin, int o_end, float* Y) {
#if DISTGPT_AVX2_KERNELS
    if (use_avx2_kernels()) return dot_block_16bit_avx2<F>(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
#endif
    if constexpr (F == WeightFormat::BF16) return dot_block_bf16_portable(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
    return dot_block_f16_portable(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
}

void dot_block_of(const float* X, int ldx, int n, WeightRows W, const float* bias, int in, int out, int o_begin, int o_end, float* Y) {
    switch (W.format) {
        case WeightFormat::Q8:
        case WeightFormat::Q4: break;  // rows_times_weight rounds the inputs first
        case WeightFormat::F32:
            return dot_block_f32_of(X, ldx, n, static_cast<const float*>(W.data), W.ld, bias, in, out, o_begin, o_end, Y);
        case WeightFormat::BF16: return dot_block_16bit<WeightFormat::BF16>(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
        case WeightFormat::F16: return dot_block_16bit<WeightFormat::F16>(X, ldx, n, W, bias, in, out, o_begin, o_end, Y);
    }
}

}  // namespace

WeightRows WeightRows::columns_from(long first) const {
    const auto* bytes = static_cast<const std::byte*>(data);
    if (is_held_in_tiles(format)) return {data, format, ld, first_block + first / kQuantBlock};
    return {bytes + first * static_cast<long>(bytes_per_weight(format)), format, ld};
}

void rows_times_weight(const float* X, int n, const float* W, const float* bias, int out, int in, float* Y, int threads) {
    rows_times_weight(X, in, n, WeightRows{W, WeightFormat::F32, in}, bias, out, in, Y, threads);
}

namespace {
std::atomic<int64_t> nanoseconds_inside{0};
}  // namespace

int64_t rows_times_weight_nanoseconds() { return nanoseconds_inside.load(std::memory_order_relaxed); }

void rows_times_weight(const float* X, int ldx, int n, WeightRows W, const float* bias, int out, int in, float* Y, int threads) {
    const auto start = std::chrono::steady_clock::now();
    // Chunks of rows handed out as threads free up: two threads rarely
    // stream memory at the same rate, and a fixed half each leaves one waiting.
    // A multiple of 4, so 4-row blocks sit at the same rows for any thread count.
    const int chunk = (std::max(16, out / (std::max(1, threads) * 16)) + 3) / 4 * 4;
    const int chunks = (out + chunk - 1) / chunk;
    const InputBlocks xq = is_block_format(W.format) ? input_blocks(X, ldx, n, in, W.format) : InputBlocks{};
    // One parallel region for all the input rows: a thread keeps its chunk
    // of W in cache across the passes of a prefill, and nobody waits at a
    // barrier between passes.
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, 1)
    for (int c = 0; c < chunks; ++c) {
        const int begin = c * chunk, end = std::min(out, (c + 1) * chunk);
        if (W.format == WeightFormat::Q8)
            dot_block_quant<WeightFormat::Q8>(xq, n, W, bias, out, begin, end, Y);
        else if (W.format == WeightFormat::Q4)
            dot_block_quant<WeightFormat::Q4>(xq, n, W, bias, out, begin, end, Y);
        else
            for (int r0 = 0; r0 < n; r0 += kMaxRows)  // each 4-row block of W reused from L1 for kMaxRows inputs
                dot_block_of(X + static_cast<long>(r0) * ldx, ldx, std::min(kMaxRows, n - r0), W, bias, in, out, begin, end,
                             Y + static_cast<long>(r0) * out);
    }
    nanoseconds_inside.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count(),
                                 std::memory_order_relaxed);
}

}  // namespace distgpt
