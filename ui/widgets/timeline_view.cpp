#include "widgets/timeline_view.h"

#include "widgets/palette.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <map>

namespace distgpt::ui {

TimelineView::TimelineView(QWidget* parent) : QWidget(parent) {
    setObjectName("timelineView");
    setMinimumHeight(140);
    setFocusPolicy(Qt::StrongFocus);
    setMouseTracking(true);
    axis_.us_per_px = 50;
}

void TimelineView::setState(const RunState* state) {
    state_ = state;
    follow_ = true;
    axis_.start_us = 0;
    update();
}

int TimelineView::track() const {
    const int nodes = state_ ? std::max<int>(1, static_cast<int>(state_->nodes().size())) : 1;
    return std::clamp((height() - kHeader - nodes * kGap) / (3 * nodes), 5, 16);
}

int TimelineView::trackOf(const std::string& kind) const {
    if (kind == "send") return 1;
    if (kind == "receive") return 2;
    return 0;
}

void TimelineView::refresh(double now_us) {
    now_us_ = now_us;
    if (follow_) {
        const double width = std::max(100, this->width() - kLabel);
        if (axis_.toPx(now_us) > width * 0.95) axis_.start_us = now_us - axis_.us_per_px * width * 0.95;
    }
    update();
}

void TimelineView::fitAll() {
    if (!state_) return;
    axis_.fit(0, std::max(1000.0, state_->latestUs()), std::max(100, width() - kLabel - 10));
    follow_ = false;
    update();
}

const TraceSpan* TimelineView::spanAt(QPointF pos) const {
    if (!state_ || pos.x() < kLabel) return nullptr;
    const double us = axis_.toUs(pos.x() - kLabel);
    const double slack = 3 * axis_.us_per_px;
    for (const auto& s : state_->spans()) {
        const int top = laneTop(s.node) + trackOf(s.kind) * track();
        if (pos.y() >= top && pos.y() < top + track() && us >= s.t0_us - slack && us <= s.t1_us + slack) return &s;
    }
    return nullptr;
}

void TimelineView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), Qt::white);
    if (!state_ || state_->nodes().empty()) {
        p.setPen(QColor(0x64, 0x74, 0x8b));
        p.drawText(rect(), Qt::AlignCenter, "The timeline fills in as a run proceeds: every span measured on every node.");
        return;
    }
    const int plotWidth = width() - kLabel;
    // Time ruler.
    p.setPen(QColor(0x64, 0x74, 0x8b));
    const double span_us = axis_.us_per_px * plotWidth;
    // 1, 2, 5 steps, at least 90 px apart so labels never collide.
    const double max_ticks = std::max(2.0, plotWidth / 90.0);
    double tick = 1;
    for (int i = 0; span_us / tick > max_ticks; ++i) tick *= (i % 3 == 1) ? 2.5 : 2;
    for (double t = std::floor(axis_.start_us / tick) * tick; axis_.toPx(t) < plotWidth; t += tick) {
        const double x = kLabel + axis_.toPx(t);
        if (x < kLabel) continue;
        p.setPen(QColor(0xe2, 0xe8, 0xf0));
        p.drawLine(QPointF(x, kHeader - 4), QPointF(x, height()));
        p.setPen(QColor(0x64, 0x74, 0x8b));
        p.drawText(QPointF(x + 3, 14), t >= 1e6 ? QString::number(t / 1e6, 'f', 2) + " s" : t >= 1e3 ? QString::number(t / 1e3, 'f', 1) + " ms" : QString::number(t, 'f', 0) + " µs");
    }
    // Lanes.
    const char* tracks[] = {"compute", "send", "receive"};
    for (std::size_t n = 0; n < state_->nodes().size(); ++n) {
        const int top = laneTop(static_cast<int>(n));
        p.fillRect(QRect(0, top - 2, width(), 3 * track() + 4), n % 2 ? QColor(0xf8, 0xfa, 0xfc) : QColor(0xf1, 0xf5, 0xf9));
        p.setPen(QColor(0x11, 0x18, 0x27));
        p.drawText(QRect(6, top, kLabel - 60, 3 * track()), Qt::AlignVCenter | Qt::AlignLeft, QString::fromStdString(state_->nodes()[n].name));
        p.setPen(QColor(0x94, 0xa3, 0xb8));
        QFont small = font();
        small.setPointSizeF(7);
        p.setFont(small);
        for (int k = 0; k < 3; ++k) p.drawText(QRect(kLabel - 56, top + k * track(), 52, track()), Qt::AlignVCenter | Qt::AlignRight, tracks[k]);
        p.setFont(font());
    }
    p.setClipRect(QRect(kLabel, kHeader - 4, plotWidth, height()));
    std::map<std::tuple<int, int, int>, const TraceSpan*> receives;
    for (const auto& s : state_->spans()) {
        if (s.kind == "receive") receives[{s.node, s.group, s.step}] = &s;
        const double x0 = kLabel + axis_.toPx(s.t0_us), x1 = kLabel + axis_.toPx(s.t1_us);
        if (x1 < kLabel || x0 > width()) continue;
        const int top = laneTop(s.node) + trackOf(s.kind) * track();
        p.fillRect(QRectF(x0, top + 1, std::max(1.5, x1 - x0), track() - 2), colorOf(QString::fromStdString(s.kind)));
    }
    p.setPen(QPen(QColor(0x47, 0x55, 0x69, 140), 1));
    for (const auto& s : state_->spans()) {
        if (s.kind != "send" || s.peer < 0) continue;
        auto it = receives.find({s.peer, s.group, s.step});
        if (it == receives.end()) continue;
        const QPointF a(kLabel + axis_.toPx(s.t0_us), laneTop(s.node) + track() * 1.5);
        const QPointF b(kLabel + axis_.toPx(it->second->t0_us), laneTop(s.peer) + track() * 2.5);
        if (std::max(a.x(), b.x()) < kLabel || std::min(a.x(), b.x()) > width()) continue;
        p.drawLine(a, b);
    }
    if (!state_->finished()) {
        p.setPen(QPen(QColor(0xef, 0x44, 0x44), 1.5));
        const double x = kLabel + axis_.toPx(now_us_);
        p.drawLine(QPointF(x, kHeader - 4), QPointF(x, height()));
    }
}

