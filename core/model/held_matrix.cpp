#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/held_matrix.h"

#include "util/error.h"
#include "util/huge_pages.h"
#include "weights/block_quant.h"

#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstdlib>

namespace distgpt {
namespace {

BlockLayout layout_of(const HeldMatrix& m) { return {m.format, m.columns, m.segments}; }

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
    int64_t n = values.numel() * static_cast<int64_t>(values.element_size());
    if (scales.defined()) n += scales.numel() * static_cast<int64_t>(scales.element_size());
    return n;
}

WeightRows HeldMatrix::weight_rows() const {
    if (is_block_format(format))
        return {values.data_ptr(), format, static_cast<long>(layout_of(*this).blocks_per_row()),
                reinterpret_cast<const uint16_t*>(scales.data_ptr())};
    return {values.data_ptr(), format, static_cast<long>(columns)};
}

WeightRows HeldMatrix::segment(int index) const {
    const BlockLayout layout = layout_of(*this);
    // In a block format a segment starts on its own block: its first column
    // as the kernel counts them is where that block starts.
    const long first = is_block_format(format) ? static_cast<long>(index * layout.blocks_per_segment() * kQuantBlock)
                                               : static_cast<long>(index * layout.segment_columns());
    return weight_rows().columns_from(first);
}

at::Tensor HeldMatrix::rows_as_float(const at::Tensor& ids) const {
    if (!is_block_format(format)) return at::embedding(values, ids).to(at::kFloat);  // [N, C]
    const at::Tensor id = ids.contiguous();
    at::Tensor out = at::empty({id.numel(), columns});  // [N, C]
    const BlockLayout layout = layout_of(*this);
    const auto* codes = static_cast<const std::byte*>(values.data_ptr());
    const auto* scale = reinterpret_cast<const uint16_t*>(scales.data_ptr());
    for (int64_t i = 0; i < id.numel(); ++i) {
        const int64_t row = id.data_ptr<int64_t>()[i];
        if (row < 0 || row >= rows())
            throw Error("token id " + std::to_string(row) + " is outside the embedding's " + std::to_string(rows()) + " rows");
        dequantize_rows(codes + row * layout.code_bytes_per_row(), scale + row * layout.blocks_per_row(), 1, layout,
                        out.data_ptr<float>() + i * columns, columns);
    }
    return out;
}

at::Tensor HeldMatrix::to_float() const {
    if (!is_block_format(format)) return values.to(at::kFloat);
    at::Tensor out = at::empty({rows(), columns});  // [rows, columns]
    dequantize_rows(static_cast<const std::byte*>(values.data_ptr()), reinterpret_cast<const uint16_t*>(scales.data_ptr()), rows(),
                    layout_of(*this), out.data_ptr<float>(), columns);
    return out;
}

HeldMatrix hold_matrix(const at::Tensor& matrix, WeightFormat format, int segments) {
    HeldMatrix m;
    m.format = format;
    m.columns = matrix.size(1);
    m.segments = segments;
    if (!is_block_format(format)) {
        m.values = empty_weight(matrix.sizes(), scalar_type_of(format));
        m.values.copy_(matrix);
        return m;
    }
    const at::Tensor f32 = matrix.to(at::kFloat).contiguous();  // [rows, columns]
    const BlockLayout layout = layout_of(m);
    m.values = empty_weight({matrix.size(0), layout.code_bytes_per_row()}, at::kByte);
    m.scales = empty_weight({matrix.size(0), layout.blocks_per_row()}, at::kHalf);
    quantize_rows(f32.data_ptr<float>(), m.columns, matrix.size(0), layout, static_cast<std::byte*>(m.values.data_ptr()),
                  reinterpret_cast<uint16_t*>(m.scales.data_ptr()));
    return m;
}

}  // namespace distgpt
