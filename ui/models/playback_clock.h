#pragma once

namespace distgpt::ui {

// Maps the screen's clock onto a run's measured clock. In slow motion ×F one
// second on screen shows 1/F s of the run, so compute and transfers stretch
// alike and a slowed run looks like the real one, only slower. The run itself
// always goes at full speed; the views trail it. Pure arithmetic.
class PlaybackClock {
public:
    // Run time `run_us` is on screen at `wall_ms`, from now on at 1/factor speed.
    void start(double wall_ms, double factor, double run_us = 0);
    void stop() { running_ = false; }
    // Changes the speed, keeping what is on screen now where it is.
    void setFactor(double factor, double wall_ms);
    double factor() const { return factor_; }
    // The run time to show at `wall_ms` (0 before start()).
    double runUs(double wall_ms) const;

private:
    double anchor_wall_ms_ = 0, anchor_run_us_ = 0, factor_ = 1;
    bool running_ = false;
};

}  // namespace distgpt::ui
