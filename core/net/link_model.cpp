#include "net/link_model.h"

#include <algorithm>
#include <cmath>

namespace distgpt {

namespace {

double slower(double a, double b) {
    if (a <= 0) return b;
    if (b <= 0) return a;
    return std::min(a, b);
}

// splitmix64: a small, well-mixed generator whose sequence a seed fixes.
uint64_t next(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace

LinkModel link_between(const NodeNetwork& from, const NodeNetwork& to) {
    return {slower(from.uplink_mbps, to.downlink_mbps), from.latency_ms + to.latency_ms, from.jitter_ms + to.jitter_ms};
}

const std::vector<NetworkPreset>& network_presets() {
    // One-way latencies to the switch; jitter as such links show it.
    static const std::vector<NetworkPreset> presets = {
        {"25 GbE datacenter", {25000, 25000, 0.005, 0.001}}, {"1 GbE switch", {1000, 1000, 0.1, 0.02}},
        {"Raspberry Pi 4, 1 GbE", {940, 940, 0.15, 0.05}},   {"100 Mbit switch", {100, 100, 0.25, 0.05}},
        {"laptop on Wi-Fi", {150, 200, 2.0, 1.5}},           {"Raspberry Pi on Wi-Fi", {40, 50, 3.0, 2.0}},
    };
    return presets;
}

std::optional<NodeNetwork> network_preset(std::string_view name) {
    for (const auto& p : network_presets())
        if (p.name == name) return p.network;
    return std::nullopt;
}

LinkPacer::LinkPacer(LinkModel model, uint64_t seed) : model_(model), state_(seed) {}

LinkTransfer LinkPacer::transfer(int64_t now_ns, std::size_t bytes) {
    LinkTransfer t;
    t.handed_ns = now_ns;
    t.on_wire_ns = std::max(now_ns, free_at_ns_);
    const double serialize_ns = model_.bandwidth_mbps > 0 ? static_cast<double>(bytes) * 8.0 * 1e3 / model_.bandwidth_mbps : 0;
    t.off_wire_ns = t.on_wire_ns + static_cast<int64_t>(std::llround(serialize_ns));
    free_at_ns_ = t.off_wire_ns;
    double latency_ns = model_.latency_ms * 1e6;
    if (model_.jitter_ms > 0) {  // uniform in [-jitter, +jitter], never below zero
        const double u = static_cast<double>(next(state_) >> 11) / static_cast<double>(uint64_t(1) << 53);
        latency_ns = std::max(0.0, latency_ns + (2 * u - 1) * model_.jitter_ms * 1e6);
    }
    t.delivered_ns = std::max(t.off_wire_ns + static_cast<int64_t>(std::llround(latency_ns)), last_delivery_ns_);
    last_delivery_ns_ = t.delivered_ns;
    return t;
}

}  // namespace distgpt
