#pragma once
#include "models/run_state.h"
#include "models/topology_document.h"
#include "plan/planner.h"

#include <QGraphicsView>

#include <optional>

namespace distgpt::ui {

class NodeItem;
class LinksItem;
class BoundaryItem;

// The topology editor and live view in one canvas: drag nodes, select one to
// edit it; during a run each node takes the colour of what it is measured
// doing, and messages fly along the edges with their sizes.
class TopologyView : public QGraphicsView {
    Q_OBJECT
public:
    explicit TopologyView(TopologyDocument* document, QWidget* parent = nullptr);
    ~TopologyView() override;

    // What a node shows of the run, at the time shown.
    struct NodeLive {
        enum class State { None, Live, Done };
        State state = State::None;
        std::optional<SpanKind> shown;  // lit in this kind's colour; none: not lit
        double work = 0;                // share of the frame spent working
        double busy_percent = 0, tokens_per_second = 0;
        int64_t rss_bytes = 0;
    };
    struct Flight {
        int from, to;
        double progress;  // 0..1 of its measured send → receive time
        int64_t bytes;
        Transport transport;
        bool relay;
        bool queued = false;  // on an emulated link, still behind the bytes sent before it
    };
    struct Exchange {  // an all-reduce between the ranks of a stage
        QVector<int> nodes;
        int64_t bytes;
    };

    // The planned layers and memory of each node; a node over its memory limit is marked.
    void setPlan(const std::optional<Plan>& plan);
    // The run as it was in the frame (now_us - frame_us, now_us]; `done`: the
    // run is over and shown to its end. nullptr: editing, no run.
    void showLive(const RunState* state, double now_us, double frame_us, bool done);
    void setNodeFailure(int node, const QString& why);
    const NodeLive& nodeLive(int node) const;
    bool nodeOverLimit(int node) const;
    QString nodeMemoryText(int node) const;
    QVector<QRectF> labelRects() const;          // the live view's labels, in scene coordinates, as last painted
    const QVector<Exchange>& exchanges() const;  // the all-reduces shown
    int selectedNode() const;
    void selectNode(int index);
    // The link picked on the canvas (from, to), if one is: clicking a link's
    // arrow picks it, clicking a node or the background drops it.
    std::optional<std::pair<int, int>> selectedLink() const { return selectedLink_; }
    void selectLink(int from, int to);
    // Where, in viewport pixels, the middle of the arrow for link (from, to) is drawn.
    std::optional<QPoint> linkHandle(int from, int to) const;
    // How wide the arrow for link (from, to) is drawn: wider for more bandwidth.
    double linkWidth(int from, int to) const;
    // The labels the canvas gives each emulated link ("40 Mbit/s · 3.1 ms"), with the queue during a run.
    QString linkLabel(int from, int to) const;
    // Where, in viewport pixels, the handle of the boundary after `stage`
    // is, or would be after moving it by `layers_moved` layers.
    std::optional<QPoint> boundaryHandle(int stage, int layers_moved = 0) const;

Q_SIGNALS:
    void nodeSelected(int index);
    void linkSelected(int from, int to);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    // A worker dragged from the discovered workers becomes a node where it is dropped.
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void rebuild();
    void fitScene();
    TopologyDocument* document_;
    QVector<NodeItem*> nodes_;
    LinksItem* links_ = nullptr;
    QVector<BoundaryItem*> boundaries_;
    std::optional<Plan> plan_;
    std::optional<std::pair<int, int>> selectedLink_;
};

}  // namespace distgpt::ui
