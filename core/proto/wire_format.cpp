#include "proto/wire_format.h"

#include "util/error.h"
#include "weights/block_quant.h"
#include "weights/half_float.h"

#include <algorithm>
#include <cstring>

namespace distgpt {
namespace {

// A q8 message: the codes of all blocks, then their scales.
BlockLayout q8_layout(std::size_t count) { return {WeightFormat::Q8, static_cast<int64_t>(count), 1}; }

}  // namespace

std::vector<WireFormat> wire_formats() { return {WireFormat::F32, WireFormat::BF16, WireFormat::Q8}; }

std::string wire_format_name(WireFormat format) {
    switch (format) {
        case WireFormat::F32: return "f32";
        case WireFormat::BF16: return "bf16";
        case WireFormat::Q8: return "q8";
    }
    return "?";
}

std::optional<WireFormat> wire_format_named(const std::string& name) {
    for (WireFormat f : wire_formats())
        if (wire_format_name(f) == name) return f;
    return std::nullopt;
}

bool wire_format_known(WireFormat format) {
    const auto all = wire_formats();
    return std::find(all.begin(), all.end(), format) != all.end();
}

std::size_t wire_bytes(WireFormat format, std::size_t count) {
    switch (format) {
        case WireFormat::F32: return count * 4;
        case WireFormat::BF16: return count * 2;
        case WireFormat::Q8: {
            const BlockLayout layout = q8_layout(count);
            return static_cast<std::size_t>(layout.code_bytes_per_row() + 2 * layout.blocks_per_row());
        }
    }
    return count * 4;
}

std::vector<std::byte> encode_wire(WireFormat format, const float* values, std::size_t count) {
    std::vector<std::byte> out(wire_bytes(format, count));
    switch (format) {
        case WireFormat::F32: std::memcpy(out.data(), values, count * 4); break;
        case WireFormat::BF16:
            for (std::size_t i = 0; i < count; ++i) {
                const uint16_t h = f32_to_bf16(values[i]);
                std::memcpy(out.data() + 2 * i, &h, 2);
            }
            break;
        case WireFormat::Q8: {
            const BlockLayout layout = q8_layout(count);
            std::vector<uint16_t> scales(static_cast<std::size_t>(layout.blocks_per_row()));
            quantize_rows(values, static_cast<int64_t>(count), 1, layout, out.data(), scales.data());
            std::memcpy(out.data() + layout.code_bytes_per_row(), scales.data(), scales.size() * 2);
            break;
        }
    }
    return out;
}

void decode_wire(WireFormat format, std::span<const std::byte> bytes, std::size_t count, float* out) {
    if (!wire_format_known(format))
        throw Error("unknown wire format " + std::to_string(static_cast<int>(format)) + ": run the same distgpt version everywhere");
    if (bytes.size() != wire_bytes(format, count))
        throw Error(std::to_string(bytes.size()) + " bytes are not " + std::to_string(count) + " values in " + wire_format_name(format) +
                    " (" + std::to_string(wire_bytes(format, count)) + " bytes)");
    switch (format) {
        case WireFormat::F32: std::memcpy(out, bytes.data(), count * 4); break;
        case WireFormat::BF16:
            for (std::size_t i = 0; i < count; ++i) {
                uint16_t h;
                std::memcpy(&h, bytes.data() + 2 * i, 2);
                out[i] = bf16_to_f32(h);
            }
            break;
        case WireFormat::Q8: {
            const BlockLayout layout = q8_layout(count);
            std::vector<uint16_t> scales(static_cast<std::size_t>(layout.blocks_per_row()));
            std::memcpy(scales.data(), bytes.data() + layout.code_bytes_per_row(), scales.size() * 2);
            dequantize_rows(bytes.data(), scales.data(), 1, layout, out, static_cast<int64_t>(count));
            break;
        }
    }
}

}  // namespace distgpt
