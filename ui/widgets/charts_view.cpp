#include "widgets/charts_view.h"

#include "widgets/palette.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGraphicsScene>
#include <QGridLayout>
#include <QLegendMarker>
#include <QLineSeries>
#include <QPainter>
#include <QScatterSeries>
#include <QSvgGenerator>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace distgpt::ui {

namespace {

// Type sizes: small in a dock (~300 px a chart, where Qt elides what does
// not fit), large on a slide.
struct Style {
    double title, axis, labels, legend;
};
constexpr Style kDock{9, 7.5, 7, 7.5};
constexpr Style kSlide{22, 15, 14, 15};

QString titleOf(ChartsView::Chart c) {
    switch (c) {
        case ChartsView::Chart::Throughput: return "Tokens per second";
        case ChartsView::Chart::Latency: return "Latency of each token";
        case ChartsView::Chart::Work: return "Compute and communication";
        case ChartsView::Chart::Links: return "Bytes and time per link";
    }
    return {};
}

// A round top and tick count for [0, top]: 0, 500, 1000, … rather than 0, 1027, …
std::pair<double, int> nice_range(double top) {
    if (top <= 0) return {1, 2};
    const double raw = top / 4, magnitude = std::pow(10, std::floor(std::log10(raw)));
    double step = magnitude;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * magnitude >= raw) {
            step = m * magnitude;
            break;
        }
    const int steps = static_cast<int>(std::ceil(top * 1.02 / step));
    return {steps * step, steps + 1};
}

void style_axis(QAbstractAxis* axis, const Style& st, const QString& title) {
    QFont labels = axis->labelsFont(), font = axis->titleFont();
    labels.setPointSizeF(st.labels);
    font.setPointSizeF(st.axis);
    font.setBold(false);
    axis->setLabelsFont(labels);
    axis->setTitleFont(font);
    axis->setTitleText(title);
}

QValueAxis* value_axis(double top, const Style& st, const QString& title, bool nice) {
    auto* a = new QValueAxis;
    if (nice) {
        const auto [max, ticks] = nice_range(top);
        a->setRange(0, max);
        a->setTickCount(ticks);
    } else {
        a->setRange(0, top > 0 ? top : 1);
        a->setTickCount(5);
    }
    a->setLabelFormat("%g");
    style_axis(a, st, title);
    return a;
}

void attach(QChart* chart, QAbstractSeries* series, QAbstractAxis* x, QAbstractAxis* y) {
    chart->addSeries(series);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
}

void bars(QChart* chart, const QStringList& categories, const std::vector<std::pair<QString, std::vector<double>>>& groups,
          const std::vector<QColor>& colors, const QString& unit, const Style& st) {
    auto* series = new QBarSeries;
    double top = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        auto* set = new QBarSet(groups[g].first);
        set->setColor(colors[g]);
        for (double v : groups[g].second) {
            *set << v;
            top = std::max(top, v);
        }
        QFont f = set->labelFont();
        f.setPointSizeF(st.labels);
        set->setLabelFont(f);
        set->setLabelColor(QColor(0x11, 0x18, 0x27));
        series->append(set);
    }
    // Every bar carries its value, so a small one next to large ones still reads.
    series->setLabelsVisible(true);
    series->setLabelsPosition(QAbstractBarSeries::LabelsOutsideEnd);
    series->setLabelsFormat("@value");
    series->setLabelsPrecision(3);
    auto* x = new QBarCategoryAxis;
    x->append(categories);
    style_axis(x, st, {});
    attach(chart, series, x, value_axis(top * 1.12, st, unit, true));  // room for the labels above the bars
}

// Per link, side by side: KiB sent on the left axis, ms in flight on the
// right. Each series holds both slots, one of them empty, so the two bars
// of a link stand beside each other rather than on top.
void two_axis_bars(QChart* chart, const QStringList& links, const std::vector<double>& kib, const std::vector<double>& ms,
                   const Style& st) {
    struct Half {
        QString name;
        const std::vector<double>* values;
        QColor color;
        QString unit;
        Qt::Alignment side;
    };
    const Half halves[] = {{"KiB sent", &kib, QColor(0x47, 0x55, 0x69), "KiB", Qt::AlignLeft},
                           {"ms in flight, send to arrival", &ms, colorOf(SpanKind::Send), "ms", Qt::AlignRight}};
    auto* x = new QBarCategoryAxis;
    x->append(links);
    style_axis(x, st, {});
    chart->addAxis(x, Qt::AlignBottom);
    for (int h = 0; h < 2; ++h) {
        auto* series = new QBarSeries;
        double top = 0;
        for (int slot = 0; slot < 2; ++slot) {
            auto* set = new QBarSet(halves[slot].name);
            set->setColor(halves[slot].color);
            for (double v : *halves[slot].values) *set << (slot == h ? v : 0.0);
            if (slot == h)
                for (double v : *halves[slot].values) top = std::max(top, v);
            QFont f = set->labelFont();
            f.setPointSizeF(st.labels);
            set->setLabelFont(f);
            set->setLabelColor(slot == h ? QColor(0x11, 0x18, 0x27) : QColor(Qt::transparent));
            series->append(set);
        }
        series->setLabelsVisible(true);
        series->setLabelsPosition(QAbstractBarSeries::LabelsOutsideEnd);
        series->setLabelsFormat("@value");
        series->setLabelsPrecision(5);  // 1570 ms, not 1.57e+03
        chart->addSeries(series);
        auto* y = value_axis(top * 1.12, st, halves[h].unit, true);
        chart->addAxis(y, halves[h].side);
        series->attachAxis(x);
        series->attachAxis(y);
        // One legend entry per quantity: the empty slot's is hidden.
        const auto markers = chart->legend()->markers(series);
        for (int slot = 0; slot < markers.size(); ++slot) markers[slot]->setVisible(slot == h);
    }
}

