#include "weights/weight_format.h"

namespace distgpt {

std::vector<WeightFormat> weight_formats() { return {WeightFormat::F32, WeightFormat::BF16, WeightFormat::F16}; }

std::string weight_format_name(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return "f32";
        case WeightFormat::BF16: return "bf16";
        case WeightFormat::F16: return "f16";
    }
    return "?";
}

std::optional<WeightFormat> weight_format_named(const std::string& name) {
    for (WeightFormat f : weight_formats())
        if (weight_format_name(f) == name) return f;
    return std::nullopt;
}

double bytes_per_weight(WeightFormat format) { return format == WeightFormat::F32 ? 4.0 : 2.0; }

int64_t bytes_of_weights(int64_t parameters, WeightFormat format) {
    return static_cast<int64_t>(static_cast<double>(parameters) * bytes_per_weight(format));
}

WeightFormat weight_format_of(DType stored) {
    switch (stored) {
        case DType::BF16: return WeightFormat::BF16;
        case DType::F16: return WeightFormat::F16;
        default: return WeightFormat::F32;
    }
}

DType storage_dtype(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return DType::F32;
        case WeightFormat::BF16: return DType::BF16;
        case WeightFormat::F16: return DType::F16;
    }
    return DType::F32;
}

}  // namespace distgpt
