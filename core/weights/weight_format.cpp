#include "weights/weight_format.h"

namespace distgpt {

std::vector<WeightFormat> weight_formats() {
    return {WeightFormat::F32, WeightFormat::BF16, WeightFormat::F16, WeightFormat::Q8, WeightFormat::Q4};
}

std::string weight_format_name(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return "f32";
        case WeightFormat::BF16: return "bf16";
        case WeightFormat::F16: return "f16";
        case WeightFormat::Q8: return "q8";
        case WeightFormat::Q4: return "q4";
    }
    return "?";
}

std::optional<WeightFormat> weight_format_named(const std::string& name) {
    for (WeightFormat f : weight_formats())
        if (weight_format_name(f) == name) return f;
    return std::nullopt;
}

double bytes_per_weight(WeightFormat format) {
    switch (format) {
        case WeightFormat::F32: return 4.0;
        case WeightFormat::BF16:
        case WeightFormat::F16: return 2.0;
        case WeightFormat::Q8: return 34.0 / 32;  // 32 int8 and an fp16 scale
        case WeightFormat::Q4: return 18.0 / 32;  // 32 nibbles and an fp16 scale
    }
    return 4.0;
}

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
        case WeightFormat::Q8: return DType::I8;
        case WeightFormat::Q4: return DType::U8;
    }
    return DType::F32;
}

}  // namespace distgpt
