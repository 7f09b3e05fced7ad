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

    void setPlan(const std::optional<Plan>& plan, const QString& problem);
    void showLive(const RunState* state, double now_us);  // nullptr: editing, no run
    void setNodeFailure(int node, const QString& why);
    int selectedNode() const;
    void selectNode(int index);
    // Where, in viewport pixels, the handle of the boundary after `stage`
    // is, or would be after moving it by `layers_moved` layers.
    std::optional<QPoint> boundaryHandle(int stage, int layers_moved = 0) const;

Q_SIGNALS:
    void nodeSelected(int index);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void rebuild();
    TopologyDocument* document_;
    QVector<NodeItem*> nodes_;
    LinksItem* links_ = nullptr;
    QVector<BoundaryItem*> boundaries_;
    std::optional<Plan> plan_;
};

}  // namespace distgpt::ui
