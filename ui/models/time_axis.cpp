#include "models/time_axis.h"

#include <algorithm>

namespace distgpt::ui {

void TimeAxis::zoomAt(double px, double factor) {
    const double anchor = toUs(px);
    us_per_px = std::clamp(us_per_px / factor, 0.01, 1e7);
    start_us = anchor - px * us_per_px;
}

void TimeAxis::fit(double t0, double t1, double width) {
    us_per_px = std::max(0.01, (t1 - t0) / std::max(1.0, width));
    start_us = t0;
}

void TimeAxis::clampTo(double end_us, double width) {
    width = std::max(1.0, width);
    end_us = std::max(end_us, 1000.0);
    us_per_px = std::min(us_per_px, end_us / width);
    start_us = std::clamp(start_us, 0.0, std::max(0.0, end_us - width * us_per_px));
}

}  // namespace distgpt::ui
