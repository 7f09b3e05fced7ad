#pragma once
#include "model/rows_times_weight.h"
#include "weights/weight_format.h"

#include <ATen/core/Tensor.h>

namespace distgpt {

// A matrix [rows, columns] as a stage holds it: fp32 values row by row, or in
// tiles (weights/block_quant.h) 16-bit values or a block format's codes and
// scales. `segments` column ranges are held apart: the tensor-parallel ranks'
// shares of a row-parallel matrix (in tiles each starts on a block of its own).
struct HeldMatrix {
    at::Tensor values;  // fp32: [rows, columns]; 16-bit: the tiles, [rows, blocks·32] of that type; q8/q4: the tiles, [rows, tile bytes of
                        // a row] (uint8)
    WeightFormat format = WeightFormat::F32;
    int64_t columns = 0;
    int segments = 1;

    bool defined() const { return values.defined(); }
    int64_t rows() const { return values.size(0); }
    int64_t bytes() const;
    bool is_same(const HeldMatrix& other) const { return values.is_same(other.values); }
    WeightRows weight_rows() const;       // all columns
    WeightRows segment(int index) const;  // segment `index`'s columns, for the kernel
    // Rows [first, rows()), for the kernel (held in tiles, `first` is a multiple of 4: a group's first row).
    WeightRows rows_from(int64_t first) const;
    // Rows `ids` as fp32 [N, columns]: an embedding lookup.
    at::Tensor rows_as_float(const at::Tensor& ids) const;
    at::Tensor to_float() const;  // [rows, columns] fp32
};

// The libtorch type of a held matrix's values: fp32, bf16, f16, or bytes
// (a block format's codes).
at::ScalarType scalar_type_of(WeightFormat format);
// Room for weights: in huge pages when large (decode streams every weight
// once per token, and runs ~10% faster from them: docs/performance.md).
at::Tensor empty_weight(at::IntArrayRef sizes, at::ScalarType type);

// `matrix` (any float type, [rows, columns]) held in `format`, cut into `segments`.
HeldMatrix hold_matrix(const at::Tensor& matrix, WeightFormat format, int segments = 1);

}  // namespace distgpt
