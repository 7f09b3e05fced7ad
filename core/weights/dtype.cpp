#include "weights/dtype.h"

#include <array>

namespace distgpt {
namespace {

struct DTypeInfo {
    std::string_view name;
    DType dtype;
    std::size_t size;
};

// The safetensors format's dtype names. The fp8 types are one byte each.
constexpr std::array kDTypes = {
    DTypeInfo{"F32", DType::F32, 4},   DTypeInfo{"F16", DType::F16, 2},       DTypeInfo{"BF16", DType::BF16, 2},
    DTypeInfo{"F64", DType::F64, 8},   DTypeInfo{"I64", DType::I64, 8},       DTypeInfo{"I32", DType::I32, 4},
    DTypeInfo{"I16", DType::I16, 2},   DTypeInfo{"I8", DType::I8, 1},         DTypeInfo{"U8", DType::U8, 1},
    DTypeInfo{"BOOL", DType::BOOL, 1}, DTypeInfo{"U16", DType::Other, 2},     DTypeInfo{"U32", DType::Other, 4},
    DTypeInfo{"U64", DType::Other, 8}, DTypeInfo{"F8_E4M3", DType::Other, 1}, DTypeInfo{"F8_E5M2", DType::Other, 1},
};

}  // namespace

std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name) {
    for (const auto& info : kDTypes)
        if (info.name == name) return SafetensorsDType{info.dtype, info.size};
    return std::nullopt;
}

std::string_view dtype_name(DType dtype) {
    for (const auto& info : kDTypes)
        if (info.dtype == dtype) return info.name;
    return "?";
}

std::size_t dtype_size(DType dtype) {
    for (const auto& info : kDTypes)
        if (info.dtype == dtype) return info.size;
    return 0;
}

bool is_weight_dtype(DType dtype) { return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16; }

}  // namespace distgpt
