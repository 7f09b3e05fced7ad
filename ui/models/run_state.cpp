#include "models/run_state.h"

#include <algorithm>

namespace distgpt::ui {

std::optional<SpanKind> Activity::shown() const {
    if (lit()) {
        // An all-reduce or the sampling is part of the work around it: name
        // it when it took most of that work.
        if (of(SpanKind::AllReduce) * 2 >= work()) return SpanKind::AllReduce;
        if (of(SpanKind::Sample) * 2 >= work()) return SpanKind::Sample;
        if (of(SpanKind::WindowShift) * 2 >= work()) return SpanKind::WindowShift;
        return SpanKind::Compute;
    }
    const SpanKind moves[] = {SpanKind::Send, SpanKind::Receive};
    const SpanKind* most = std::max_element(std::begin(moves), std::end(moves), [&](SpanKind a, SpanKind b) { return of(a) < of(b); });
    if (of(*most) >= 0.5) return *most;
    return std::nullopt;  // idle, or too little of anything to name
}

void RunState::reset(std::vector<TraceNode> nodes, QVector<QString> prompts) {
    nodes_ = std::move(nodes);
    prompts_ = std::move(prompts);
    spans_.clear();
    by_end_.assign(nodes_.size(), {});
    work_until_.assign(nodes_.size(), {});
    longest_.assign(nodes_.size(), 0);
    messages_.clear();
    unmatched_sends_.clear();
    unmatched_receives_.clear();
    tokens_.clear();
    token_times_.clear();
    trace_ = {};
    latest_us_ = 0;
    finished_ = false;
    ++revision_;
    ++run_id_;
}

void RunState::addSpans(const std::vector<TraceSpan>& spans) {
    for (const auto& s : spans) {
        if (s.node < 0 || s.node >= static_cast<int>(nodes_.size()) || s.peer >= static_cast<int>(nodes_.size())) continue;
        spans_.push_back(s);
        index(spans_.size() - 1);
        latest_us_ = std::max(latest_us_, s.t1_us);
    }
    ++revision_;
}

void RunState::index(std::size_t i) {
    const TraceSpan& s = spans_[i];
    // Keep the node's spans ordered by end; they arrive nearly in that order.
    auto& ends = by_end_[s.node];
    auto at = std::upper_bound(ends.begin(), ends.end(), s.t1_us, [&](double t, std::size_t j) { return t < spans_[j].t1_us; });
    const auto pos = static_cast<std::size_t>(at - ends.begin());
    ends.insert(at, i);
    auto& work = work_until_[s.node];
    work.insert(work.begin() + static_cast<std::ptrdiff_t>(pos), 0.0);
    for (std::size_t j = pos; j < work.size(); ++j) {
        const TraceSpan& t = spans_[ends[j]];
        work[j] = (j ? work[j - 1] : 0.0) + (is_work(t.kind) ? t.t1_us - t.t0_us : 0.0);
    }
    longest_[s.node] = std::max(longest_[s.node], s.t1_us - s.t0_us);

    // Pair each send with the receive it caused.
    auto pair = [&](const TraceSpan& send, const TraceSpan& receive) {
        messages_.push_back({send.node, send.peer, send.t0_us, std::max(send.t0_us, receive.t0_us), send.bytes, send.transport,
                             nodes_[send.node].stage == nodes_[send.peer].stage, send.t1_us, send.emulated});
    };
    if (s.kind == SpanKind::Send && s.peer >= 0) {
        const auto key = std::tuple{s.peer, s.group, s.step};
        if (auto r = unmatched_receives_.find(key); r != unmatched_receives_.end()) {
            pair(s, spans_[r->second]);
            unmatched_receives_.erase(r);
        } else {
            unmatched_sends_[key] = i;
        }
    } else if (s.kind == SpanKind::Receive) {
        const auto key = std::tuple{s.node, s.group, s.step};
        if (auto d = unmatched_sends_.find(key); d != unmatched_sends_.end()) {
            pair(spans_[d->second], s);
            unmatched_sends_.erase(d);
        } else {
            unmatched_receives_[key] = i;
        }
    }
}

void RunState::addToken(LiveToken token) {
    auto& row = tokens_[token.sequence];
    token.latency_ms = (token.at_us - (row.isEmpty() ? 0.0 : row.back().at_us)) / 1e3;
    latest_us_ = std::max(latest_us_, token.at_us);
    token_times_.insert(std::upper_bound(token_times_.begin(), token_times_.end(), token.at_us), token.at_us);
    row.push_back(std::move(token));
    ++revision_;
}

void RunState::addSequence(int sequence, const QString& prompt) {
    if (sequence < 0) return;
    if (sequence >= prompts_.size()) prompts_.resize(sequence + 1);
    prompts_[sequence] = prompt;
    ++revision_;
}

void RunState::finish(const RunTrace& trace) {
    trace_ = trace;
    finished_ = true;
    latest_us_ = std::max(latest_us_, trace.wall_us);
    ++revision_;
}

int RunState::tokenCount() const { return static_cast<int>(token_times_.size()); }

int RunState::tokenCountUpTo(double us) const {
    return static_cast<int>(std::upper_bound(token_times_.begin(), token_times_.end(), us) - token_times_.begin());
}

Activity RunState::activity(int node, double t0, double t1) const {
    Activity a;
    if (node < 0 || node >= static_cast<int>(nodes_.size()) || t1 <= t0) return a;
    const auto& ends = by_end_[node];
    // Spans ending after t0, and starting before t1: the ends are sorted, and
    // no span is longer than the node's longest.
    auto it = std::lower_bound(ends.begin(), ends.end(), t0, [&](std::size_t j, double t) { return spans_[j].t1_us < t; });
    for (; it != ends.end() && spans_[*it].t1_us <= t1 + longest_[node]; ++it) {
        const TraceSpan& s = spans_[*it];
        const double overlap = std::min(s.t1_us, t1) - std::max(s.t0_us, t0);
        if (overlap > 0) a.share[static_cast<std::size_t>(s.kind)] += overlap / (t1 - t0);
    }
    return a;
}

double RunState::busyPercent(int node, double us) const {
    if (node < 0 || node >= static_cast<int>(nodes_.size()) || us <= 0) return 0;
    const auto& ends = by_end_[node];
    // Work in spans that ended by `us`, plus the part of those still going.
    const auto done =
        std::upper_bound(ends.begin(), ends.end(), us, [&](double t, std::size_t j) { return t < spans_[j].t1_us; }) - ends.begin();
    double work = done ? work_until_[node][done - 1] : 0.0;
    for (auto j = static_cast<std::size_t>(done); j < ends.size() && spans_[ends[j]].t1_us <= us + longest_[node]; ++j) {
        const TraceSpan& s = spans_[ends[j]];
        if (is_work(s.kind) && s.t0_us < us) work += us - s.t0_us;
    }
    return 100.0 * work / us;
}

double RunState::tokensPerSecond(int node, double us) const {
    if (node < 0 || node >= static_cast<int>(nodes_.size())) return 0;
    const bool whole = finished_ && us >= latest_us_;
    const double window = whole ? std::max(1.0, latest_us_) : std::min(1e6, std::max(1.0, us));
    std::size_t rows = 0;
    const auto& ends = by_end_[node];
    auto it = std::upper_bound(ends.begin(), ends.end(), us - window, [&](double t, std::size_t j) { return t < spans_[j].t1_us; });
    for (; it != ends.end() && spans_[*it].t1_us <= us; ++it)
        if (is_layers(spans_[*it].kind)) rows += spans_[*it].sequences.size();
    return rows / (window / 1e6);
}

std::vector<Message> RunState::messagesIn(double t0, double t1) const {
    std::vector<Message> out;
    for (const auto& m : messages_)
        if (m.sent_us <= t1 && m.arrived_us >= t0) out.push_back(m);
    return out;
}

const TraceSpan* RunState::latest(int node, SpanKind kind, double us) const {
    if (node < 0 || node >= static_cast<int>(nodes_.size())) return nullptr;
    const auto& ends = by_end_[node];
    for (auto it = ends.rbegin(); it != ends.rend(); ++it) {
        const TraceSpan& s = spans_[*it];
        if (s.kind == kind && s.t0_us <= us) return &s;
    }
    return nullptr;
}

QString RunState::pathOf(const LiveToken& t) const {
    QStringList names;
    std::vector<int> seen;
    for (const auto& s : spans_)
        if (is_layers(s.kind) && s.step == t.step && std::find(s.sequences.begin(), s.sequences.end(), t.sequence) != s.sequences.end() &&
            std::find(seen.begin(), seen.end(), s.node) == seen.end()) {
            seen.push_back(s.node);
            names << QString::fromStdString(nodes_[s.node].name);
        }
    return names.join(" → ");
}

}  // namespace distgpt::ui