void TimelineView::wheelEvent(QWheelEvent* e) {
    axis_.zoomAt(e->position().x() - kLabel, e->angleDelta().y() > 0 ? 1.25 : 0.8);
    follow_ = false;
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
            update();
        }
    }
}

void TimelineView::mouseReleaseEvent(QMouseEvent* e) {
    if (dragging_) return;
    if (const TraceSpan* s = spanAt(e->position())) {
        const auto& node = state_->nodes()[s->node];
        QString details = QString("%1 on %2 (%3): %4 µs, group %5, step %6")
                              .arg(QString::fromStdString(s->kind), QString::fromStdString(node.name), QString::fromStdString(node.shard))
                              .arg(s->t1_us - s->t0_us, 0, 'f', 1)
                              .arg(s->group)
                              .arg(s->step);
        if (s->bytes) details += ", " + QString::number(s->bytes) + " bytes";
        if (s->peer >= 0) details += " to " + QString::fromStdString(state_->nodes()[s->peer].name);
        if (s->transport == "shm") details += ", through shared memory";
        else if (s->transport == "zmq") details += ", through ZeroMQ over TCP";
        Q_EMIT spanClicked(details);
    }
}

void TimelineView::keyPressEvent(QKeyEvent* e) {
    const double page = (width() - kLabel) * 0.2;
    switch (e->key()) {
        case Qt::Key_Plus: case Qt::Key_Equal: axis_.zoomAt((width() - kLabel) / 2.0, 1.25); break;
        case Qt::Key_Minus: axis_.zoomAt((width() - kLabel) / 2.0, 0.8); break;
        case Qt::Key_Left: axis_.pan(page); break;
        case Qt::Key_Right: axis_.pan(-page); break;
        case Qt::Key_Home: fitAll(); return;
        case Qt::Key_End: follow_ = true; refresh(now_us_); return;
        default: QWidget::keyPressEvent(e); return;
    }
    follow_ = false;
    update();
}

}  // namespace distgpt::ui
