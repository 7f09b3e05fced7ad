#include "serve/serve_metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace distgpt {

namespace {

std::string number(double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

// A label value, escaped as the text format says.
std::string label(const std::string& v) {
    std::string out;
    for (char ch : v) {
        if (ch == '\\' || ch == '"') out += '\\';
        if (ch == '\n') {
            out += "\\n";
            continue;
        }
        out += ch;
    }
    return out;
}

}  // namespace

LatencyHistogram::LatencyHistogram(std::vector<double> upper_bounds_seconds)
    : bounds_(std::move(upper_bounds_seconds)), buckets_(bounds_.size(), 0) {}

void LatencyHistogram::observe(double seconds) {
    const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
    if (at != bounds_.end()) ++buckets_[at - bounds_.begin()];
    sum_ += seconds;
    ++count_;
}

std::string LatencyHistogram::render(const std::string& name, const std::string& help) const {
    std::ostringstream out;
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    int64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += buckets_[i];
        out << name << "_bucket{le=\"" << number(bounds_[i]) << "\"} " << cumulative << "\n";
    }
    out << name << "_bucket{le=\"+Inf\"} " << count_ << "\n";
    out << name << "_sum " << number(sum_) << "\n" << name << "_count " << count_ << "\n";
    return out.str();
}

ServeMetrics::ServeMetrics(const std::vector<TraceNode>& nodes)
    : nodes_([&] {
          std::vector<std::string> names;
          for (const auto& n : nodes) names.push_back(n.name);
          return names;
      }()),
      first_token_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      next_token_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      busy_(nodes_.size()) {}

void ServeMetrics::request(const std::string& endpoint, int status) {
    std::lock_guard lock(mutex_);
    ++requests_[{endpoint, status}];
}

void ServeMetrics::prompt_tokens(int count) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += count;
}

void ServeMetrics::first_token(double seconds) {
    std::lock_guard lock(mutex_);
    ++generated_tokens_;
    first_token_.observe(seconds);
}

void ServeMetrics::next_token(double seconds) {
    std::lock_guard lock(mutex_);
    ++generated_tokens_;
    next_token_.observe(seconds);
}

void ServeMetrics::sequences(int running, int waiting) {
    std::lock_guard lock(mutex_);
    running_ = running;
    waiting_ = waiting;
}

void ServeMetrics::spans(const std::vector<TraceSpan>& spans) {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (const auto& s : spans) {
        if (s.node < 0 || s.node >= static_cast<int>(busy_.size())) continue;
        if (s.kind != SpanKind::Compute && s.kind != SpanKind::Sample && s.kind != SpanKind::WindowShift) continue;
        busy_[s.node].push_back({now, (s.t1_us - s.t0_us) / 1e6});
    }
}

std::string ServeMetrics::render() const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    out << "# HELP distgpt_requests_total HTTP requests answered, by endpoint and status.\n# TYPE distgpt_requests_total counter\n";
    for (const auto& [key, n] : requests_)
        out << "distgpt_requests_total{endpoint=\"" << label(key.first) << "\",status=\"" << key.second << "\"} " << n << "\n";
    out << "# HELP distgpt_prompt_tokens_total Prompt tokens of the requests run.\n# TYPE distgpt_prompt_tokens_total counter\n"
        << "distgpt_prompt_tokens_total " << prompt_tokens_ << "\n";
    out << "# HELP distgpt_generated_tokens_total Tokens generated for requests.\n# TYPE distgpt_generated_tokens_total counter\n"
        << "distgpt_generated_tokens_total " << generated_tokens_ << "\n";
    out << first_token_.render("distgpt_time_to_first_token_seconds", "From a request's arrival to its first token.");
    out << next_token_.render("distgpt_time_per_output_token_seconds", "Between a sequence's consecutive tokens.");
    out << "# HELP distgpt_sequences_running Requests generating, each in a slot.\n# TYPE distgpt_sequences_running gauge\n"
        << "distgpt_sequences_running " << running_ << "\n";
    out << "# HELP distgpt_queue_depth Requests waiting for a slot.\n# TYPE distgpt_queue_depth gauge\n"
        << "distgpt_queue_depth " << waiting_ << "\n";
    out << "# HELP distgpt_node_busy_ratio Share of the last 10 s each node spent computing.\n# TYPE distgpt_node_busy_ratio gauge\n";
    const auto since = Clock::now() - kBusyWindow;
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
        auto& spans = busy_[n];
        while (!spans.empty() && spans.front().at < since) spans.pop_front();
        double seconds = 0;
        for (const auto& b : spans) seconds += b.seconds;
        out << "distgpt_node_busy_ratio{node=\"" << label(nodes_[n]) << "\"} " << number(std::min(1.0, seconds / kBusyWindow.count()))
            << "\n";
    }
    return out.str();
}

}  // namespace distgpt
