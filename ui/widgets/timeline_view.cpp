#include "widgets/timeline_view.h"

#include "widgets/palette.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QSvgGenerator>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <map>

namespace distgpt::ui {

struct TimelineView::Layout {
    QRect plot;  // where time runs, left to right
    int label = 0, track = 0, gap = 0;
    double font_scale = 1;
    struct Lane {
        int top = 0;
        std::vector<SpanKind> tracks;
    };
    std::vector<Lane> lanes;
    int trackTop(int node, SpanKind kind) const {
        if (kind == SpanKind::WindowShift) kind = SpanKind::Compute;  // the layers' track, in a colour of its own
        const auto& lane = lanes[node];
        const auto it = std::find(lane.tracks.begin(), lane.tracks.end(), kind);
        return it == lane.tracks.end() ? -1 : lane.top + static_cast<int>(it - lane.tracks.begin()) * track;
    }
};

TimelineView::TimelineView(QWidget* parent) : QWidget(parent) {
    setObjectName("timelineView");
    setMinimumHeight(120);
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    axis_.us_per_px = 50;
}

void TimelineView::setState(const RunState* state) {
    state_ = state;
    follow_ = true;
    selected_ = -1;
    axis_ = TimeAxis{0, 50};
    Q_EMIT spanClicked({});
    update();
}

double TimelineView::endUs() const { return state_ ? std::max(state_->latestUs(), now_us_) : 0; }

void TimelineView::clamp() { axis_.clampTo(endUs(), width() - layoutFor(rect(), 1).label); }

// Each node gets the tracks of the kinds it has: all-reduce only on
// tensor-parallel ranks, sample only on the last stage.
TimelineView::Layout TimelineView::layoutFor(QRect area, double scale) const {
    Layout l;
    l.font_scale = scale;
    l.label = static_cast<int>(150 * scale);
    l.gap = static_cast<int>(8 * scale);
    const int header = static_cast<int>(24 * scale);
    l.plot = QRect(area.left() + l.label, area.top() + header, area.width() - l.label - 4, area.height() - header);
    if (!state_) return l;
    const std::size_t n = state_->nodes().size();
    std::vector<std::array<bool, std::size(kAllSpanKinds)>> has(n);
    for (const auto& s : state_->spans()) has[s.node][static_cast<std::size_t>(s.kind)] = true;
    int tracks = 0;
    l.lanes.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        for (SpanKind k : {SpanKind::Compute, SpanKind::AllReduce, SpanKind::Sample, SpanKind::Send, SpanKind::Receive})
            if (k == SpanKind::Compute || k == SpanKind::Send || k == SpanKind::Receive || has[i][static_cast<std::size_t>(k)])
                l.lanes[i].tracks.push_back(k);
        tracks += static_cast<int>(l.lanes[i].tracks.size());
    }
    // Tracks shrink so every node's lane fits; on a slide (scale > 1) they
    // also grow to fill it.
    l.track = std::clamp((l.plot.height() - static_cast<int>(n) * l.gap) / std::max(1, tracks), 4,
                         static_cast<int>((scale > 1 ? 40 : 16) * scale));
    int y = l.plot.top();
    for (auto& lane : l.lanes) {
        lane.top = y;
        y += static_cast<int>(lane.tracks.size()) * l.track + l.gap;
    }
    return l;
}

void TimelineView::refresh(double now_us) {
    now_us_ = now_us;
    if (follow_) {
        const double width = std::max(100, this->width() - layoutFor(rect(), 1).label);
        if (axis_.toPx(now_us) > width * 0.95) axis_.start_us = now_us - axis_.us_per_px * width * 0.95;
    }
    update();
}

void TimelineView::fitAll() {
    if (!state_) return;
    axis_.fit(0, std::max(1000.0, endUs()), std::max(100, width() - layoutFor(rect(), 1).label - 10));
    follow_ = false;
    update();
}

