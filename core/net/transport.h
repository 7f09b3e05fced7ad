#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace distgpt {

// How a message went from one worker to another.
enum class Transport : std::uint8_t {
    None,          // not a message between workers (or a run recorded before transports were)
    SharedMemory,  // a ring in shared memory: both workers on one machine
    ZeroMQ,        // ZeroMQ over TCP
};

// The short names the CSV, the trace and recordings use: "", "shm", "zmq".
constexpr std::string_view transport_name(Transport t) {
    switch (t) {
        case Transport::None: return "";
        case Transport::SharedMemory: return "shm";
        case Transport::ZeroMQ: return "zmq";
    }
    return "";
}
inline std::optional<Transport> parse_transport(std::string_view name) {
    for (Transport t : {Transport::None, Transport::SharedMemory, Transport::ZeroMQ})
        if (transport_name(t) == name) return t;
    return std::nullopt;
}
// What a person reads: "shared memory", "ZeroMQ over TCP".
constexpr std::string_view transport_label(Transport t) {
    switch (t) {
        case Transport::None: return "";
        case Transport::SharedMemory: return "shared memory";
        case Transport::ZeroMQ: return "ZeroMQ over TCP";
    }
    return "";
}

}  // namespace distgpt
