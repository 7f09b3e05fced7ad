#pragma once
#include "weights/weight_format.h"

#include <cstddef>
#include <cstdint>
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

}  // namespace distgpt