const TraceSpan* TimelineView::spanAt(QPointF pos) const {
    if (!state_) return nullptr;
    const Layout l = layoutFor(rect(), 1);
    if (pos.x() < l.plot.left()) return nullptr;
    const double us = axis_.toUs(pos.x() - l.plot.left());
    const double slack = 3 * axis_.us_per_px;
    // The shortest span under the cursor: an all-reduce over its compute.
    const TraceSpan* best = nullptr;
    for (const auto& s : state_->spans()) {
        const int top = s.node < static_cast<int>(l.lanes.size()) ? l.trackTop(s.node, s.kind) : -1;
        if (top < 0 || s.t0_us > now_us_) continue;
        // A send's emulated link is drawn after it, and picks it.
        const double end = s.t1_us + (s.kind == SpanKind::Send && s.emulated ? s.emulated->total_us() : 0.0);
        if (pos.y() >= top && pos.y() < top + l.track && us >= s.t0_us - slack && us <= end + slack)
            if (!best || s.t1_us - s.t0_us < best->t1_us - best->t0_us) best = &s;
    }
    return best;
}

const TraceSpan* TimelineView::selected() const {
    return state_ && selected_ >= 0 && selected_ < static_cast<long>(state_->spans().size()) ? &state_->spans()[selected_] : nullptr;
}

void TimelineView::paintEmulated(QPainter& p, EmulatedPart part, const QRectF& r) {
    const QColor send = colorOf(SpanKind::Send);
    switch (part) {
        case EmulatedPart::Queued: p.fillRect(r, QColor(send.red(), send.green(), send.blue(), 60)); break;
        case EmulatedPart::Wire: p.fillRect(r, QBrush(send.darker(130), Qt::BDiagPattern)); break;
        case EmulatedPart::Latency: {
            p.save();
            p.setPen(QPen(send.darker(130), std::max(1.0, r.height() / 6), Qt::DotLine));
            p.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.right(), r.center().y()));
            p.restore();
            break;
        }
    }
}

QString TimelineView::describe(const RunState& state, const TraceSpan& s) {
    const auto& node = state.nodes()[s.node];
    const double us = s.t1_us - s.t0_us;
    QString details = QString("%1 on %2 (%3) · %4 · at %5 ms")
                          .arg(labelOf(s.kind), QString::fromStdString(node.name), QString::fromStdString(node.shard))
                          .arg(us >= 1000 ? QString::number(us / 1e3, 'f', 2) + " ms" : QString::number(us, 'f', 1) + " µs")
                          .arg(s.t0_us / 1e3, 0, 'f', 2);
    if (!s.sequences.empty()) {
        QStringList seqs;
        for (auto q : s.sequences) seqs << QString::number(q + 1);
        details += (s.sequences.size() > 1 ? " · sequences " : " · sequence ") + seqs.join(", ");
    }
    // Step 0 reads the prompt and makes the first token; step k makes token k + 1.
    if (s.step == 0)
        details += " · token 1 (reading the prompt)";
    else if (s.step > 0)
        details += " · token " + QString::number(s.step + 1);
    if (s.bytes) details += " · " + QString::number(s.bytes) + " bytes";
    if (s.peer >= 0) details += " to " + QString::fromStdString(state.nodes()[s.peer].name);
    if (s.transport != Transport::None)
        details += " through " + QString::fromUtf8(transport_label(s.transport).data(), transport_label(s.transport).size());
    if (s.emulated) {
        auto ms = [](double us) { return QString::number(us / 1e3, 'f', 2) + " ms"; };
        const QString parts = QString("%1 queued behind earlier bytes, %2 on the wire, %3 latency")
                                  .arg(ms(s.emulated->queued_us), ms(s.emulated->wire_us), ms(s.emulated->latency_us));
        details += s.kind == SpanKind::Send ? " · then the emulated link: " + parts + " (delivered at " +
                                                  QString::number((s.t1_us + s.emulated->total_us()) / 1e3, 'f', 2) + " ms)"
                                            : " · its slowest partial sum on the emulated link: " + parts;
    }
    return details;
}

