#include "models/playback_clock.h"

#include <algorithm>

namespace distgpt::ui {

void PlaybackClock::start(double wall_ms, double factor, double run_us) {
    anchor_wall_ms_ = wall_ms;
    anchor_run_us_ = run_us;
    factor_ = std::max(1.0, factor);
    running_ = true;
}

void PlaybackClock::setFactor(double factor, double wall_ms) {
    if (running_) {
        anchor_run_us_ = runUs(wall_ms);
        anchor_wall_ms_ = wall_ms;
    }
    factor_ = std::max(1.0, factor);
}

double PlaybackClock::runUs(double wall_ms) const {
    if (!running_) return anchor_run_us_;
    return anchor_run_us_ + std::max(0.0, wall_ms - anchor_wall_ms_) * 1e3 / factor_;
}

}  // namespace distgpt::ui
