#include "weights/quantized_tensors.h"

#include "util/error.h"
#include "weights/half_float.h"
#include "weights/tensor_parallel_slice.h"

#include <cstring>

namespace distgpt {
namespace {

// A matrix's outputs and inputs from its stored shape.
struct RowsColumns {
    int64_t rows, columns;
};
RowsColumns rows_columns(const std::vector<int64_t>& shape, bool in_out) {
    if (shape.size() != 2) throw Error("a quantized tensor must be a matrix, not " + std::to_string(shape.size()) + "-dimensional");
    return in_out ? RowsColumns{shape[1], shape[0]} : RowsColumns{shape[0], shape[1]};
}

std::vector<float> floats_of(const TensorView& view) {
    if (!is_weight_dtype(view.dtype))
        throw Error(view.origin + ": tensor '" + view.name + "' has dtype " + std::string(dtype_name(view.dtype)) +
                    "; only F32, F16 or BF16 weights can be quantized");
    const auto bytes = view.dtype == DType::F32 ? std::vector<std::byte>(view.data, view.data + view.nbytes)
                                                : convert_floats({view.data, view.nbytes}, view.dtype, DType::F32);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

std::vector<float> transposed(const std::vector<float>& m, int64_t rows, int64_t columns) {
    std::vector<float> t(m.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < columns; ++c) t[c * rows + r] = m[r * columns + c];
    return t;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    TensorView v;
    v.shape = shape;
    return v.shape_string();
}

}  // namespace

std::string scale_name(const std::string& name) { return name + "_scale"; }

QuantizedShapes quantized_shapes(const std::vector<int64_t>& shape, bool in_out, WeightFormat format, int segments) {
    const auto [rows, columns] = rows_columns(shape, in_out);
    const BlockLayout layout{format, columns, segments};
    return {{rows, layout.code_bytes_per_row()}, {rows, layout.blocks_per_row()}};
}

QuantizedTensor quantize_tensor(const TensorView& view, bool in_out, WeightFormat format, int segments) {
    const auto [rows, columns] = rows_columns(view.shape, in_out);
    std::vector<float> m = floats_of(view);
    if (in_out) m = transposed(m, columns, rows);  // [in, out] -> [out, in]
    const BlockLayout layout{format, columns, segments};
    const QuantizedShapes shapes = quantized_shapes(view.shape, in_out, format, segments);
    QuantizedTensor q;
    q.codes_shape = shapes.codes;
    q.scales_shape = shapes.scales;
    q.codes.resize(static_cast<std::size_t>(shapes.codes[0] * shapes.codes[1]));
    q.scales.resize(static_cast<std::size_t>(shapes.scales[0] * shapes.scales[1]));
    quantize_rows(m.data(), columns, rows, layout, q.codes.data(), q.scales.data());
    return q;
}

QuantizedTensors::QuantizedTensors(const TensorSource& inner, const ModelConfig& config, std::optional<ShardSpec> sliced) : inner_(inner) {
    const CheckpointLayout layout(config, inner);
    for (const CheckpointTensor& t : layout.tensors()) {
        if (!inner.contains(scale_name(t.name))) continue;
        Stored s{t, t.shape, 1};
        if (sliced) {
            s.shape = sliced_shape(t.shape, t.cut, sliced->tp_ranks, sliced->tp_size);
            if (split_by_input_columns(t.role)) s.segments = sliced->tp_ranks;
        }
        quantized_.emplace(t.name, std::move(s));
    }
}

QuantizedTensors::QuantizedTensors(std::unique_ptr<TensorSource> inner, const ModelConfig& config) : QuantizedTensors(*inner, config) {
    owned_ = std::move(inner);
}

const QuantizedTensors::Stored* QuantizedTensors::quantized(const std::string& name) const {
    const auto it = quantized_.find(name);
    return it == quantized_.end() ? nullptr : &it->second;
}

std::optional<WeightFormat> QuantizedTensors::block_format_of(const std::string& name) const {
    if (!quantized(name)) return std::nullopt;
    const DType codes = inner_.header(name).dtype;
    if (codes == DType::I8) return WeightFormat::Q8;
    if (codes == DType::U8) return WeightFormat::Q4;
    throw Error(inner_.describe() + ": quantized tensor '" + name + "' has codes of dtype " + std::string(dtype_name(codes)) +
                "; q8 codes are I8 and q4 codes U8");
}

bool QuantizedTensors::contains(const std::string& name) const { return inner_.contains(name); }

std::vector<std::string> QuantizedTensors::names() const {
    std::vector<std::string> out;
    for (const auto& n : inner_.names())
        if (!(n.ends_with("_scale") && quantized(n.substr(0, n.size() - 6)))) out.push_back(n);
    return out;
}

TensorView QuantizedTensors::header(const std::string& name) const {
    const Stored* s = quantized(name);
    if (!s) return inner_.header(name);
    TensorView v = inner_.header(name);
    v.dtype = DType::F32;
    v.shape = s->shape;
    v.data = nullptr;
    v.nbytes = static_cast<std::size_t>(v.numel()) * 4;
    return v;
}

TensorView QuantizedTensors::get(const std::string& name) const {
    const Stored* s = quantized(name);
    if (!s) return inner_.get(name);
    const WeightFormat format = *block_format_of(name);
    const auto [rows, columns] = rows_columns(s->shape, s->tensor.in_out);
    const BlockLayout layout{format, columns, s->segments};
    const TensorView codes = inner_.get(name), scales = inner_.get(scale_name(name));
    const QuantizedShapes want = quantized_shapes(s->shape, s->tensor.in_out, format, s->segments);
    const std::vector<int64_t>&want_codes = want.codes, &want_scales = want.scales;
    if (codes.shape != want_codes || scales.shape != want_scales || scales.dtype != DType::F16)
        throw Error(codes.origin + ": quantized tensor '" + name + "' has codes " + codes.shape_string() + " and " +
                    std::string(dtype_name(scales.dtype)) + " scales " + scales.shape_string() + ", but a " + weight_format_name(format) +
                    " matrix of " + std::to_string(rows) + " rows of " + std::to_string(columns) + " weights has codes " +
                    shape_text(want_codes) + " and F16 scales " + shape_text(want_scales) +
                    " (config and weights do not match: quantize the model again)");
    std::vector<float> m(static_cast<std::size_t>(rows * columns));
    dequantize_rows(codes.data, reinterpret_cast<const uint16_t*>(scales.data), rows, layout, m.data(), columns);
    inner_.release(codes);
    inner_.release(scales);
    if (s->tensor.in_out) m = transposed(m, rows, columns);  // [out, in] -> the family's [in, out]
    auto bytes = std::make_shared<std::vector<std::byte>>(m.size() * 4);
    std::memcpy(bytes->data(), m.data(), bytes->size());
    TensorView v;
    v.name = name;
    v.dtype = DType::F32;
    v.shape = s->shape;
    v.data = bytes->data();
    v.nbytes = bytes->size();
    v.origin = codes.origin;
    v.owned = std::move(bytes);
    return v;
}

void QuantizedTensors::release(const TensorView& view) const {
    if (!quantized(view.name)) inner_.release(view);
}

}  // namespace distgpt
