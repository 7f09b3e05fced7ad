#include "models/run_charts.h"

#include <algorithm>
#include <map>

namespace distgpt::ui {

RunCharts RunCharts::of(const RunState& state, double until_us) {
    RunCharts c;
    if (state.empty()) return c;
    c.end_s = std::max(0.001, std::min(until_us, state.latestUs()) / 1e6);
    // About 30 bins, whatever the run's length.
    c.bin_s = std::clamp(c.end_s / 30, 0.001, 1.0);
    std::vector<int> bins(static_cast<std::size_t>(c.end_s / c.bin_s) + 1);
    for (const auto& [seq, row] : state.tokens())
        for (const auto& t : row) {
            if (t.at_us > until_us) break;
            const double s = t.at_us / 1e6;
            ++bins[std::min(bins.size() - 1, static_cast<std::size_t>(s / c.bin_s))];
            c.latency.push_back({s, t.latency_ms});
            ++c.tokens;
        }
    for (std::size_t i = 0; i < bins.size(); ++i) c.rate.push_back({(i + 0.5) * c.bin_s, bins[i] / c.bin_s});

    const std::size_t n = state.nodes().size();
    c.compute_ms.assign(n, 0);
    c.communication_ms.assign(n, 0);
    std::map<std::pair<int, int>, double> bytes;
    std::map<std::pair<int, int>, bool> emulated;
    for (const auto& s : state.spans()) {
        if (s.t0_us > until_us) continue;
        const double ms = (std::min(s.t1_us, until_us) - s.t0_us) / 1e3;
        if (is_work(s.kind)) c.compute_ms[s.node] += ms;
        if (is_communication(s.kind)) c.communication_ms[s.node] += ms;
        // An all-reduce happens inside its compute span: count it once, as communication.
        if (s.kind == SpanKind::AllReduce) c.compute_ms[s.node] -= ms;
        if (s.kind == SpanKind::Send) {
            bytes[{s.node, s.peer}] += s.bytes;
            if (s.emulated) emulated[{s.node, s.peer}] = true;
        }
    }
    // Time on the link: each message from its send to its arrival, as measured.
    std::map<std::pair<int, int>, double> in_flight_us;
    for (const auto& m : state.messages())
        if (m.arrived_us <= until_us) in_flight_us[{m.from, m.to}] += m.arrived_us - m.sent_us;
    for (const auto& node : state.nodes()) c.nodes << QString::fromStdString(node.name);
    for (const auto& [link, b] : bytes) {
        c.link_kib.push_back(b / 1024);
        c.link_in_flight_ms.push_back(in_flight_us[link] / 1e3);
        c.links << c.nodes[link.first] + "→" + (link.second >= 0 ? c.nodes[link.second] : QString("controller")) +
                       (emulated[link] ? " (emulated)" : "");
    }
    return c;
}

}  // namespace distgpt::ui
