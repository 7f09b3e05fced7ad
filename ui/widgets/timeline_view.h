#pragma once
#include "models/run_state.h"
#include "models/time_axis.h"

#include <QWidget>

namespace distgpt::ui {

// One lane per node, a track per kind of span the node has (compute,
// all-reduce, sample, send, receive); a line from each send to the receive
// it caused. Shows the run up to the time it is given. Wheel zooms at the
// mouse, dragging or the arrow keys pan, Home fits the run; it follows the
// run live until panned. A clicked span is outlined and described.
class TimelineView : public QWidget {
    Q_OBJECT
public:
    explicit TimelineView(QWidget* parent = nullptr);
    // A new run (or none): zoom, selection and details start afresh.
    void setState(const RunState* state);
    void refresh(double now_us);  // the run as it was at `now_us`; keeps it in view while following
    void fitAll();
    const TimeAxis& axis() const { return axis_; }
    const TraceSpan* spanAt(QPointF pos) const;
    const TraceSpan* selected() const;
    // The whole run drawn for a slide: `size` pixels, a title and a legend.
    QImage render(QSize size, const QString& title) const;
    void renderSvg(QSize size, const QString& title, const QString& file) const;
    // What a user reads about a span: its kind, node, duration, sequences and token.
    static QString describe(const RunState& state, const TraceSpan& s);
    // The parts of a message's time an emulated link made, drawn after its send.
    enum class EmulatedPart { Queued, Wire, Latency };
    static void paintEmulated(QPainter& p, EmulatedPart part, const QRectF& r);

Q_SIGNALS:
    void spanClicked(const QString& details);  // empty: nothing selected

protected:
    void paintEvent(QPaintEvent*) override;
    void wheelEvent(QWheelEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;

private:
    struct Layout;
    Layout layoutFor(QRect area, double scale) const;
    void paintSlide(QPainter& p, QSize size, const QString& title) const;
    void paintRun(QPainter& p, const Layout& l, const TimeAxis& axis, double now_us) const;
    double endUs() const;
    void clamp();
    const RunState* state_ = nullptr;
    TimeAxis axis_;
    bool follow_ = true;
    QPointF drag_;
    bool dragging_ = false;
    double now_us_ = 0;
    long selected_ = -1;  // index into the state's spans
};

}  // namespace distgpt::ui
