#include "trace/run_trace.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>

namespace distgpt {

namespace {

using nlohmann::json;

// One Chrome trace thread per kind, in the order of SpanKind.
int track_of(SpanKind kind) { return static_cast<int>(kind) + 1; }
// And one for what emulated links did to this node's sends, after each.
constexpr int kEmulatedLinkTrack = static_cast<int>(std::size(kAllSpanKinds)) + 1;

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
        events.push_back({{"ph", "M"},
                          {"name", "thread_name"},
                          {"pid", n},
                          {"tid", kEmulatedLinkTrack},
                          {"args", {{"name", "emulated link (after each send)"}}}});
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
        if (s.emulated)
            args["emulated"] = {{"queued_ms", s.emulated->queued_us / 1e3},
                                {"wire_ms", s.emulated->wire_us / 1e3},
                                {"latency_ms", s.emulated->latency_us / 1e3}};
        const std::string kind(span_kind_name(s.kind));
        events.push_back({{"ph", "X"},
                          {"name", kind},
                          {"cat", kind},
                          {"pid", s.node},
                          {"tid", track_of(s.kind)},
                          {"ts", s.t0_us},
                          {"dur", std::max(0.0, s.t1_us - s.t0_us)},
                          {"args", args}});
        if (s.kind == SpanKind::Send && s.emulated) {
            // The parts in turn, from the hand-off: each marked emulated.
            double at = s.t1_us;
            const std::pair<const char*, double> parts[] = {{"queued behind earlier bytes (emulated)", s.emulated->queued_us},
                                                            {"on the wire (emulated)", s.emulated->wire_us},
                                                            {"latency (emulated)", s.emulated->latency_us}};
            for (const auto& [name, us] : parts) {
                if (us > 0)
                    events.push_back({{"ph", "X"},
                                      {"name", name},
                                      {"cat", "emulated"},
                                      {"pid", s.node},
                                      {"tid", kEmulatedLinkTrack},
                                      {"ts", at},
                                      {"dur", us},
                                      {"args", {{"group", s.group}, {"step", s.step}, {"bytes", s.bytes}}}});
                at += us;
            }
        }
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
    out << "node,stage,rank,kind,start_us,end_us,duration_us,group,step,layer_begin,layer_end,bytes,peer,sequences,transport,"
           "emulated,emulated_queued_us,emulated_wire_us,emulated_latency_us\n";
    for (const auto& s : trace.spans) {
        const auto& n = trace.nodes[s.node];
        std::string seqs;
        for (std::size_t i = 0; i < s.sequences.size(); ++i) {
            if (i) seqs += ' ';
            seqs += std::to_string(s.sequences[i]);
        }
        out << csv(n.name) << ',' << n.stage << ',' << n.rank << ',' << span_kind_name(s.kind) << ',' << s.t0_us << ',' << s.t1_us << ','
            << (s.t1_us - s.t0_us) << ',' << s.group << ',' << s.step << ',' << s.layer_begin << ',' << s.layer_end << ',' << s.bytes << ','
            << csv(s.peer >= 0 ? trace.nodes[s.peer].name : std::string(s.kind == SpanKind::Send ? "controller" : "")) << ',' << seqs << ','
            << transport_name(s.transport) << ',';
        if (s.emulated)
            out << "yes," << s.emulated->queued_us << ',' << s.emulated->wire_us << ',' << s.emulated->latency_us << '\n';
        else
            out << "no,,,\n";
    }
}

}  // namespace distgpt
