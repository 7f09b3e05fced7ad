#pragma once
#include "models/run_state.h"
#include "models/time_axis.h"

#include <QWidget>

namespace distgpt::ui {

// One lane per node with compute, send and receive tracks; arrows from each
// send to the receive it caused. Wheel zooms at the mouse, dragging or the
// arrow keys pan, Home fits the run; it follows the run live until panned.
class TimelineView : public QWidget {
    Q_OBJECT
public:
    explicit TimelineView(QWidget* parent = nullptr);
    void setState(const RunState* state);
    void refresh(double now_us);  // live: keep `now` in view while following
    void fitAll();
    const TimeAxis& axis() const { return axis_; }
    const TraceSpan* spanAt(QPointF pos) const;

Q_SIGNALS:
    void spanClicked(const QString& details);

protected:
    void paintEvent(QPaintEvent*) override;
    void wheelEvent(QWheelEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;

private:
    static constexpr int kHeader = 26, kGap = 8, kLabel = 150;
    // Tracks shrink so every node's lane fits the widget's height.
    int track() const;
    int laneTop(int node) const { return kHeader + node * (3 * track() + kGap); }
    int trackOf(const std::string& kind) const;
    const RunState* state_ = nullptr;
    TimeAxis axis_;
    bool follow_ = true;
    QPointF drag_;
    bool dragging_ = false;
    double now_us_ = 0;
};

}  // namespace distgpt::ui
