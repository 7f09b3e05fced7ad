#pragma once
#include "weights/dtype.h"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace distgpt {

// The two 16-bit float formats checkpoints use, to and from fp32, without
// libtorch (the controller converts what it streams). Narrowing rounds to
// nearest, ties to even, as libtorch does; NaN stays NaN, overflow becomes
// infinity.
// (Widening is inline: the decode kernel vectorizes it.)
inline float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }
uint16_t f32_to_bf16(float value);
// Multiplying by 2^112 moves the exponent bias from 15 to 127 and turns a
// half subnormal into the float it is.
inline float f16_to_f32(uint16_t bits) {
    const uint32_t magnitude = bits & 0x7fffu;
    uint32_t out = std::bit_cast<uint32_t>(std::bit_cast<float>(magnitude << 13) * 0x1p112f);
    if (magnitude >= 0x7c00u) out |= 0x7f800000u;  // infinity and NaN stay so
    return std::bit_cast<float>(out | (static_cast<uint32_t>(bits & 0x8000u) << 16));
}
uint16_t f32_to_f16(float value);

// `count` elements of `from` as `to` (each F32, F16 or BF16).
std::vector<std::byte> convert_floats(std::span<const std::byte> bytes, DType from, DType to);

}  // namespace distgpt
