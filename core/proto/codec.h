#pragma once
#include "proto/messages.h"
#include "util/error.h"

#include <zmq.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace distgpt::proto {

// Caps on what a peer may send: anything larger is refused before it is read.
constexpr std::size_t kMaxHeaderBytes = 1u << 20;
constexpr std::size_t kMaxFrames = 3;
constexpr int64_t kMaxMessageBytes = int64_t(1) << 31;  // also ZMQ_MAXMSGSIZE on every socket

using Parts = std::vector<zmq::message_t>;

// A received message whose header has been checked: protocol version, a
// known shape of envelope, a body that is a map. Frames are still raw bytes.
struct Message {
    std::string type;
    msgpack::object_handle header;
    Parts frames;
    zmq::message_t raw_header;  // the header as received: relaying needs no re-encoding

    // The message as it came, to send on unchanged.
    Parts copy() const;

    // The body as T; throws Error("malformed <type> message: ...").
    template <class T>
    T as() const {
        if (type != T::kType) throw Error("expected a " + std::string(T::kType) + " message, got " + type);
        try {
            const msgpack::object& root = header.get();
            for (uint32_t i = 0; i < root.via.map.size; ++i)
                if (root.via.map.ptr[i].key.type == msgpack::type::STR && root.via.map.ptr[i].key.as<std::string>() == "body")
                    return root.via.map.ptr[i].val.as<T>();
        } catch (const std::exception& e) {
            throw Error("malformed " + type + " message: " + e.what());
        }
        throw Error("malformed " + type + " message: no body");
    }
};

// header frame {v, type, body} + raw frames
template <class T>
Parts encode(const T& body, Parts frames = {}) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_map(3);
    pk.pack(std::string("v"));
    pk.pack(kProtocolVersion);
    pk.pack(std::string("type"));
    pk.pack(std::string(T::kType));
    pk.pack(std::string("body"));
    pk.pack(body);
    Parts parts;
    parts.emplace_back(buffer.data(), buffer.size());
    for (auto& f : frames) parts.push_back(std::move(f));
    return parts;
}

// Throws Error saying what is wrong with the envelope; never trusts it.
Message decode(Parts parts);

zmq::message_t frame_of(const void* data, std::size_t bytes);

// A frame's bytes as values of T, where they can be read. ZeroMQ keeps a
// frame of up to 33 bytes inside the message object, at any address: read
// in place, its values would be misaligned loads (undefined behaviour, and a
// fault on some ARM cores). Such a frame is copied to `scratch` first.
template <class T>
std::span<const T> frame_values(const zmq::message_t& frame, std::vector<T>& scratch) {
    const std::size_t n = frame.size() / sizeof(T);
    if (reinterpret_cast<std::uintptr_t>(frame.data()) % alignof(T) == 0) return {static_cast<const T*>(frame.data()), n};
    scratch.resize(n);
    std::memcpy(scratch.data(), frame.data(), n * sizeof(T));
    return {scratch.data(), n};
}

}  // namespace distgpt::proto
