#include "models/run_recording.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace distgpt::ui {

using nlohmann::json;

namespace {
constexpr int kFormat = 1;
}

RunRecording RunRecording::of(const RunState& state, const QString& topologyJson) {
    RunRecording r;
    r.nodes = state.nodes();
    r.prompts = state.prompts();
    r.spans = state.spans();
    for (const auto& [seq, row] : state.tokens())
        for (const auto& t : row) r.tokens.push_back(t);
    std::sort(r.tokens.begin(), r.tokens.end(), [](const LiveToken& a, const LiveToken& b) { return a.at_us < b.at_us; });
    r.trace = state.trace();
    r.topology_json = topologyJson;
    return r;
}

void RunRecording::save(const QString& file) const {
    json j = {{"distgpt_recording", kFormat}, {"topology", json::parse(topology_json.toStdString(), nullptr, false)}};
    for (const auto& n : nodes)
        j["nodes"].push_back({{"name", n.name},
                              {"stage", n.stage},
                              {"rank", n.rank},
                              {"shard", n.shard},
                              {"weight_bytes", n.weight_bytes},
                              {"kv_cache_bytes", n.kv_cache_bytes},
                              {"rss_bytes", n.rss_bytes},
                              {"clock_offset_us", n.clock_offset_us},
                              {"rtt_us", n.rtt_us}});
    for (const auto& p : prompts) j["prompts"].push_back(p.toStdString());
    for (const auto& s : spans) {
        json row = {s.node,      span_kind_name(s.kind),     s.t0_us, s.t1_us, s.group, s.step, s.layer_begin, s.layer_end, s.bytes, s.peer,
                    s.sequences, transport_name(s.transport)};
        if (s.emulated) row.push_back({s.emulated->queued_us, s.emulated->wire_us, s.emulated->latency_us});
        j["spans"].push_back(row);
    }
    for (const auto& t : tokens) j["tokens"].push_back({t.sequence, t.step, t.token, t.text.toStdString(), t.at_us});
    j["wall_us"] = trace.wall_us;
    std::ofstream out(file.toStdString());
    if (!out) throw Error("cannot write " + file.toStdString());
    out << j.dump() << "\n";
}

RunRecording RunRecording::load(const QString& file) {
    const std::string name = file.toStdString();
    std::ifstream in(name);
    if (!in) throw Error("cannot open " + name);
    RunRecording r;
    try {
        const json j = json::parse(in);
        if (!j.is_object() || j.value("distgpt_recording", 0) != kFormat)
            throw Error(name + ": not a distgpt run recording (format " + std::to_string(kFormat) + ")");
        r.topology_json = QString::fromStdString(j.value("topology", json::object()).dump());
        for (const auto& n : j.at("nodes"))
            r.nodes.push_back({n.at("name"), n.at("stage"), n.at("rank"), n.at("shard"), n.at("weight_bytes"), n.at("kv_cache_bytes"),
                               n.at("rss_bytes"), n.at("clock_offset_us"), n.at("rtt_us")});
        for (const auto& p : j.at("prompts")) r.prompts.push_back(QString::fromStdString(p.get<std::string>()));
        const int node_count = static_cast<int>(r.nodes.size());
        for (const auto& s : j.value("spans", json::array())) {
            const auto kind = parse_span_kind(s.at(1).get<std::string>());
            if (!kind) throw Error(name + ": a span of unknown kind '" + s.at(1).get<std::string>() + "'");
            TraceSpan span{s.at(0),
                           *kind,
                           s.at(2),
                           s.at(3),
                           s.at(4),
                           s.at(5),
                           s.at(6),
                           s.at(7),
                           s.at(8),
                           s.at(9),
                           s.at(10).get<std::vector<int64_t>>(),
                           parse_transport(s.size() > 11 ? s.at(11).get<std::string>() : std::string()).value_or(Transport::None)};
            if (s.size() > 12) {
                const auto& d = s.at(12);
                span.emulated = EmulatedDelay{d.at(0), d.at(1), d.at(2)};
            }
            if (span.node < 0 || span.node >= node_count || span.peer >= node_count)
                throw Error(name + ": a span names a node that is not in the recording");
            r.spans.push_back(span);
        }
        for (const auto& t : j.value("tokens", json::array()))
            r.tokens.push_back({t.at(0), t.at(1), t.at(2), QString::fromStdString(t.at(3).get<std::string>()), t.at(4), 0});
        r.trace.nodes = r.nodes;
        r.trace.spans = r.spans;
        for (const auto& t : r.tokens) r.trace.tokens.push_back({t.sequence, t.step, t.token, t.at_us});
        r.trace.wall_us = j.value("wall_us", 0.0);
        r.trace.sequences = r.prompts.size();
    } catch (const json::exception& e) {
        throw Error(name + ": damaged recording: " + e.what());
    }
    return r;
}

}  // namespace distgpt::ui
