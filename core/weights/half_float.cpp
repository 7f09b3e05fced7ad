#include "weights/half_float.h"

#include "util/error.h"

#include <bit>
#include <cstring>
#include <string>

namespace distgpt {

uint16_t f32_to_bf16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN, kept quiet
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);                                    // ties to even
    return static_cast<uint16_t>((bits + rounding) >> 16);
}

uint16_t f32_to_f16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00u;                  // NaN
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u;                 // rounds past 65504: infinity
    if (magnitude < 0x38800000u) {                                       // below 2^-14: a half subnormal (or zero)
        const float scaled = std::bit_cast<float>(magnitude) * 0x1p24f;  // in units of 2^-24, exact
        // Round to a whole number of units, ties to even, by adding 2^23 (a float's integer step at that size).
        const float rounded = (scaled + 0x1p23f) - 0x1p23f;
        return sign | static_cast<uint16_t>(rounded);
    }
    // Normal: drop 13 mantissa bits, ties to even; a carry moves into the exponent as it should.
    const uint32_t rebias = magnitude - (112u << 23);
    const uint32_t rounding = 0xfffu + ((rebias >> 13) & 1u);
    return sign | static_cast<uint16_t>((rebias + rounding) >> 13);
}

std::vector<std::byte> convert_floats(std::span<const std::byte> bytes, DType from, DType to) {
    if (!is_weight_dtype(from) || !is_weight_dtype(to))
        throw Error("cannot convert " + std::string(dtype_name(from)) + " to " + std::string(dtype_name(to)) + ": only F32, F16 and BF16");
    if (from == to) return {bytes.begin(), bytes.end()};
    const std::size_t count = bytes.size() / dtype_size(from);
    std::vector<std::byte> out(count * dtype_size(to));
    for (std::size_t i = 0; i < count; ++i) {
        float f = 0;
        if (from == DType::F32) {
            std::memcpy(&f, bytes.data() + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, bytes.data() + 2 * i, 2);
            f = from == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
        if (to == DType::F32) {
            std::memcpy(out.data() + 4 * i, &f, 4);
        } else {
            const uint16_t h = to == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    }
    return out;
}

}  // namespace distgpt
