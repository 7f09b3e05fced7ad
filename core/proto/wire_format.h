#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace distgpt {

// How activations travel between stages and partial sums between the ranks
// of a tensor-parallel group. f32 keeps pipelines bit-exact with one
// process; bf16 halves the bytes on every link; q8 (blocks of 32 int8 with an
// fp16 scale, as the q8 weights: 1.0625 bytes a value) nearly quarters them.
// The logits a tensor-parallel head gathers always travel in f32.
enum class WireFormat : std::uint8_t { F32, BF16, Q8 };

std::vector<WireFormat> wire_formats();
std::string wire_format_name(WireFormat format);  // "f32", "bf16", "q8"
std::optional<WireFormat> wire_format_named(const std::string& name);

bool wire_format_known(WireFormat format);  // one this version speaks

// Bytes `count` values take on the wire.
std::size_t wire_bytes(WireFormat format, std::size_t count);
std::vector<std::byte> encode_wire(WireFormat format, const float* values, std::size_t count);
// `count` values back from `bytes`; throws Error when the bytes are not that many values.
void decode_wire(WireFormat format, std::span<const std::byte> bytes, std::size_t count, float* out);

}  // namespace distgpt
