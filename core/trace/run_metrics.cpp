#include "trace/run_metrics.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

namespace distgpt {

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double at = p * (v.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(at);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (at - lo);
}

}  // namespace

RunMetrics run_metrics(const RunTrace& trace) {
    RunMetrics m;
    m.wall_seconds = trace.wall_us / 1e6;
    m.sequences = trace.sequences;
    m.tokens = static_cast<int>(trace.tokens.size());
    m.tokens_per_second = m.wall_seconds > 0 ? m.tokens / m.wall_seconds : 0;
    for (const auto& t : trace.tokens) m.window_shifts += t.window_shift;
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::WindowShift) m.window_shift_ms += (s.t1_us - s.t0_us) / 1e3;
    std::map<int64_t, std::vector<double>> by_sequence;
    for (const auto& t : trace.tokens) by_sequence[t.sequence].push_back(t.at_us);
    std::vector<double> first, gaps;
    for (auto& [seq, times] : by_sequence) {
        std::sort(times.begin(), times.end());
        first.push_back(times.front() / 1e3);
        for (std::size_t i = 1; i < times.size(); ++i) gaps.push_back((times[i] - times[i - 1]) / 1e3);
    }
    if (!first.empty()) {
        m.first_token_mean_ms = std::accumulate(first.begin(), first.end(), 0.0) / first.size();
        m.first_token_max_ms = *std::max_element(first.begin(), first.end());
    }
    m.first_token_p50_ms = percentile(first, 0.5);
    m.token_latency_p50_ms = percentile(gaps, 0.5);
    m.token_latency_p95_ms = percentile(gaps, 0.95);

    std::map<std::pair<int, int>, int64_t> links;
    std::map<std::pair<int, int>, std::set<std::string>> link_transports;
    for (std::size_t n = 0; n < trace.nodes.size(); ++n) {
        const auto& node = trace.nodes[n];
        RunMetrics::Node out{node.name, node.shard, node.stage, node.rank};
        for (const auto& s : trace.spans) {
            if (s.node != static_cast<int>(n)) continue;
            const double d = s.t1_us - s.t0_us;
            if (is_work(s.kind))
                out.compute_ms += d / 1e3;
            else if (is_communication(s.kind))
                out.communication_ms += d / 1e3;
            if (s.kind == SpanKind::AllReduce) out.all_reduce_bytes += s.bytes;
            if (s.kind == SpanKind::Send) {
                links[{static_cast<int>(n), s.peer}] += s.bytes;
                link_transports[{static_cast<int>(n), s.peer}].insert(
                    std::string(transport_name(s.transport == Transport::None ? Transport::ZeroMQ : s.transport)));
            }
        }
        out.busy_percent = trace.wall_us > 0 ? 100 * out.compute_ms * 1e3 / trace.wall_us : 0;
        out.weight_bytes = node.weight_bytes;
        out.kv_cache_bytes = node.kv_cache_bytes;
        out.rss_bytes = node.rss_bytes;
        out.all_reduce_bytes_per_token = m.tokens > 0 ? static_cast<double>(out.all_reduce_bytes) / m.tokens : 0;
        out.clock_offset_us = node.clock_offset_us;
        out.ping_rtt_us = node.rtt_us;
        m.nodes.push_back(out);
    }
    // A hop: from a send's start to its arrival at the receiver, on one clock.
    std::map<std::tuple<int, int, int>, double> arrivals;
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::Receive) arrivals[{s.node, s.group, s.step}] = s.t0_us;
    std::vector<double> hops;
    std::map<std::pair<int, int>, double> in_flight_us;
    std::map<std::pair<int, int>, EmulatedDelay> emulated;
    for (const auto& s : trace.spans) {
        if (s.kind != SpanKind::Send) continue;
        if (s.emulated) {
            EmulatedDelay& e = emulated[{s.node, s.peer}];
            e.queued_us += s.emulated->queued_us;
            e.wire_us += s.emulated->wire_us;
            e.latency_us += s.emulated->latency_us;
        }
        if (s.peer < 0) continue;
        if (auto it = arrivals.find({s.peer, s.group, s.step}); it != arrivals.end()) {
            hops.push_back(it->second - s.t0_us);
            in_flight_us[{s.node, s.peer}] += std::max(0.0, it->second - s.t0_us);
        }
    }
    m.hop_p50_us = percentile(hops, 0.5);
    m.hop_p95_us = percentile(hops, 0.95);
    m.hops = static_cast<int>(hops.size());
    for (const auto& [link, bytes] : links) {
        m.links.push_back({trace.nodes[link.first].name, link.second >= 0 ? trace.nodes[link.second].name : "controller", bytes,
                           m.tokens > 0 ? static_cast<double>(bytes) / m.tokens : 0,
                           std::vector<std::string>(link_transports[link].begin(), link_transports[link].end()), in_flight_us[link] / 1e3});
        if (auto e = emulated.find(link); e != emulated.end()) m.links.back().emulated = e->second;
    }
    return m;
}

nlohmann::json metrics_document(const RunMetrics& m) {
    using nlohmann::json;
    json nodes = json::array(), links = json::array();
    for (const auto& n : m.nodes)
        nodes.push_back({{"name", n.name},
                         {"stage", n.stage},
                         {"rank", n.rank},
                         {"shard", n.shard},
                         {"busy_percent", n.busy_percent},
                         {"compute_ms", n.compute_ms},
                         {"communication_ms", n.communication_ms},
                         {"weight_bytes", n.weight_bytes},
                         {"kv_cache_bytes", n.kv_cache_bytes},
                         {"rss_bytes", n.rss_bytes},
                         {"all_reduce_bytes", n.all_reduce_bytes},
                         {"all_reduce_bytes_per_token", n.all_reduce_bytes_per_token},
                         {"clock_offset_us", n.clock_offset_us},
                         {"ping_rtt_us", n.ping_rtt_us}});
    for (const auto& l : m.links) {
        json link = {{"from", l.from},
                     {"to", l.to},
                     {"bytes", l.bytes},
                     {"bytes_per_token", l.bytes_per_token},
                     {"transports", l.transports},
                     {"in_flight_ms", l.in_flight_ms}};
        // Marked as emulated: time the link emulator held the messages, not a real wire's.
        if (l.emulated)
            link["emulated_ms"] = {
                {"queued", l.emulated->queued_us / 1e3}, {"on_wire", l.emulated->wire_us / 1e3}, {"latency", l.emulated->latency_us / 1e3}};
        links.push_back(link);
    }
    const json j = {
        {"wall_seconds", m.wall_seconds},
        {"sequences", m.sequences},
        {"tokens", m.tokens},
        {"tokens_per_second", m.tokens_per_second},
        {"window_shifts", {{"count", m.window_shifts}, {"ms", m.window_shift_ms}}},
        {"time_to_first_token_ms", {{"mean", m.first_token_mean_ms}, {"p50", m.first_token_p50_ms}, {"max", m.first_token_max_ms}}},
        {"token_latency_ms", {{"p50", m.token_latency_p50_ms}, {"p95", m.token_latency_p95_ms}}},
        {"hop_latency_us", {{"p50", m.hop_p50_us}, {"p95", m.hop_p95_us}, {"count", m.hops}}},
        {"nodes", nodes},
        {"links", links},
    };
    return j;
}

std::string metrics_json(const RunMetrics& m) { return metrics_document(m).dump(2); }

}  // namespace distgpt
