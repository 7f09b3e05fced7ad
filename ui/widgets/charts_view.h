#pragma once
#include "models/run_charts.h"

#include <QWidget>

class QChart;
class QChartView;

namespace distgpt::ui {

// Charts of the measured run: tokens/s over time, latency of each token,
// compute against communication per node, bytes per link.
class ChartsView : public QWidget {
    Q_OBJECT
public:
    enum class Chart { Throughput, Latency, Work, Links };
    static constexpr Chart kCharts[] = {Chart::Throughput, Chart::Latency, Chart::Work, Chart::Links};
    static QString fileName(Chart c);  // "throughput", …

    explicit ChartsView(QWidget* parent = nullptr);
    void show(const RunCharts& data);
    const RunCharts& shown() const { return data_; }
    QChartView* view(Chart c) const;
    // Whether a user sees the charts now (a dock in a tab behind another is
    // "visible" to Qt, but off screen).
    bool onScreen() const;
    // Renders `c` off screen for a slide: `size` pixels, large type, the
    // title followed by `subtitle`, a legend and a label on every bar.
    QImage render(Chart c, QSize size, const QString& subtitle) const;
    void renderSvg(Chart c, QSize size, const QString& subtitle, const QString& file) const;

private:
    QChartView* views_[4];
    RunCharts data_;
};

}  // namespace distgpt::ui
