#include "weights/block_quant.h"

#include "util/error.h"
#include "weights/half_float.h"

#include <algorithm>
#include <cmath>

namespace distgpt {
namespace {

// The smallest scale: fp16's smallest normal number. Blocks whose weights
// are all below 127 (q8) or 8 (q4) of it take it as their scale; a subnormal
// scale would lose the bits that make rounding a projection, and the weights
// it would have kept apart differ by less than 2^-15.
constexpr float kMinScale = 0x1p-14f;

struct Block {
    float w[kQuantBlock];
};

// A segment's block b, zero-padded past the segment's end.
Block block_at(const float* segment, int64_t columns, int64_t b) {
    Block block{};
    const int64_t first = b * kQuantBlock;
    const int64_t n = std::min<int64_t>(kQuantBlock, columns - first);
    std::copy(segment + first, segment + first + n, block.w);
    return block;
}

// Symmetric, 255 levels: the largest magnitude becomes ±127.
uint16_t quantize_q8(const Block& b, int8_t* q) {
    float absmax = 0;
    for (float w : b.w) absmax = std::max(absmax, std::fabs(w));
    const uint16_t scale = f32_to_f16(std::max(absmax / 127.0f, kMinScale));
    const float d = f16_to_f32(scale);
    for (int i = 0; i < kQuantBlock; ++i) q[i] = static_cast<int8_t>(std::clamp(std::round(b.w[i] / d), -127.0f, 127.0f));
    return scale;
}

// 16 levels, -8..7: the scale takes the sign that sends the largest
// magnitude to -8, so that side uses all of them.
uint16_t quantize_q4(const Block& b, uint8_t* packed) {
    float extreme = 0;
    for (float w : b.w)
        if (std::fabs(w) > std::fabs(extreme)) extreme = w;
    const uint16_t scale = std::fabs(extreme) / 8.0f >= kMinScale ? f32_to_f16(-extreme / 8.0f) : f32_to_f16(kMinScale);
    const float d = f16_to_f32(scale);
    auto code = [&](float w) { return static_cast<uint8_t>(std::clamp(std::round(w / d), -8.0f, 7.0f) + 8.0f); };
    for (int k = 0; k < kQuantBlock / 2; ++k) packed[k] = static_cast<uint8_t>(code(b.w[k]) | (code(b.w[k + kQuantBlock / 2]) << 4));
    return scale;
}

}  // namespace

bool is_block_format(WeightFormat format) { return format == WeightFormat::Q8 || format == WeightFormat::Q4; }

bool is_held_in_tiles(WeightFormat format) { return format != WeightFormat::F32; }

int64_t BlockLayout::code_bytes_per_row() const { return blocks_per_row() * block_code_bytes(format); }

void quantize_rows(const float* src, int64_t ld, int64_t rows, const BlockLayout& layout, std::byte* codes, uint16_t* scales) {
    if (!is_block_format(layout.format)) throw Error("quantize_rows: " + weight_format_name(layout.format) + " is not a block format");
    if (layout.segments < 1 || layout.columns % layout.segments != 0)
        throw Error("quantize_rows: " + std::to_string(layout.columns) + " columns do not split into " + std::to_string(layout.segments) +
                    " equal segments");
    const int64_t per_segment = layout.segment_columns(), blocks = layout.blocks_per_segment();
    const int64_t block_bytes = block_code_bytes(layout.format);
    for (int64_t r = 0; r < rows; ++r) {
        std::byte* code_row = codes + r * layout.code_bytes_per_row();
        uint16_t* scale_row = scales + r * layout.blocks_per_row();
        for (int s = 0; s < layout.segments; ++s)
            for (int64_t b = 0; b < blocks; ++b) {
                const Block block = block_at(src + r * ld + s * per_segment, per_segment, b);
                const int64_t index = s * blocks + b;
                auto* out = reinterpret_cast<uint8_t*>(code_row + index * block_bytes);
                scale_row[index] =
                    layout.format == WeightFormat::Q8 ? quantize_q8(block, reinterpret_cast<int8_t*>(out)) : quantize_q4(block, out);
            }
    }
}

void dequantize_rows(const std::byte* codes, const uint16_t* scales, int64_t rows, const BlockLayout& layout, float* dst, int64_t ld) {
    const int64_t per_segment = layout.segment_columns(), blocks = layout.blocks_per_segment();
    const int64_t block_bytes = block_code_bytes(layout.format);
    for (int64_t r = 0; r < rows; ++r) {
        const std::byte* code_row = codes + r * layout.code_bytes_per_row();
        const uint16_t* scale_row = scales + r * layout.blocks_per_row();
        for (int s = 0; s < layout.segments; ++s)
            for (int64_t b = 0; b < blocks; ++b) {
                const int64_t index = s * blocks + b;
                const float d = f16_to_f32(scale_row[index]);
                const auto* in = reinterpret_cast<const uint8_t*>(code_row + index * block_bytes);
                float* out = dst + r * ld + s * per_segment + b * kQuantBlock;
                const int n = static_cast<int>(std::min<int64_t>(kQuantBlock, per_segment - b * kQuantBlock));
                for (int i = 0; i < n; ++i) {
                    const int q = layout.format == WeightFormat::Q8
                                      ? static_cast<int8_t>(in[i])
                                      : static_cast<int>(i < kQuantBlock / 2 ? in[i] & 0xf : in[i - kQuantBlock / 2] >> 4) - 8;
                    out[i] = static_cast<float>(q) * d;
                }
            }
    }
}

void tile_blocks(const std::byte* codes, const uint16_t* scales, const BlockTiles& shape, std::byte* tiles) {
    const int64_t code = shape.code_bytes(), blocks = shape.blocks_per_row;
    for (int64_t row = 0; row < shape.rows; ++row)
        for (int64_t b = 0; b < blocks; ++b) {
            const BlockTiles::Place p = shape.place(row, b);
            if (scales) std::memcpy(tiles + p.offset + 2 * p.index, scales + row * blocks + b, 2);
            std::memcpy(shape.codes(tiles, row, b), codes + (row * blocks + b) * code, static_cast<std::size_t>(code));
        }
}

}  // namespace distgpt
