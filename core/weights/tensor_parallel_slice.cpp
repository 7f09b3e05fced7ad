#include "weights/tensor_parallel_slice.h"

#include "util/error.h"

#include <cstring>

namespace distgpt {

TensorSlice slice_for_ranks(const TensorView& v, TensorParallelCut cut, int first, int count, int k) {
    const std::size_t element = dtype_size(v.dtype);
    TensorSlice out{v.shape, {}};
    auto fail = [&](const std::string& why) {
        return Error(v.origin + ": tensor '" + v.name + "' of shape " + v.shape_string() + " " + why + " for " + std::to_string(k) +
                     " tensor-parallel ranks");
    };
    if (k == 1 || cut == TensorParallelCut::Whole || cut == TensorParallelCut::RankZeroOnly) {
        if (cut == TensorParallelCut::RankZeroOnly && first != 0) return {{}, {}};
        out.bytes.assign(v.data, v.data + v.nbytes);
        return out;
    }
    if (v.shape.empty()) throw fail("has no dimensions to split");
    const auto* in = v.data;
    if (cut == TensorParallelCut::FirstDim) {
        if (v.shape.size() != 2 || v.shape[0] % k) throw fail("does not split by rows");
        const int64_t rows = v.shape[0] / k;
        const std::size_t row_bytes = static_cast<std::size_t>(v.shape[1]) * element;
        out.shape[0] = rows * count;
        out.bytes.assign(in + first * rows * row_bytes, in + (first + count) * rows * row_bytes);
        return out;
    }
    // Columns of the last dimension: in every row, one piece (or q, k and v's pieces).
    const int pieces = cut == TensorParallelCut::QkvLastDim ? 3 : 1;
    const int64_t cols = v.shape.back();
    if (cols % (pieces * k)) throw fail("does not split by columns");
    const int64_t piece = cols / pieces, share = piece / k, kept = share * count;
    const int64_t rows = v.numel() / cols;
    out.shape.back() = kept * pieces;
    out.bytes.resize(static_cast<std::size_t>(rows * kept * pieces) * element);
    std::byte* dst = out.bytes.data();
    for (int64_t row = 0; row < rows; ++row)
        for (int p = 0; p < pieces; ++p) {
            const std::size_t bytes = static_cast<std::size_t>(kept) * element;
            std::memcpy(dst, in + (row * cols + p * piece + first * share) * element, bytes);
            dst += bytes;
        }
    return out;
}

std::vector<int64_t> sliced_shape(std::vector<int64_t> shape, TensorParallelCut cut, int count, int k) {
    if (k == 1 || shape.empty()) return shape;
    switch (cut) {
        case TensorParallelCut::Whole:
        case TensorParallelCut::RankZeroOnly: return shape;
        case TensorParallelCut::FirstDim: shape.front() = shape.front() / k * count; return shape;
        case TensorParallelCut::LastDim: shape.back() = shape.back() / k * count; return shape;
        case TensorParallelCut::QkvLastDim: shape.back() = shape.back() / 3 / k * count * 3; return shape;
    }
    return shape;
}

}  // namespace distgpt
