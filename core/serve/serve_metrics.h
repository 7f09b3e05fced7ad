#pragma once
#include "trace/run_trace.h"

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace distgpt {

// A Prometheus histogram: counts per upper bound, their sum and count.
class LatencyHistogram {
public:
    explicit LatencyHistogram(std::vector<double> upper_bounds_seconds);
    void observe(double seconds);
    // The histogram's lines for `name` (with _bucket, _sum, _count).
    std::string render(const std::string& name, const std::string& help) const;
    int64_t count() const { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<int64_t> buckets_;  // per bound, not cumulative
    double sum_ = 0;
    int64_t count_ = 0;
};

// What a server counts, for GET /metrics in Prometheus' text format:
// requests by endpoint and status, tokens, time to first token and between
// tokens, the queue, and how busy each node was over the last 10 seconds.
// Thread-safe.
class ServeMetrics {
public:
    explicit ServeMetrics(const std::vector<TraceNode>& nodes);  // a cluster's, by its node numbering

    void request(const std::string& endpoint, int status);
    void prompt_tokens(int count);
    void first_token(double seconds);  // since the request came
    void next_token(double seconds);   // since the sequence's token before
    void sequences(int running, int waiting);
    void spans(const std::vector<TraceSpan>& spans);  // as a run reports them

    std::string render() const;

private:
    using Clock = std::chrono::steady_clock;
    mutable std::mutex mutex_;
    std::vector<std::string> nodes_;
    std::map<std::pair<std::string, int>, int64_t> requests_;
    int64_t prompt_tokens_ = 0, generated_tokens_ = 0;
    LatencyHistogram first_token_, next_token_;
    int running_ = 0, waiting_ = 0;
    struct Busy {
        Clock::time_point at;
        double seconds = 0;
    };
    mutable std::vector<std::deque<Busy>> busy_;  // per node, the last window's working spans
    static constexpr std::chrono::seconds kBusyWindow{10};
};

}  // namespace distgpt
