#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace distgpt {

// What a span of a node's time was spent on. One enum from the worker that
// measures it, over the wire, to every view and exporter.
enum class SpanKind : std::uint8_t {
    Compute,      // the shard's layers (all-reduce waits included: they sit inside)
    AllReduce,    // a tensor-parallel rank exchanging partial sums with its peers
    Sample,       // the last stage drawing the next token
    Send,         // handing a message to the transport
    Receive,      // taking a message off the transport
    WindowShift,  // a full context's window shifted: its kept tokens re-prefilled (learned positions), or its cache slid (rotary)
    Load,         // loading the shard at configure time (not part of a run's trace)
};

inline constexpr SpanKind kAllSpanKinds[] = {SpanKind::Compute, SpanKind::AllReduce,   SpanKind::Sample, SpanKind::Send,
                                             SpanKind::Receive, SpanKind::WindowShift, SpanKind::Load};

// The name every exporter and legend uses ("compute", "allreduce", …).
constexpr std::string_view span_kind_name(SpanKind k) {
    switch (k) {
        case SpanKind::Compute: return "compute";
        case SpanKind::AllReduce: return "allreduce";
        case SpanKind::Sample: return "sample";
        case SpanKind::Send: return "send";
        case SpanKind::Receive: return "receive";
        case SpanKind::WindowShift: return "window_shift";
        case SpanKind::Load: return "load";
    }
    return "compute";
}

inline std::optional<SpanKind> parse_span_kind(std::string_view name) {
    for (SpanKind k : kAllSpanKinds)
        if (span_kind_name(k) == name) return k;
    return std::nullopt;
}

// The one rule for what counts as a node working on the model (its busy
// share) and what counts as moving data between nodes.
constexpr bool is_work(SpanKind k) { return k == SpanKind::Compute || k == SpanKind::WindowShift || k == SpanKind::Sample; }
// A pass through the shard's layers: a step's, or one that shifted a full window first.
constexpr bool is_layers(SpanKind k) { return k == SpanKind::Compute || k == SpanKind::WindowShift; }
constexpr bool is_communication(SpanKind k) { return k == SpanKind::Send || k == SpanKind::Receive || k == SpanKind::AllReduce; }

}  // namespace distgpt
