#pragma once

namespace distgpt::ui {

// Time <-> pixel mapping of the timeline: pure arithmetic, tested alone.
struct TimeAxis {
    double start_us = 0;     // time at x = 0
    double us_per_px = 100;  // zoom

    double toPx(double us) const { return (us - start_us) / us_per_px; }
    double toUs(double px) const { return start_us + px * us_per_px; }
    // Zooms by `factor` (> 1 = in) keeping the time under `px` where it is.
    void zoomAt(double px, double factor);
    void pan(double dpx) { start_us -= dpx * us_per_px; }
    // Shows [t0, t1] across `width` pixels.
    void fit(double t0, double t1, double width);
    // Keeps the view on [0, end_us]: never before the run's start, never
    // zoomed out past the whole run, never panned past its end.
    void clampTo(double end_us, double width);
};

}  // namespace distgpt::ui
