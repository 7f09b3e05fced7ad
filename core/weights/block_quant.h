#pragma once
#include "weights/weight_format.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace distgpt {

// The block formats (docs/quantized-weights.md): each row of a matrix
// [out, in] is cut into blocks of 32 consecutive weights, each block stored as
// small integers q with one fp16 scale d, a weight being q·d:
//   q8: q ∈ [-127, 127], one int8 each       (32 + 2 bytes: 8.5 bits a weight)
//   q4: q ∈ [-8, 7], two 4-bit codes a byte  (16 + 2 bytes: 4.5 bits a weight)
// In a q4 block, byte k (0..15) holds weight k in its low nibble and weight
// k + 16 in its high one, each as q + 8.
// The integers and the scales are kept apart, row after row (two tensors, as
// in a checkpoint), so a row is two streams the kernel reads in step.
//
// A matrix may be cut into `segments` column ranges quantized apart, each
// padded with zeros to whole blocks: a row-parallel matrix held for several
// tensor-parallel ranks keeps each rank's columns in blocks of their own, so
// a rank's weights are the same bits on whichever node holds it.
constexpr int kQuantBlock = 32;

bool is_block_format(WeightFormat format);
// Held in tiles (BlockTiles): the block formats, and the 16-bit ones, whose
// blocks are 32 values of 2 bytes with no scale. Only fp32 is held row by row.
bool is_held_in_tiles(WeightFormat format);
// The bytes of one block's codes: q4 16, q8 32, bf16/f16 64.
constexpr int64_t block_code_bytes(WeightFormat format) {
    switch (format) {
        case WeightFormat::Q4: return kQuantBlock / 2;
        case WeightFormat::Q8: return kQuantBlock;
        case WeightFormat::BF16:
        case WeightFormat::F16: return 2 * kQuantBlock;
        case WeightFormat::F32: break;
    }
    return 4 * kQuantBlock;
}

struct BlockLayout {
    WeightFormat format;
    int64_t columns;  // all segments' columns
    int segments = 1;

    int64_t segment_columns() const { return columns / segments; }
    int64_t blocks_per_segment() const { return (segment_columns() + kQuantBlock - 1) / kQuantBlock; }
    int64_t blocks_per_row() const { return blocks_per_segment() * segments; }
    int64_t code_bytes_per_row() const;  // int8 codes (q8) or packed nibbles (q4)
};

// Quantizes `rows` rows of `layout.columns` floats (row r at src + r·ld) into
// codes [rows, code_bytes_per_row] and scales [rows, blocks_per_row]. The
// rounding is a projection: quantizing what dequantize gives back returns the
// same bits (a quantized checkpoint loads to exactly the blocks it stores,
// and a streamed shard to exactly those of a local one).
void quantize_rows(const float* src, int64_t ld, int64_t rows, const BlockLayout& layout, std::byte* codes, uint16_t* scales);
// The floats back (q·d), row r at dst + r·ld.
void dequantize_rows(const std::byte* codes, const uint16_t* scales, int64_t rows, const BlockLayout& layout, float* dst, int64_t ld);

// How a stage keeps a block-format or 16-bit matrix in memory: in tiles, so
// that the kernel, which works on 4 rows at a time, reads one sequential
// stream. Rows go in groups of 4; for each group and block, a tile holds the
// 4 rows' fp16 scales (none in a 16-bit format), then their 4 blocks of
// codes, one after the other. Rows past the last whole group (rows mod 4)
// follow, a row at a time, each block a tile of its scale and codes. (Stored
// row by row, 4 rows of 768 weights are 4 short streams, or 8 with their
// scales, which the hardware prefetchers follow at two thirds of the bus.)
struct BlockTiles {
    WeightFormat format;
    int64_t rows;
    int64_t blocks_per_row;

    int64_t scale_bytes() const { return is_block_format(format) ? 2 : 0; }  // of a block
    int64_t code_bytes() const { return block_code_bytes(format); }          // of a block
    int64_t group_tile_bytes() const { return 4 * (scale_bytes() + code_bytes()); }
    int64_t groups() const { return rows / 4; }
    int64_t bytes() const { return rows * blocks_per_row * (scale_bytes() + code_bytes()); }
    // The tile of group g (rows 4g..4g+3), block b.
    const std::byte* group_tile(const std::byte* tiles, int64_t g, int64_t b) const {
        return tiles + (g * blocks_per_row + b) * group_tile_bytes();
    }
    // Where row `row`'s block b is: its tile's offset, the tile's rows, and the row's place in it.
    struct Place {
        int64_t offset;
        int64_t rows_in_tile;
        int64_t index;
    };
    Place place(int64_t row, int64_t b) const {
        if (row < 4 * groups()) return {((row / 4) * blocks_per_row + b) * group_tile_bytes(), 4, row % 4};
        return {
            groups() * blocks_per_row * group_tile_bytes() + ((row - 4 * groups()) * blocks_per_row + b) * (scale_bytes() + code_bytes()),
            1, 0};
    }
    struct Block {
        uint16_t scale;  // 0 in a 16-bit format
        const uint8_t* codes;
    };
    Block block(const std::byte* tiles, int64_t row, int64_t b) const {
        const Place p = place(row, b);
        uint16_t scale = 0;
        if (scale_bytes()) std::memcpy(&scale, tiles + p.offset + 2 * p.index, 2);
        return {scale, reinterpret_cast<const uint8_t*>(tiles + p.offset + scale_bytes() * p.rows_in_tile + p.index * code_bytes())};
    }
    std::byte* codes(std::byte* tiles, int64_t row, int64_t b) const {
        const Place p = place(row, b);
        return tiles + p.offset + scale_bytes() * p.rows_in_tile + p.index * code_bytes();
    }
};
// Row-major codes and scales (as quantize_rows writes them) into tiles; a
// 16-bit format has no scales (nullptr).
void tile_blocks(const std::byte* codes, const uint16_t* scales, const BlockTiles& shape, std::byte* tiles);

}  // namespace distgpt
