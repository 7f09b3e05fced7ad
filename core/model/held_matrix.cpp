#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/held_matrix.h"

#include "util/error.h"
#include "util/huge_pages.h"
#include "weights/half_float.h"
#include "weights/block_quant.h"

#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace distgpt {
namespace {

BlockLayout layout_of(const HeldMatrix& m) { return {m.format, m.columns, m.segments}; }
BlockTiles tiles_of(const HeldMatrix& m) { return {m.format, m.rows(), layout_of(m).blocks_per_row()}; }

// Row `row` of a matrix held in tiles as floats, each segment's columns from its own blocks.
void row_as_float(const HeldMatrix& m, int64_t row, float* out) {
    const BlockLayout layout = layout_of(m);
    const BlockTiles tiles = tiles_of(m);
    const auto* data = static_cast<const std::byte*>(m.values.data_ptr());
    if (!is_block_format(m.format)) {  // 16-bit: a block's codes are its values
        const int64_t per_segment = layout.segment_columns(), blocks = layout.blocks_per_segment();
        for (int s = 0; s < m.segments; ++s)
            for (int64_t b = 0; b < blocks; ++b) {
                uint16_t values[kQuantBlock];
                std::memcpy(values, tiles.block(data, row, s * blocks + b).codes, sizeof values);
                const int64_t n = std::min<int64_t>(kQuantBlock, per_segment - b * kQuantBlock);
                float* o = out + s * per_segment + b * kQuantBlock;
                for (int64_t i = 0; i < n; ++i) o[i] = m.format == WeightFormat::BF16 ? bf16_to_f32(values[i]) : f16_to_f32(values[i]);
            }
        return;
    }
    std::vector<std::byte> codes(static_cast<std::size_t>(layout.code_bytes_per_row()));
    std::vector<uint16_t> scales(static_cast<std::size_t>(layout.blocks_per_row()));
    for (int64_t b = 0; b < layout.blocks_per_row(); ++b) {
        const BlockTiles::Block block = tiles.block(data, row, b);
        scales[b] = block.scale;
        std::memcpy(codes.data() + b * tiles.code_bytes(), block.codes, static_cast<std::size_t>(tiles.code_bytes()));
    }
    dequantize_rows(codes.data(), scales.data(), 1, layout, out, m.columns);
}

// A 16-bit matrix [rows, columns] (of the held type) into tiles: each
// segment's columns in blocks of their own, the last one padded with zeros.
void tile_16bit(const at::Tensor& matrix, const BlockLayout& layout, const BlockTiles& tiles, std::byte* out) {
    const auto* values = static_cast<const uint16_t*>(matrix.data_ptr());
    const int64_t per_segment = layout.segment_columns(), blocks = layout.blocks_per_segment();
    for (int64_t row = 0; row < tiles.rows; ++row)
        for (int s = 0; s < layout.segments; ++s)
            for (int64_t b = 0; b < blocks; ++b) {
                uint16_t block[kQuantBlock] = {};
                const int64_t first = s * per_segment + b * kQuantBlock;
                const int64_t n = std::min<int64_t>(kQuantBlock, per_segment - b * kQuantBlock);
                std::memcpy(block, values + row * layout.columns + first, static_cast<std::size_t>(n) * 2);
                std::memcpy(tiles.codes(out, row, s * blocks + b), block, sizeof block);
            }
}

}  // namespace

at::ScalarType scalar_type_of(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return at::kFloat;
        case WeightFormat::BF16: return at::kBFloat16;
        case WeightFormat::F16: return at::kHalf;
        case WeightFormat::Q8:
        case WeightFormat::Q4: return at::kByte;
    }
    return at::kFloat;
}

at::Tensor empty_weight(at::IntArrayRef sizes, at::ScalarType type) {
    int64_t numel = 1;
    for (int64_t d : sizes) numel *= d;
    const std::size_t bytes = static_cast<std::size_t>(numel) * at::elementSize(type);
    if (bytes < (1u << 20)) return at::empty(sizes, at::TensorOptions().dtype(type));
    void* p = allocate_streamed(bytes);
    if (!p) throw Error("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of weights");
    return at::from_blob(
        p, sizes, [](void* q) { std::free(q); }, at::TensorOptions().dtype(type));
}

