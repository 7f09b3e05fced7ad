#pragma once
#include "trace/run_trace.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// What a run measured, summed up: throughput, latencies, each node's work
// and each link's bytes. Exporters serialise it; nobody parses it back.
struct RunMetrics {
    struct Node {
        std::string name, shard;
        int stage = 0, rank = 0;
        double busy_percent = 0, compute_ms = 0, communication_ms = 0;
        int64_t weight_bytes = 0, kv_cache_bytes = 0, rss_bytes = 0;
        int64_t all_reduce_bytes = 0;  // partial sums (and a split head's logits) received from its tensor-parallel peers
        double all_reduce_bytes_per_token = 0;
        double clock_offset_us = 0, ping_rtt_us = 0;
    };
    struct Link {
        std::string from, to;  // "controller" for the tokens each last stage reports
        int64_t bytes = 0;
        double bytes_per_token = 0;             // over the run's generated tokens (the wire format shows here)
        std::vector<std::string> transports;    // "shm", "zmq"
        double in_flight_ms = 0;                // summed over its messages: from the send's start to the arrival, measured
        std::optional<EmulatedDelay> emulated;  // summed over its messages, when its network is emulated
    };
    double wall_seconds = 0;
    int sequences = 0, tokens = 0;
    double tokens_per_second = 0;
    double first_token_mean_ms = 0, first_token_p50_ms = 0, first_token_max_ms = 0;
    double token_latency_p50_ms = 0, token_latency_p95_ms = 0;
    double hop_p50_us = 0, hop_p95_us = 0;  // from a send's start to its arrival, on one clock
    int hops = 0;
    int window_shifts = 0;       // full contexts shifted, all sequences
    double window_shift_ms = 0;  // the nodes' time in them, added up
    std::vector<Node> nodes;
    std::vector<Link> links;
};

RunMetrics run_metrics(const RunTrace& trace);
// The metrics document `--metrics` and the app's export write, and as text.
nlohmann::json metrics_document(const RunMetrics& metrics);
std::string metrics_json(const RunMetrics& metrics);

}  // namespace distgpt
