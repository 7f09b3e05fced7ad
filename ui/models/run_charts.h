#pragma once
#include "models/run_state.h"

#include <QString>
#include <QStringList>

#include <vector>

namespace distgpt::ui {

// What the charts plot, computed from a run as it stood at `until_us`: pure
// data, so that tests compare it with the run and exports need no window.
struct RunCharts {
    struct Point {
        double x = 0, y = 0;
    };
    double end_s = 0;            // the x range: the run up to `until_us`
    double bin_s = 0;            // width of a tokens/s bin
    std::vector<Point> rate;     // tokens/s per bin, at each bin's middle
    std::vector<Point> latency;  // each token: (arrival s, ms since its sequence's previous token)
    QStringList nodes;
    std::vector<double> compute_ms, communication_ms;  // per node
    QStringList links;                                 // "node0→node1", "(emulated)" after one whose messages an emulated link held
    std::vector<double> link_kib;
    std::vector<double> link_in_flight_ms;  // beside link_kib: its messages' time from send to arrival, added up (measured)
    int tokens = 0;

    bool empty() const { return tokens == 0 && compute_ms.empty(); }
    static RunCharts of(const RunState& state, double until_us);
};

}  // namespace distgpt::ui
