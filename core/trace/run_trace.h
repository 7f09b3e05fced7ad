#pragma once
#include "net/transport.h"
#include "trace/span_kind.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// What an emulated link did to a message, in microseconds: it waited
// behind the bytes sent before it, took its own bytes over the link's
// bandwidth, then the link's latency (with jitter). The emulator holds the
// message for all of it; on a real network each part is the wire's.
struct EmulatedDelay {
    double queued_us = 0, wire_us = 0, latency_us = 0;
    double total_us() const { return queued_us + wire_us + latency_us; }
};

// One span of a node's work, on the controller's clock, in microseconds
// since the run started.
struct TraceSpan {
    int node = 0;  // index into RunTrace::nodes
    SpanKind kind = SpanKind::Compute;
    double t0_us = 0, t1_us = 0;
    int group = -1, step = -1;
    int layer_begin = 0, layer_end = 0;
    int64_t bytes = 0;
    int peer = -1;  // for send: the receiving node, -1 for the controller
    std::vector<int64_t> sequences;
    Transport transport = Transport::None;  // for a send: how it went
    // Over an emulated link: for a send, what followed the span (its hand-off)
    // until the message was delivered; for an all-reduce, what its slowest
    // partial sum spent on the link, inside the span.
    std::optional<EmulatedDelay> emulated;
};

struct TokenMark {
    int64_t sequence = 0;
    int step = 0;
    int token = 0;
    double at_us = 0;
    bool window_shift = false;  // sampled after its full context shifted
};

struct TraceNode {
    std::string name;
    int stage = 0, rank = 0;
    std::string shard;  // "layers 0-3, embedding"
    int64_t weight_bytes = 0, kv_cache_bytes = 0, rss_bytes = 0;
    double clock_offset_us = 0, rtt_us = 0;
    int64_t streamed_bytes = 0;  // weights the controller sent it (0: it read its own)
};

struct RunTrace {
    std::vector<TraceNode> nodes;
    std::vector<TraceSpan> spans;
    std::vector<TokenMark> tokens;
    double wall_us = 0;
    int sequences = 0;
};

// Chrome trace JSON (opens in Perfetto and chrome://tracing): one process
// per node; compute, window shift, all-reduce, sample, send and receive on their own tracks; a flow arrow from
// each send to the receive it caused.
void write_chrome_trace(const RunTrace& trace, const std::filesystem::path& file);
void write_events_csv(const RunTrace& trace, const std::filesystem::path& file);
// (Metrics: trace/run_metrics.h.)

}  // namespace distgpt