void TimelineView::paintRun(QPainter& p, const Layout& l, const TimeAxis& axis, double now_us) const {
    QFont base = font();
    base.setPointSizeF(base.pointSizeF() * l.font_scale);
    p.setFont(base);
    const int plotWidth = l.plot.width();
    // Time ruler: 1, 2, 5 steps, far enough apart that labels never collide.
    const double span_us = axis.us_per_px * plotWidth;
    const double max_ticks = std::max(2.0, plotWidth / (90.0 * l.font_scale));
    double tick = 1;
    for (int i = 0; span_us / tick > max_ticks; ++i) tick *= (i % 3 == 1) ? 2.5 : 2;
    // Enough decimals that neighbouring ticks never read alike.
    auto label = [&](double t) {
        const double unit = tick >= 1e5 ? 1e6 : tick >= 100 ? 1e3 : 1;
        const char* name = unit == 1e6 ? " s" : unit == 1e3 ? " ms" : " µs";
        const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(tick / unit) - 1e-9)));
        return QString::number(t / unit, 'f', decimals) + name;
    };
    for (double t = std::max(0.0, std::floor(axis.start_us / tick) * tick); axis.toPx(t) < plotWidth; t += tick) {
        const double x = l.plot.left() + axis.toPx(t);
        if (x < l.plot.left()) continue;
        p.setPen(QColor(0xe2, 0xe8, 0xf0));
        p.drawLine(QPointF(x, l.plot.top() - 4), QPointF(x, l.plot.bottom()));
        p.setPen(QColor(0x64, 0x74, 0x8b));
        p.drawText(QPointF(x + 3, l.plot.top() - 8 * l.font_scale), label(t));
    }
    // Lanes, with each track named.
    QFont small = base;
    small.setPointSizeF(std::max(6.5, base.pointSizeF() * 0.8));
    for (std::size_t n = 0; n < l.lanes.size(); ++n) {
        const auto& lane = l.lanes[n];
        const int height = static_cast<int>(lane.tracks.size()) * l.track;
        p.fillRect(QRect(l.plot.left() - l.label, lane.top - 2, l.label + plotWidth, height + 4),
                   n % 2 ? QColor(0xf8, 0xfa, 0xfc) : QColor(0xf1, 0xf5, 0xf9));
        p.setFont(base);
        p.setPen(QColor(0x11, 0x18, 0x27));
        p.drawText(QRect(l.plot.left() - l.label + 6, lane.top, l.label * 55 / 100, height), Qt::AlignVCenter | Qt::AlignLeft,
                   QString::fromStdString(state_->nodes()[n].name));
        if (l.track >= 7) {
            p.setFont(small);
            p.setPen(QColor(0x64, 0x74, 0x8b));
            for (std::size_t k = 0; k < lane.tracks.size(); ++k)
                p.drawText(
                    QRect(l.plot.left() - l.label * 45 / 100, lane.top + static_cast<int>(k) * l.track, l.label * 45 / 100 - 4, l.track),
                    Qt::AlignVCenter | Qt::AlignRight, labelOf(lane.tracks[k]));
        }
    }
    p.setFont(base);
    p.save();
    p.setClipRect(QRect(l.plot.left(), l.plot.top() - 4, plotWidth, l.plot.height() + 4));
    for (const auto& s : state_->spans()) {
        if (s.t0_us > now_us) continue;
        const double x0 = l.plot.left() + axis.toPx(s.t0_us), x1 = l.plot.left() + axis.toPx(std::min(s.t1_us, now_us));
        if (x1 < l.plot.left() || x0 > l.plot.right()) continue;
        const int top = l.trackTop(s.node, s.kind);
        if (top < 0) continue;
        p.fillRect(QRectF(x0, top + 1, std::max(1.5, x1 - x0), l.track - 2), colorOf(s.kind));
    }
    // After each send over an emulated link, on its track: queued behind
    // earlier bytes (pale), on the wire (hatched), in latency (a line),
    // drawn apart from measured spans because the emulator made them.
    for (const auto& s : state_->spans()) {
        if (s.kind != SpanKind::Send || !s.emulated || s.t1_us > now_us) continue;
        const int top = l.trackTop(s.node, s.kind);
        if (top < 0) continue;
        double at = s.t1_us;
        for (EmulatedPart part : {EmulatedPart::Queued, EmulatedPart::Wire, EmulatedPart::Latency}) {
            const double us = part == EmulatedPart::Queued ? s.emulated->queued_us
                              : part == EmulatedPart::Wire ? s.emulated->wire_us
                                                           : s.emulated->latency_us;
            const double x0 = l.plot.left() + axis.toPx(at), x1 = l.plot.left() + axis.toPx(std::min(at + us, now_us));
            at += us;
            if (us <= 0 || x1 < l.plot.left() || x0 > l.plot.right() || x1 <= x0) continue;
            paintEmulated(p, part, QRectF(x0, top + 1, x1 - x0, l.track - 2));
        }
    }
    p.setPen(QPen(QColor(0x47, 0x55, 0x69, 140), l.font_scale));
    for (const auto& m : state_->messages()) {
        if (m.arrived_us > now_us) continue;
        const int from = l.trackTop(m.from, SpanKind::Send), to = l.trackTop(m.to, SpanKind::Receive);
        const QPointF a(l.plot.left() + axis.toPx(m.sent_us), from + l.track / 2.0);
        const QPointF b(l.plot.left() + axis.toPx(m.arrived_us), to + l.track / 2.0);
        if (std::max(a.x(), b.x()) < l.plot.left() || std::min(a.x(), b.x()) > l.plot.right()) continue;
        p.drawLine(a, b);
    }
    p.restore();
}