int64_t HeldMatrix::bytes() const {
    if (!defined()) return 0;
    return values.numel() * static_cast<int64_t>(values.element_size());
}

WeightRows HeldMatrix::weight_rows() const {
    if (is_held_in_tiles(format)) return {values.data_ptr(), format, static_cast<long>(layout_of(*this).blocks_per_row())};
    return {values.data_ptr(), format, static_cast<long>(columns)};
}

WeightRows HeldMatrix::segment(int index) const {
    const BlockLayout layout = layout_of(*this);
    // Held in tiles, a segment starts on its own block: its first column as
    // the kernel counts them is where that block starts.
    const long first = is_held_in_tiles(format) ? static_cast<long>(index * layout.blocks_per_segment() * kQuantBlock)
                                                : static_cast<long>(index * layout.segment_columns());
    return weight_rows().columns_from(first);
}

WeightRows HeldMatrix::rows_from(int64_t first) const {
    WeightRows w = weight_rows();
    const auto* bytes = static_cast<const std::byte*>(w.data);
    if (is_held_in_tiles(format)) {
        if (first % 4 != 0) throw Error("a matrix held in tiles is cut into rows at a group of 4, not at row " + std::to_string(first));
        w.data = bytes + tiles_of(*this).place(first, 0).offset;
    } else {
        w.data = bytes + first * columns * static_cast<int64_t>(values.element_size());
    }
    return w;
}

at::Tensor HeldMatrix::rows_as_float(const at::Tensor& ids) const {
    if (!is_held_in_tiles(format)) return at::embedding(values, ids);  // [N, C]
    const at::Tensor id = ids.contiguous();
    at::Tensor out = at::empty({id.numel(), columns});  // [N, C]
    for (int64_t i = 0; i < id.numel(); ++i) {
        const int64_t row = id.data_ptr<int64_t>()[i];
        if (row < 0 || row >= rows())
            throw Error("token id " + std::to_string(row) + " is outside the embedding's " + std::to_string(rows()) + " rows");
        row_as_float(*this, row, out.data_ptr<float>() + i * columns);
    }
    return out;
}

at::Tensor HeldMatrix::to_float() const {
    if (!is_held_in_tiles(format)) return values.to(at::kFloat);
    at::Tensor out = at::empty({rows(), columns});  // [rows, columns]
    for (int64_t row = 0; row < rows(); ++row) row_as_float(*this, row, out.data_ptr<float>() + row * columns);
    return out;
}

HeldMatrix hold_matrix(const at::Tensor& matrix, WeightFormat format, int segments) {
    HeldMatrix m;
    m.format = format;
    m.columns = matrix.size(1);
    m.segments = segments;
    if (segments < 1 || m.columns % segments != 0)
        throw Error(std::to_string(m.columns) + " columns do not split into " + std::to_string(segments) + " equal segments");
    const int64_t rows = matrix.size(0);
    const BlockLayout layout = layout_of(m);
    if (format == WeightFormat::F32) {
        m.values = empty_weight(matrix.sizes(), at::kFloat);
        m.values.copy_(matrix);
        return m;
    }
    if (!is_block_format(format)) {                                              // 16-bit: the values themselves in tiles
        const at::Tensor held = matrix.to(scalar_type_of(format)).contiguous();  // [rows, columns]
        const BlockTiles tiles{format, rows, layout.blocks_per_row()};
        m.values = empty_weight({rows, layout.blocks_per_row() * kQuantBlock}, scalar_type_of(format));
        tile_16bit(held, layout, tiles, static_cast<std::byte*>(m.values.data_ptr()));
        return m;
    }
    const at::Tensor f32 = matrix.to(at::kFloat).contiguous();  // [rows, columns]
    std::vector<std::byte> codes(static_cast<std::size_t>(rows * layout.code_bytes_per_row()));
    std::vector<uint16_t> scales(static_cast<std::size_t>(rows * layout.blocks_per_row()));
    quantize_rows(f32.data_ptr<float>(), m.columns, rows, layout, codes.data(), scales.data());
    const BlockTiles tiles{format, rows, layout.blocks_per_row()};
    m.values = empty_weight({rows, tiles.bytes() / std::max<int64_t>(1, rows)}, at::kByte);
    tile_blocks(codes.data(), scales.data(), tiles, static_cast<std::byte*>(m.values.data_ptr()));
    return m;
}

}  // namespace distgpt
