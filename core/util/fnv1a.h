#pragma once
#include <cstdint>
#include <string_view>

namespace distgpt {

// FNV-1a, 64 bits: a hash that is the same in every process and build
// (std::hash is not), for names two processes must agree on and for seeds.
inline constexpr uint64_t kFnv1aOffset = 0xCBF29CE484222325ull;
inline constexpr uint64_t kFnv1aPrime = 0x100000001B3ull;

constexpr uint64_t fnv1a(std::string_view bytes, uint64_t hash = kFnv1aOffset) {
    for (unsigned char c : bytes) hash = (hash ^ c) * kFnv1aPrime;
    return hash;
}

}  // namespace distgpt
