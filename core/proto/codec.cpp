#include "proto/codec.h"

#include <cstring>

namespace distgpt::proto {

Message decode(Parts parts) {
    if (parts.empty()) throw Error("empty message");
    if (parts.size() > 1 + kMaxFrames)
        throw Error("message has " + std::to_string(parts.size()) + " frames; at most " + std::to_string(1 + kMaxFrames) + " are allowed");
    const zmq::message_t& head = parts.front();
    if (head.size() > kMaxHeaderBytes) throw Error("message header of " + std::to_string(head.size()) + " bytes is over the 1 MiB limit");
    Message m;
    try {
        // Bounded unpacking: no depth or size in the header can exceed what the frame holds.
        msgpack::unpack_limit limit(/*array=*/1 << 16, /*map=*/1 << 12, /*str=*/1 << 20, /*bin=*/1 << 20, /*ext=*/0, /*depth=*/16);
        m.header = msgpack::unpack(static_cast<const char*>(head.data()), head.size(), nullptr, nullptr, limit);
    } catch (const std::exception& e) {
        throw Error(std::string("message header is not valid msgpack: ") + e.what());
    }
    const msgpack::object& root = m.header.get();
    if (root.type != msgpack::type::MAP) throw Error("message header is not a map");
    bool has_version = false, has_body = false;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
        const auto& kv = root.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) throw Error("message header has a non-string key");
        const std::string key = kv.key.as<std::string>();
        if (key == "v") {
            if (kv.val.type != msgpack::type::POSITIVE_INTEGER) throw Error("message header's protocol version is not a number");
            const auto v = kv.val.as<uint64_t>();
            if (v != kProtocolVersion)
                throw Error("protocol version " + std::to_string(v) + " is not spoken here (this build speaks " +
                            std::to_string(kProtocolVersion) + "): run the same distgpt version everywhere");
            has_version = true;
        } else if (key == "type") {
            if (kv.val.type != msgpack::type::STR) throw Error("message type is not a string");
            m.type = kv.val.as<std::string>();
        } else if (key == "body") {
            if (kv.val.type != msgpack::type::MAP) throw Error("message body is not a map");
            has_body = true;
        }
    }
    if (!has_version) throw Error("message header has no protocol version");
    if (m.type.empty()) throw Error("message header has no type");
    if (!has_body) throw Error(m.type + " message has no body");
    for (std::size_t i = 1; i < parts.size(); ++i) m.frames.push_back(std::move(parts[i]));
    m.raw_header = std::move(parts.front());  // unpack copied what the handle refers to
    return m;
}

Parts Message::copy() const {
    Parts parts;
    parts.emplace_back(raw_header.data(), raw_header.size());
    for (const auto& f : frames) parts.emplace_back(f.data(), f.size());
    return parts;
}

zmq::message_t frame_of(const void* data, std::size_t bytes) { return zmq::message_t(data, bytes); }

}  // namespace distgpt::proto