void TimelineView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    if (!state_ || state_->empty()) {
        p.setPen(QColor(0x64, 0x74, 0x8b));
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
                   "The timeline fills in as a run proceeds: every span measured on every node.");
        return;
    }
    const Layout l = layoutFor(rect(), 1);
    paintRun(p, l, axis_, now_us_);
    // Which run this is: the one going on, or the last one, whole.
    p.setPen(QColor(0x64, 0x74, 0x8b));
    p.drawText(QRect(6, 0, l.label - 10, l.plot.top() - 4), Qt::AlignLeft | Qt::AlignVCenter,
               state_->finished() && now_us_ >= state_->latestUs() ? "last run"
               : state_->finished()                                ? "last run, replaying"
                                                                   : "live");
    if (const TraceSpan* s = selected(); s && l.trackTop(s->node, s->kind) >= 0) {
        const double x0 = l.plot.left() + axis_.toPx(s->t0_us), x1 = l.plot.left() + axis_.toPx(s->t1_us);
        p.setPen(QPen(QColor(0x11, 0x18, 0x27), 2));
        p.setBrush(Qt::NoBrush);
        p.drawRect(QRectF(x0 - 2, l.trackTop(s->node, s->kind) - 1, std::max(4.0, x1 - x0 + 4), l.track + 2));
    }
    if (!state_->finished() || now_us_ < state_->latestUs()) {
        p.setPen(QPen(QColor(0xef, 0x44, 0x44), 1.5));
        const double x = l.plot.left() + axis_.toPx(now_us_);
        p.drawLine(QPointF(x, l.plot.top() - 4), QPointF(x, height()));
    }
}

QImage TimelineView::render(QSize size, const QString& title) const {
    QImage image(size, QImage::Format_ARGB32);
    image.fill(Qt::white);
    QPainter p(&image);
    p.setRenderHint(QPainter::Antialiasing);
    paintSlide(p, size, title);
    return image;
}

