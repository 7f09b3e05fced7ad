#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace distgpt {

// The element types a checkpoint tensor may have. Only the floating types
// are loadable as weights; the others are parsed so that a checkpoint with,
// say, an int64 buffer still opens.
enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, Other };

struct SafetensorsDType {
    DType dtype;
    std::size_t element_size;
};
// nullopt for a name the safetensors format does not define.
std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name);
std::string_view dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);  // of the weight and integer types
bool is_weight_dtype(DType dtype);    // F32, F16, BF16

}  // namespace distgpt