void fill(QChart* chart, ChartsView::Chart c, const RunCharts& d, const Style& st, const QString& subtitle) {
    chart->removeAllSeries();
    for (auto* a : chart->axes()) {
        chart->removeAxis(a);
        delete a;
    }
    QFont tf = chart->titleFont();
    tf.setPointSizeF(st.title);
    tf.setBold(true);
    chart->setTitleFont(tf);
    QFont lf = chart->legend()->font();
    lf.setPointSizeF(st.legend);
    chart->legend()->setFont(lf);
    chart->legend()->setAlignment(Qt::AlignBottom);
    if (d.empty()) {
        // No axes at all: a flat zero line would claim a measurement.
        chart->setTitle(titleOf(c) + (subtitle.isEmpty() ? QString() : " · " + subtitle) + "<br><small>no run yet: press Run</small>");
        return;
    }
    chart->setTitle(titleOf(c) + (subtitle.isEmpty() ? QString() : " · " + subtitle));
    switch (c) {
        case ChartsView::Chart::Throughput: {
            auto* s = new QLineSeries;
            s->setName(QString("tokens/s in %1 ms bins").arg(d.bin_s * 1e3, 0, 'f', 0));
            double top = 0;
            for (auto p : d.rate) {
                s->append(p.x, p.y);
                top = std::max(top, p.y);
            }
            s->setPen(QPen(colorOf(SpanKind::Compute), st.title > 10 ? 3 : 2));
            attach(chart, s, value_axis(d.end_s, st, "seconds", false), value_axis(top, st, "tokens/s", true));
            break;
        }
        case ChartsView::Chart::Latency: {
            auto* s = new QScatterSeries;
            s->setName("ms since the sequence's previous token");
            s->setMarkerSize(st.title > 10 ? 9 : 5);
            s->setColor(colorOf(SpanKind::Compute));
            double top = 0;
            for (auto p : d.latency) {
                s->append(p.x, p.y);
                top = std::max(top, p.y);
            }
            attach(chart, s, value_axis(d.end_s, st, "seconds", false), value_axis(top, st, "ms", true));
            break;
        }
        case ChartsView::Chart::Work:
            bars(chart, d.nodes, {{"compute ms", d.compute_ms}, {"communication ms (send, receive, all-reduce)", d.communication_ms}},
                 {colorOf(SpanKind::Compute), colorOf(SpanKind::Send)}, "ms", st);
            break;
        case ChartsView::Chart::Links: two_axis_bars(chart, d.links, d.link_kib, d.link_in_flight_ms, st); break;
    }
}

}  // namespace

QString ChartsView::fileName(Chart c) {
    switch (c) {
        case Chart::Throughput: return "throughput";
        case Chart::Latency: return "latency";
        case Chart::Work: return "work";
        case Chart::Links: return "links";
    }
    return {};
}

ChartsView::ChartsView(QWidget* parent) : QWidget(parent) {
    setObjectName("chartsView");
    auto* grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    for (Chart c : kCharts) {
        auto* chart = new QChart;
        chart->setMargins(QMargins(2, 2, 2, 2));
        auto* v = new QChartView(chart);
        v->setObjectName(fileName(c) + "Chart");
        v->setRenderHint(QPainter::Antialiasing);
        v->setMinimumSize(220, 150);
        views_[static_cast<int>(c)] = v;
        grid->addWidget(v, static_cast<int>(c) / 2, static_cast<int>(c) % 2);
        fill(chart, c, data_, kDock, {});
    }
}

QChartView* ChartsView::view(Chart c) const { return views_[static_cast<int>(c)]; }

bool ChartsView::onScreen() const { return isVisible() && !view(Chart::Throughput)->viewport()->visibleRegion().isEmpty(); }

void ChartsView::show(const RunCharts& charts) {
    data_ = charts;
    for (Chart c : kCharts) fill(view(c)->chart(), c, data_, kDock, {});
}

namespace {
// Draws chart `c` of `data` at `size` on `p`: a chart in a scene of its
// own, laid out at that size without ever being shown.
void paint_slide(QPainter& p, ChartsView::Chart c, const RunCharts& data, QSize size, const QString& subtitle) {
    QGraphicsScene scene;
    auto* chart = new QChart;  // the scene owns it
    scene.addItem(chart);
    fill(chart, c, data, kSlide, subtitle);
    chart->setGeometry(QRectF(QPointF(0, 0), size));
    scene.setSceneRect(QRectF(QPointF(0, 0), size));
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(QRect(QPoint(0, 0), size), Qt::white);
    scene.render(&p, QRectF(QPointF(0, 0), size), scene.sceneRect());
}
}  // namespace

QImage ChartsView::render(Chart c, QSize size, const QString& subtitle) const {
    QImage image(size, QImage::Format_ARGB32);
    QPainter p(&image);
    paint_slide(p, c, data_, size, subtitle);
    return image;
}

void ChartsView::renderSvg(Chart c, QSize size, const QString& subtitle, const QString& file) const {
    QSvgGenerator svg;
    svg.setFileName(file);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(titleOf(c));
    QPainter p(&svg);
    paint_slide(p, c, data_, size, subtitle);
}

}  // namespace distgpt::ui
