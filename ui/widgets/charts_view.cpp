#include "widgets/charts_view.h"

#include "widgets/palette.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGridLayout>
#include <QLineSeries>
#include <QScatterSeries>
#include <QValueAxis>

#include <algorithm>
#include <map>

namespace distgpt::ui {

namespace {

QChartView* make_chart(const QString& title, const char* name) {
    auto* chart = new QChart;
    chart->setTitle(title);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    auto* view = new QChartView(chart);
    view->setObjectName(name);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(260, 180);
    return view;
}

// Small type and few ticks: a chart in a dock is ~250 px wide, and Qt
// elides whatever does not fit to "...".
void style_axis(QAbstractAxis* axis) {
    QFont labels = axis->labelsFont(), title = axis->titleFont();
    labels.setPointSizeF(7), title.setPointSizeF(7.5), title.setBold(false);
    axis->setLabelsFont(labels);
    axis->setTitleFont(title);
    if (auto* values = qobject_cast<QValueAxis*>(axis)) {
        values->setTickCount(4);
        values->applyNiceNumbers();  // 0, 1000, 2000 rather than 0, 1027, 2054
        values->setLabelFormat("%g");
    }
}

void set_axes(QChart* chart, QAbstractSeries* series, const QString& x, const QString& y, double xmax, double ymax) {
    // Before any data the axes still read 0..1; few ticks with short labels
    // stay legible in a small dock.
    auto* ax = new QValueAxis;
    ax->setTitleText(x);
    ax->setRange(0, xmax > 0 ? xmax : 1);
    auto* ay = new QValueAxis;
    ay->setTitleText(y);
    ay->setRange(0, ymax > 0 ? ymax * 1.1 : 1);
    for (auto* axis : {ax, ay}) style_axis(axis);
    chart->addAxis(ax, Qt::AlignBottom);
    chart->addAxis(ay, Qt::AlignLeft);
    series->attachAxis(ax);
    series->attachAxis(ay);
}

void reset(QChart* chart) {
    chart->removeAllSeries();
    for (auto* a : chart->axes()) chart->removeAxis(a), delete a;
}

struct Bars {
    QString name;
    QColor color;
    std::vector<double> values;  // one per category
};

// Replaces `chart`'s content with grouped bars over `categories`.
void show_bars(QChart* chart, const QStringList& categories, const std::vector<Bars>& groups, const QString& unit) {
    reset(chart);
    auto* series = new QBarSeries;
    double top = 0;
    for (const auto& g : groups) {
        auto* set = new QBarSet(g.name);
        set->setColor(g.color);
        for (double v : g.values) *set << v, top = std::max(top, v);
        series->append(set);
    }
    chart->addSeries(series);
    auto* x = new QBarCategoryAxis;
    x->append(categories);
    auto* y = new QValueAxis;
    y->setRange(0, std::max(1.0, top * 1.1));
    style_axis(y);
    style_axis(x);
    y->setTitleText(unit);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
}

}  // namespace

ChartsView::ChartsView(QWidget* parent) : QWidget(parent) {
    setObjectName("chartsView");
    throughput_ = make_chart("Tokens per second", "throughputChart");
    latency_ = make_chart("Latency of each token", "latencyChart");
    work_ = make_chart("Compute and communication per node", "workChart");
    links_ = make_chart("Bytes per link", "linksChart");
    auto* grid = new QGridLayout(this);
    grid->addWidget(throughput_, 0, 0);
    grid->addWidget(latency_, 0, 1);
    grid->addWidget(work_, 1, 0);
    grid->addWidget(links_, 1, 1);
}

QList<QChartView*> ChartsView::charts() const { return {throughput_, latency_, work_, links_}; }

void ChartsView::refresh(const RunState& state) {
    if (state.tokenCount() == shownTokens_ && state.spans().size() == shownSpans_) return;
    shownTokens_ = state.tokenCount(), shownSpans_ = state.spans().size();
    // Tokens/s over time, and every token's latency, by arrival time.
    std::vector<double> times;
    auto* latency = new QScatterSeries;
    latency->setName("ms since the sequence's previous token");
    latency->setMarkerSize(5);
    double max_latency = 0;
    for (const auto& [seq, row] : state.tokens())
        for (const auto& t : row) {
            times.push_back(t.at_us / 1e6);
            latency->append(t.at_us / 1e6, t.latency_ms);
            max_latency = std::max(max_latency, t.latency_ms);
        }
    const double end_s = std::max(0.01, state.latestUs() / 1e6);
    const double kBin = std::clamp(end_s / 30, 0.005, 1.0);  // about 30 points, whatever the run's length
    std::vector<int> bins(static_cast<std::size_t>(end_s / kBin) + 1);
    for (double t : times) ++bins[std::min(bins.size() - 1, static_cast<std::size_t>(t / kBin))];
    auto* rate = new QLineSeries;
    rate->setName(QString("tokens/s in %1 ms bins").arg(kBin * 1e3, 0, 'f', 0));
    double max_rate = 0;
    for (std::size_t i = 0; i < bins.size(); ++i) {
        rate->append((i + 0.5) * kBin, bins[i] / kBin);
        max_rate = std::max(max_rate, bins[i] / kBin);
    }
    reset(throughput_->chart());
    throughput_->chart()->addSeries(rate);
    set_axes(throughput_->chart(), rate, "seconds", "tokens/s", end_s, max_rate);
    reset(latency_->chart());
    latency_->chart()->addSeries(latency);
    set_axes(latency_->chart(), latency, "seconds", "ms", end_s, max_latency);

    // Per node: compute (with sampling) against communication (send, receive, all-reduce).
    const int n = static_cast<int>(state.nodes().size());
    std::vector<double> compute(n), comm(n);
    std::map<std::pair<int, int>, double> bytes;
    for (const auto& s : state.spans()) {
        const double ms = (s.t1_us - s.t0_us) / 1e3;
        if (s.kind == "compute" || s.kind == "sample") compute[s.node] += ms;
        else comm[s.node] += ms;
        if (s.kind == "send") bytes[{s.node, s.peer}] += s.bytes;
    }
    QStringList names;
    for (const auto& node : state.nodes()) names << QString::fromStdString(node.name);
    show_bars(work_->chart(), names, {{"compute ms", colorOf("compute"), compute}, {"communication ms", colorOf("send"), comm}}, "ms");

    QStringList links;
    std::vector<double> kib;
    for (const auto& [link, b] : bytes) {
        kib.push_back(b / 1024);
        links << names[link.first] + "→" + (link.second >= 0 ? names[link.second] : QString("controller"));
    }
    show_bars(links_->chart(), links, {{"KiB sent", colorOf("idle").darker(250), kib}}, "KiB");
}

}  // namespace distgpt::ui
