#include "models/run_state.h"

#include <algorithm>
#include <map>

namespace distgpt::ui {

void RunState::reset(std::vector<TraceNode> nodes, QVector<QString> prompts) {
    nodes_ = std::move(nodes);
    prompts_ = std::move(prompts);
    spans_.clear();
    tokens_.clear();
    compute_us_.assign(nodes_.size(), 0);
    trace_ = {};
    latest_us_ = 0;
    finished_ = false;
}

void RunState::addSpans(const std::vector<TraceSpan>& spans) {
    for (const auto& s : spans) {
        if (s.node < 0 || s.node >= static_cast<int>(nodes_.size())) continue;
        spans_.push_back(s);
        if (s.kind == "compute" || s.kind == "sample") compute_us_[s.node] += s.t1_us - s.t0_us;
        latest_us_ = std::max(latest_us_, s.t1_us);
    }
}

void RunState::addToken(LiveToken token) {
    auto& row = tokens_[token.sequence];
    token.latency_ms = (token.at_us - (row.isEmpty() ? 0.0 : row.back().at_us)) / 1e3;
    latest_us_ = std::max(latest_us_, token.at_us);
    row.push_back(std::move(token));
}

void RunState::finish(const RunTrace& trace) {
    trace_ = trace;
    finished_ = true;
    latest_us_ = std::max(latest_us_, trace.wall_us);
}

int RunState::tokenCount() const {
    int n = 0;
    for (const auto& [seq, row] : tokens_) n += row.size();
    return n;
}

QString RunState::stateAt(int node, double us, double window_us) const {
    // What took most of the node's time in the last window; idle if it was
    // busy less than a twentieth of it.
    std::map<std::string, double> time;
    double busy = 0;
    for (auto it = spans_.rbegin(); it != spans_.rend() && it->t1_us >= us - window_us - 1e6; ++it) {
        if (it->node != node || it->t0_us > us || it->t1_us < us - window_us) continue;
        const double d = std::min(it->t1_us, us) - std::max(it->t0_us, us - window_us);
        time[it->kind] += d, busy += d;
    }
    if (busy < window_us / 20) return "idle";
    return QString::fromStdString(std::max_element(time.begin(), time.end(), [](auto& a, auto& b) { return a.second < b.second; })->first);
}

double RunState::busyPercent(int node) const {
    if (node < 0 || node >= static_cast<int>(compute_us_.size()) || latest_us_ <= 0) return 0;
    return 100.0 * compute_us_[node] / latest_us_;
}

double RunState::tokensPerSecond(int node, double us) const {
    const double window = finished_ ? std::max(1.0, latest_us_) : 1e6;
    std::size_t rows = 0;
    for (auto it = spans_.rbegin(); it != spans_.rend(); ++it) {
        if (!finished_ && it->t1_us < us - window - 1e6) break;  // spans arrive in about time order
        if (it->node == node && it->kind == "compute" && it->t1_us <= us && it->t1_us > us - window) rows += it->sequences.size();
    }
    return rows / (window / 1e6);
}

QString RunState::pathOf(const LiveToken& t) const {
    QStringList names;
    std::vector<int> seen;
    for (const auto& s : spans_)
        if (s.kind == "compute" && s.step == t.step &&
            std::find(s.sequences.begin(), s.sequences.end(), t.sequence) != s.sequences.end() &&
            std::find(seen.begin(), seen.end(), s.node) == seen.end()) {
            seen.push_back(s.node);
            names << QString::fromStdString(nodes_[s.node].name);
        }
    return names.join(" → ");
}

}  // namespace distgpt::ui
