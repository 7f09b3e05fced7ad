#pragma once
#include <cstdint>
#include <ostream>
#include <string>

namespace distgpt {

// Logs the messages a worker refuses without letting a flood fill its log:
// the first `burst` in each window, then one line saying how many more were
// refused. The total is kept for the worker's hello reply.
class RefusalLog {
public:
    RefusalLog(std::ostream& out, std::string worker, int64_t window_ns = 10'000'000'000, int burst = 5)
        : out_(out), worker_(std::move(worker)), window_ns_(window_ns), burst_(burst) {}

    void refused(const std::string& type, const std::string& why, int64_t now_ns) {
        ++total_;
        if (now_ns - window_start_ns_ >= window_ns_) {
            summarize();
            window_start_ns_ = now_ns;
            in_window_ = 0;
        }
        if (++in_window_ <= burst_)
            out_ << worker_ << ": refused a " << type << " message: " << why << std::endl;
        else
            ++suppressed_;
    }
    // Says how many went unlogged, if any (also done when the next window opens).
    void summarize() {
        if (suppressed_ == 0) return;
        out_ << worker_ << ": refused " << suppressed_ << " more messages without logging each (" << total_ << " refused in all)"
             << std::endl;
        suppressed_ = 0;
    }
    int64_t total() const { return total_; }

private:
    std::ostream& out_;
    std::string worker_;
    int64_t window_ns_;
    int burst_;
    int64_t window_start_ns_ = INT64_MIN / 2, total_ = 0, suppressed_ = 0;
    int in_window_ = 0;
};

}  // namespace distgpt