void TimelineView::paintSlide(QPainter& p, QSize size, const QString& title) const {
    const double scale = size.height() / 540.0;
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * scale * 1.5);
    f.setBold(true);
    p.setFont(f);
    p.setPen(QColor(0x11, 0x18, 0x27));
    const int titleHeight = QFontMetrics(f).height() + static_cast<int>(10 * scale);
    p.drawText(QRect(0, static_cast<int>(6 * scale), size.width(), titleHeight), Qt::AlignHCenter | Qt::AlignTop, title);
    // The legend along the bottom.
    f.setBold(false);
    f.setPointSizeF(font().pointSizeF() * scale);
    p.setFont(f);
    const int legendHeight = QFontMetrics(f).height() + static_cast<int>(12 * scale);
    int x = static_cast<int>(20 * scale);
    for (SpanKind k :
         {SpanKind::Compute, SpanKind::WindowShift, SpanKind::AllReduce, SpanKind::Sample, SpanKind::Send, SpanKind::Receive}) {
        const int box = QFontMetrics(f).ascent();
        p.fillRect(QRect(x, size.height() - legendHeight + box / 3, box, box), colorOf(k));
        x += box + 6;
        p.setPen(QColor(0x33, 0x41, 0x55));
        p.drawText(QPoint(x, size.height() - legendHeight + box + box / 3 - 2), labelOf(k));
        x += QFontMetrics(f).horizontalAdvance(labelOf(k)) + static_cast<int>(24 * scale);
    }
    p.drawText(QPoint(x, size.height() - legendHeight + QFontMetrics(f).ascent() + QFontMetrics(f).ascent() / 3 - 2),
               "—  a message, send to receive");
    // The emulated link's parts, when the run has any.
    const bool emulated =
        state_ && std::any_of(state_->spans().begin(), state_->spans().end(), [](const TraceSpan& s) { return s.emulated.has_value(); });
    if (emulated) {
        x += QFontMetrics(f).horizontalAdvance("—  a message, send to receive") + static_cast<int>(24 * scale);
        const int box = QFontMetrics(f).ascent();
        const int baseline = size.height() - legendHeight + box + box / 3 - 2;
        for (EmulatedPart part : {EmulatedPart::Queued, EmulatedPart::Wire, EmulatedPart::Latency}) {
            paintEmulated(p, part, QRectF(x, size.height() - legendHeight + box / 3, box * 1.6, box));
            x += static_cast<int>(box * 1.6) + 4;
        }
        p.setPen(QColor(0x33, 0x41, 0x55));
        p.drawText(QPoint(x + 2, baseline), "emulated link: queued, on the wire, latency");
    }
    if (!state_ || state_->empty()) return;
    const Layout l = layoutFor(QRect(0, titleHeight, size.width(), size.height() - titleHeight - legendHeight), scale);
    TimeAxis axis;
    axis.fit(0, std::max(1000.0, state_->latestUs()), l.plot.width());
    paintRun(p, l, axis, state_->latestUs());
}

void TimelineView::renderSvg(QSize size, const QString& title, const QString& file) const {
    QSvgGenerator svg;
    svg.setFileName(file);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(title);
    QPainter p(&svg);
    p.fillRect(QRect(QPoint(0, 0), size), Qt::white);
    paintSlide(p, size, title);
}

void TimelineView::wheelEvent(QWheelEvent* e) {
    axis_.zoomAt(e->position().x() - layoutFor(rect(), 1).label, e->angleDelta().y() > 0 ? 1.25 : 0.8);
    follow_ = false;
    clamp();
    update();
}

void TimelineView::mousePressEvent(QMouseEvent* e) {
    drag_ = e->position();
    dragging_ = false;
}

void TimelineView::mouseMoveEvent(QMouseEvent* e) {
    if (e->buttons() & Qt::LeftButton) {
        const double dx = e->position().x() - drag_.x();
        if (std::abs(dx) > 2 || dragging_) {
            axis_.pan(dx);
            drag_ = e->position();
            dragging_ = true;
            follow_ = false;
            clamp();
            update();
        }
    }
}

void TimelineView::mouseReleaseEvent(QMouseEvent* e) {
    if (dragging_) return;
    const TraceSpan* s = spanAt(e->position());
    selected_ = s ? static_cast<long>(s - state_->spans().data()) : -1;
    Q_EMIT spanClicked(s ? describe(*state_, *s) : QString());
    update();
}

void TimelineView::keyPressEvent(QKeyEvent* e) {
    const int label = layoutFor(rect(), 1).label;
    const double page = (width() - label) * 0.2;
    switch (e->key()) {
        case Qt::Key_Plus:
        case Qt::Key_Equal: axis_.zoomAt((width() - label) / 2.0, 1.25); break;
        case Qt::Key_Minus: axis_.zoomAt((width() - label) / 2.0, 0.8); break;
        case Qt::Key_Left: axis_.pan(page); break;
        case Qt::Key_Right: axis_.pan(-page); break;
        case Qt::Key_Home: fitAll(); return;
        case Qt::Key_End:
            follow_ = true;
            refresh(now_us_);
            return;
        default: QWidget::keyPressEvent(e); return;
    }
    follow_ = false;
    clamp();
    update();
}

}  // namespace distgpt::ui
