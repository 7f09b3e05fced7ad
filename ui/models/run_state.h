#pragma once
#include "trace/run_trace.h"

#include <QString>
#include <QVector>

#include <map>
#include <vector>

namespace distgpt::ui {

struct LiveToken {
    int sequence = 0;
    int step = 0;
    int token = 0;
    QString text;       // the characters this token completes (may be empty mid-character)
    double at_us = 0;   // since the run started
    double latency_ms = 0;  // since the sequence's previous token (or the start)
};

// Everything the views show of one run, as it arrives: measured spans and
// tokens, nothing simulated. Pure data: the widgets read it, the tests check it.
class RunState {
public:
    void reset(std::vector<TraceNode> nodes, QVector<QString> prompts);
    void addSpans(const std::vector<TraceSpan>& spans);
    void addToken(LiveToken token);
    void finish(const RunTrace& trace);

    const std::vector<TraceNode>& nodes() const { return nodes_; }
    const std::vector<TraceSpan>& spans() const { return spans_; }
    const QVector<QString>& prompts() const { return prompts_; }
    const std::map<int, QVector<LiveToken>>& tokens() const { return tokens_; }
    const RunTrace& trace() const { return trace_; }
    bool finished() const { return finished_; }
    double latestUs() const { return latest_us_; }
    int tokenCount() const;

    // What a node spent most of [us - window_us, us] doing: a span's kind,
    // or "idle". Spans are sorted by arrival, which is close to time order.
    QString stateAt(int node, double us, double window_us) const;
    // Per node: compute time / elapsed, in percent.
    double busyPercent(int node) const;
    // Per node: sequence-steps its compute spans finished in the second up to
    // `us` (for the last stage, the run's tokens/s); over the whole run once finished.
    double tokensPerSecond(int node, double us) const;
    // Nodes a token passed through (every stage of its step).
    QString pathOf(const LiveToken& t) const;

private:
    std::vector<TraceNode> nodes_;
    std::vector<TraceSpan> spans_;
    std::vector<double> compute_us_;
    QVector<QString> prompts_;
    std::map<int, QVector<LiveToken>> tokens_;
    RunTrace trace_;
    double latest_us_ = 0;
    bool finished_ = false;
};

}  // namespace distgpt::ui
