#pragma once
#include "models/run_state.h"

#include <QWidget>

class QChartView;

namespace distgpt::ui {

// Live charts of the measured run: tokens/s over time, latency of each
// token, compute against communication per node, bytes per link.
class ChartsView : public QWidget {
    Q_OBJECT
public:
    explicit ChartsView(QWidget* parent = nullptr);
    void refresh(const RunState& state);  // cheap when nothing changed
    QList<QChartView*> charts() const;    // for export
    QStringList chartNames() const { return {"throughput", "latency", "work", "links"}; }

private:
    QChartView *throughput_, *latency_, *work_, *links_;
    int shownTokens_ = -1;
    std::size_t shownSpans_ = 0;
};

}  // namespace distgpt::ui
