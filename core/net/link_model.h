#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distgpt {

// What a network link does to a message: it is serialized onto the wire at
// `bandwidth_mbps` behind the bytes sent before it, then arrives `latency_ms`
// later, give or take up to `jitter_ms`. All zero: no emulation (the real
// link as it is).
struct LinkModel {
    double bandwidth_mbps = 0;  // 0: not limited
    double latency_ms = 0;
    double jitter_ms = 0;

    bool emulated() const { return bandwidth_mbps > 0 || latency_ms > 0 || jitter_ms > 0; }
    bool operator==(const LinkModel&) const = default;
};

// A node's network as a teacher says it: "a Pi on Wi-Fi". Its uplink limits
// what it sends, its downlink what it receives; its latency is its one way
// to the switch.
struct NodeNetwork {
    double uplink_mbps = 0, downlink_mbps = 0;  // 0: not limited
    double latency_ms = 0, jitter_ms = 0;
    bool emulated() const { return uplink_mbps > 0 || downlink_mbps > 0 || latency_ms > 0 || jitter_ms > 0; }
    bool operator==(const NodeNetwork&) const = default;
};

// The link between two nodes' networks: the slower of the sender's uplink
// and the receiver's downlink, both latencies and both jitters.
LinkModel link_between(const NodeNetwork& from, const NodeNetwork& to);

// Named networks, the numbers visible and editable once chosen.
struct NetworkPreset {
    std::string name;  // "Raspberry Pi 4, 1 GbE"
    NodeNetwork network;
};
const std::vector<NetworkPreset>& network_presets();
std::optional<NodeNetwork> network_preset(std::string_view name);

// When one message crosses an emulated link (nanoseconds on one clock).
struct LinkTransfer {
    int64_t handed_ns = 0;     // the sender handed it over
    int64_t on_wire_ns = 0;    // its first byte leaves: after the bytes sent before it
    int64_t off_wire_ns = 0;   // its last byte leaves: its bytes over the bandwidth later
    int64_t delivered_ns = 0;  // the receiver may see it: the latency (and jitter) after that

    int64_t queued_ns() const { return on_wire_ns - handed_ns; }       // behind the bytes sent before it
    int64_t wire_ns() const { return off_wire_ns - on_wire_ns; }       // its own bytes over the bandwidth
    int64_t latency_ns() const { return delivered_ns - off_wire_ns; }  // the latency and jitter (and never overtaking)
};

// One direction of one link, FIFO like a network card's queue: a message
// waits behind the bytes before it, takes its own bytes over the bandwidth
// to serialize, then the latency to arrive. Jitter comes from a seeded
// generator (the same seed, the same run), and never reorders messages.
class LinkPacer {
public:
    LinkPacer(LinkModel model, uint64_t seed);
    LinkTransfer transfer(int64_t now_ns, std::size_t bytes);
    const LinkModel& model() const { return model_; }

private:
    LinkModel model_;
    uint64_t state_;
    int64_t free_at_ns_ = 0;        // when the wire is free of the bytes sent so far
    int64_t last_delivery_ns_ = 0;  // no message arrives before the one sent before it
};

}  // namespace distgpt
