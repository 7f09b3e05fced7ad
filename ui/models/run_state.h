#pragma once
#include "trace/run_trace.h"

#include <QString>
#include <QVector>

#include <array>
#include <map>
#include <vector>

namespace distgpt::ui {

struct LiveToken {
    int sequence = 0;
    int step = 0;
    int token = 0;
    QString text;           // the characters this token completes (may be empty mid-character)
    double at_us = 0;       // since the run started
    double latency_ms = 0;  // since the sequence's previous token (or the start)
};

// What a node did in a window of time: the share of the window each kind of
// span covered (spans of one kind may nest in another: an all-reduce sits
// inside its compute).
struct Activity {
    std::array<double, std::size(kAllSpanKinds)> share{};
    double of(SpanKind k) const { return share[static_cast<std::size_t>(k)]; }
    double work() const { return of(SpanKind::Compute) + of(SpanKind::WindowShift) + of(SpanKind::Sample); }
    // Lit: the node worked for at least half of the window.
    bool lit() const { return work() >= 0.5; }
    // What to colour the node by: its work, told apart when an all-reduce
    // or sampling took most of it; else the transfer it spent longest on.
    std::optional<SpanKind> shown() const;
};

// One measured message: sent at the start of its send span, arrived at the
// start of the receive span it caused, on the controller's clock.
struct Message {
    int from = 0, to = 0;
    double sent_us = 0, arrived_us = 0;
    int64_t bytes = 0;
    Transport transport = Transport::None;
    bool relay = false;                     // a stage leader passing a message on to its other ranks
    double handed_us = 0;                   // the send handed it over (its span's end)
    std::optional<EmulatedDelay> emulated;  // what an emulated link did to it after the hand-off
};

// Everything the views show of one run, as it arrives: measured spans and
// tokens, nothing simulated. Every question takes a time, so that views can
// show the run as it was at any moment (live, slowed down, or replayed).
// Pure data: the widgets read it, the tests check it.
class RunState {
public:
    void reset(std::vector<TraceNode> nodes, QVector<QString> prompts);
    void addSpans(const std::vector<TraceSpan>& spans);
    void addToken(LiveToken token);
    // A sequence that joined while the run runs (a served request), with its prompt.
    void addSequence(int sequence, const QString& prompt);
    void finish(const RunTrace& trace);

    const std::vector<TraceNode>& nodes() const { return nodes_; }
    const std::vector<TraceSpan>& spans() const { return spans_; }
    const QVector<QString>& prompts() const { return prompts_; }
    const std::map<int, QVector<LiveToken>>& tokens() const { return tokens_; }
    const RunTrace& trace() const { return trace_; }
    bool finished() const { return finished_; }
    bool empty() const { return nodes_.empty(); }
    // Grows with every change, and with every new run: a view redraws when it moves.
    quint64 revision() const { return revision_; }
    // Which run this is: grows with every reset.
    quint64 runId() const { return run_id_; }
    double latestUs() const { return latest_us_; }
    int tokenCount() const;
    int tokenCountUpTo(double us) const;

    Activity activity(int node, double t0_us, double t1_us) const;
    // Per node: work (compute, sampling) up to `us` / `us`, in percent.
    double busyPercent(int node, double us) const;
    // Per node: sequence-steps its compute spans finished in the second up to
    // `us` (for the last stage, the run's tokens/s); over the whole run once
    // finished and `us` is its end.
    double tokensPerSecond(int node, double us) const;
    // Messages on their way at some time in [t0, t1].
    std::vector<Message> messagesIn(double t0_us, double t1_us) const;
    // The node's last span of `kind` that started by `us`, or nullptr.
    const TraceSpan* latest(int node, SpanKind kind, double us) const;
    const std::vector<Message>& messages() const { return messages_; }
    // Nodes a token passed through (every stage of its step).
    QString pathOf(const LiveToken& t) const;

private:
    void index(std::size_t span);
    std::vector<TraceNode> nodes_;
    std::vector<TraceSpan> spans_;
    // Per node: its spans' indices by end time, and the work done by each end.
    std::vector<std::vector<std::size_t>> by_end_;
    std::vector<std::vector<double>> work_until_;
    std::vector<double> longest_;  // per node: its longest span, to bound window scans
    std::vector<Message> messages_;
    std::map<std::tuple<int, int, int>, std::size_t> unmatched_sends_, unmatched_receives_;  // (to, group, step)
    QVector<QString> prompts_;
    std::map<int, QVector<LiveToken>> tokens_;
    std::vector<double> token_times_;  // sorted
    RunTrace trace_;
    double latest_us_ = 0;
    bool finished_ = false;
    quint64 revision_ = 0, run_id_ = 0;
};

}  // namespace distgpt::ui
