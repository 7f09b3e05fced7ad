#include "trace/run_trace.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

namespace distgpt {

namespace {

using nlohmann::json;

// One Chrome trace thread per kind, in the order of SpanKind.
int track_of(SpanKind kind) { return static_cast<int>(kind) + 1; }

std::ofstream open_for_writing(const std::filesystem::path& file) {
    std::ofstream out(file);
    if (!out) throw Error("cannot write " + file.string());
    return out;
}

// A CSV field as RFC 4180 writes it: quoted, with quotes doubled, when it
// holds a comma, a quote or a line break.
std::string csv(const std::string& field) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
    std::string quoted = "\"";
    for (char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double at = p * (v.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(at);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (at - lo);
}

}  // namespace

void write_chrome_trace(const RunTrace& trace, const std::filesystem::path& file) {
    json events = json::array();
    for (std::size_t n = 0; n < trace.nodes.size(); ++n) {
        const auto& node = trace.nodes[n];
        events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", n}, {"args", {{"name", node.name + " (" + node.shard + ")"}}}});
        events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", n}, {"args", {{"sort_index", n}}}});
        for (SpanKind k : kAllSpanKinds)
            if (k != SpanKind::Load)
                events.push_back(
                    {{"ph", "M"}, {"name", "thread_name"}, {"pid", n}, {"tid", track_of(k)}, {"args", {{"name", span_kind_name(k)}}}});
    }
    // Receives by (node, group, step), to hang each send's arrow on.
    std::map<std::tuple<int, int, int>, const TraceSpan*> receives;
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::Receive) receives[{s.node, s.group, s.step}] = &s;
    int flow = 0;
    for (const auto& s : trace.spans) {
        json args = {{"group", s.group},
                     {"step", s.step},
                     {"layers", std::to_string(s.layer_begin) + "-" + std::to_string(s.layer_end - 1)},
                     {"bytes", s.bytes},
                     {"sequences", s.sequences}};
        if (s.peer >= 0) args["to"] = trace.nodes[s.peer].name;
        if (s.transport != Transport::None) args["transport"] = transport_label(s.transport);
        const std::string kind(span_kind_name(s.kind));
        events.push_back({{"ph", "X"},
                          {"name", kind},
                          {"cat", kind},
                          {"pid", s.node},
                          {"tid", track_of(s.kind)},
                          {"ts", s.t0_us},
                          {"dur", std::max(0.0, s.t1_us - s.t0_us)},
                          {"args", args}});
        if (s.kind != SpanKind::Send || s.peer < 0) continue;
        // A receive carries the group and step of the message that caused it.
        auto it = receives.find({s.peer, s.group, s.step});
        if (it == receives.end()) continue;
        ++flow;
        events.push_back({{"ph", "s"},
                          {"name", "message"},
                          {"cat", "flow"},
                          {"id", flow},
                          {"pid", s.node},
                          {"tid", track_of(SpanKind::Send)},
                          {"ts", s.t0_us}});
        events.push_back({{"ph", "f"},
                          {"bp", "e"},
                          {"name", "message"},
                          {"cat", "flow"},
                          {"id", flow},
                          {"pid", s.peer},
                          {"tid", track_of(SpanKind::Receive)},
                          {"ts", it->second->t0_us}});
    }
    open_for_writing(file) << json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() << "\n";
}

void write_events_csv(const RunTrace& trace, const std::filesystem::path& file) {
    auto out = open_for_writing(file);
    out << "node,stage,rank,kind,start_us,end_us,duration_us,group,step,layer_begin,layer_end,bytes,peer,sequences,transport\n";
    for (const auto& s : trace.spans) {
        const auto& n = trace.nodes[s.node];
        std::string seqs;
        for (std::size_t i = 0; i < s.sequences.size(); ++i) seqs += (i ? " " : "") + std::to_string(s.sequences[i]);
        out << csv(n.name) << ',' << n.stage << ',' << n.rank << ',' << span_kind_name(s.kind) << ',' << s.t0_us << ',' << s.t1_us << ','
            << (s.t1_us - s.t0_us) << ',' << s.group << ',' << s.step << ',' << s.layer_begin << ',' << s.layer_end << ',' << s.bytes << ','
            << csv(s.peer >= 0 ? trace.nodes[s.peer].name : std::string(s.kind == SpanKind::Send ? "controller" : "")) << ',' << seqs << ','
            << transport_name(s.transport) << '\n';
    }
}

std::string metrics_json(const RunTrace& trace) {
    const double wall_s = trace.wall_us / 1e6;
    std::map<int64_t, std::vector<double>> by_sequence;
    for (const auto& t : trace.tokens) by_sequence[t.sequence].push_back(t.at_us);
    std::vector<double> first, gaps;
    for (auto& [seq, times] : by_sequence) {
        std::sort(times.begin(), times.end());
        first.push_back(times.front() / 1e3);
        for (std::size_t i = 1; i < times.size(); ++i) gaps.push_back((times[i] - times[i - 1]) / 1e3);
    }
    json nodes = json::array();
    std::map<std::pair<int, int>, int64_t> links;
    std::map<std::pair<int, int>, std::set<std::string>> link_transports;
    for (std::size_t n = 0; n < trace.nodes.size(); ++n) {
        double compute = 0, communication = 0;
        for (const auto& s : trace.spans) {
            if (s.node != static_cast<int>(n)) continue;
            const double d = s.t1_us - s.t0_us;
            if (is_work(s.kind))
                compute += d;
            else if (is_communication(s.kind))
                communication += d;
            if (s.kind == SpanKind::Send) {
                links[{static_cast<int>(n), s.peer}] += s.bytes;
                link_transports[{static_cast<int>(n), s.peer}].insert(
                    std::string(transport_name(s.transport == Transport::None ? Transport::ZeroMQ : s.transport)));
            }
        }
        const auto& node = trace.nodes[n];
        nodes.push_back({{"name", node.name},
                         {"stage", node.stage},
                         {"rank", node.rank},
                         {"shard", node.shard},
                         {"busy_percent", trace.wall_us > 0 ? 100 * compute / trace.wall_us : 0},
                         {"compute_ms", compute / 1e3},
                         {"communication_ms", communication / 1e3},
                         {"weight_bytes", node.weight_bytes},
                         {"kv_cache_bytes", node.kv_cache_bytes},
                         {"rss_bytes", node.rss_bytes},
                         {"clock_offset_us", node.clock_offset_us},
                         {"ping_rtt_us", node.rtt_us}});
    }
    // A hop: from a send's start to its arrival at the receiver, on one clock.
    std::map<std::tuple<int, int, int>, double> arrivals;
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::Receive) arrivals[{s.node, s.group, s.step}] = s.t0_us;
    std::vector<double> hops;
    for (const auto& s : trace.spans)
        if (s.kind == SpanKind::Send && s.peer >= 0)
            if (auto it = arrivals.find({s.peer, s.group, s.step}); it != arrivals.end()) hops.push_back(it->second - s.t0_us);
    json link_list = json::array();
    for (const auto& [link, bytes] : links)
        link_list.push_back({{"from", trace.nodes[link.first].name},
                             {"to", link.second >= 0 ? trace.nodes[link.second].name : "controller"},
                             {"bytes", bytes},
                             {"transports", link_transports[link]}});
    const json j = {
        {"wall_seconds", wall_s},
        {"sequences", trace.sequences},
        {"tokens", trace.tokens.size()},
        {"tokens_per_second", wall_s > 0 ? trace.tokens.size() / wall_s : 0},
        {"time_to_first_token_ms",
         {{"mean", first.empty() ? 0 : std::accumulate(first.begin(), first.end(), 0.0) / first.size()},
          {"p50", percentile(first, 0.5)},
          {"max", first.empty() ? 0 : *std::max_element(first.begin(), first.end())}}},
        {"token_latency_ms", {{"p50", percentile(gaps, 0.5)}, {"p95", percentile(gaps, 0.95)}}},
        {"hop_latency_us", {{"p50", percentile(hops, 0.5)}, {"p95", percentile(hops, 0.95)}, {"count", hops.size()}}},
        {"nodes", nodes},
        {"links", link_list},
    };
    return j.dump(2);
}

}  // namespace distgpt
