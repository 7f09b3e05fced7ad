#pragma once
#include "plan/topology.h"

#include <QObject>
#include <QPointF>
#include <QString>
#include <QUndoStack>
#include <QVector>

#include <functional>
#include <optional>

namespace distgpt::ui {

// A link's numbers as the canvas and the editors show them: "40 Mbit/s ·
// 3.1 ms ± 2 ms", or "not emulated".
QString linkSummary(const LinkModel& link);

// The topology being edited: core's Topology plus where each node sits on
// the canvas. Saved as the same JSON `distgpt-cli run --topology` reads
// (positions ride along in a field the CLI ignores).
class TopologyDocument : public QObject {
    Q_OBJECT
public:
    explicit TopologyDocument(QObject* parent = nullptr);

    const Topology& topology() const { return topology_; }
    const QVector<QPointF>& positions() const { return positions_; }

    void setTopology(const Topology& topology, QVector<QPointF> positions = {});
    void addNode();
    // A node as given (a worker found on the network), named apart from the
    // others, at `at` on the canvas (or after the last node).
    void addNode(NodeSpec node, std::optional<QPointF> at = std::nullopt);
    void removeNode(int index);
    void moveNode(int index, QPointF to);
    void setNode(int index, const NodeSpec& node);
    // `auto` and the strategy then chosen for it are one undoable step:
    // undone, the topology is as before auto was picked.
    void setStrategy(Strategy strategy, int tensorParallel);
    void setChosenStrategy(Strategy strategy, int tensorParallel);
    // The link from node `from` to node `to` set by hand (`model`), or back to
    // what the two nodes' networks make of it (nullopt); `both_ways`: the link
    // back from `to` to `from` too. One undoable step.
    void setLink(int from, int to, std::optional<LinkModel> model, bool both_ways);
    // The link's hand-set model, if it has one.
    std::optional<LinkModel> linkOverride(int from, int to) const;
    // Manual layer ranges, one [begin, end) per stage; empty = let the planner balance.
    void setLayerRanges(std::vector<std::pair<int, int>> ranges);

    static QStringList presetNames();
    static bool isMixedHardware(const QString& preset);  // a shipped topology of mixed hardware on emulated networks
    void applyPreset(const QString& name);

    QUndoStack* undoStack() { return &undo_; }

    QString toJson() const;
    void fromJson(const QString& json, const QString& origin);  // one undoable step; throws distgpt::Error

Q_SIGNALS:
    void changed();

private:
    friend class SnapshotCommand;
    // Applies `change` as one undoable step; `merge_id` >= 0 merges consecutive steps with that id.
    void edit(const QString& what, const std::function<void()>& change, int merge_id = -1);
    void restore(const QString& json);
    void changeStrategy(Strategy strategy, int tensorParallel, int merge_id);
    void layOut();
    QUndoStack undo_;
    Topology topology_;
    QVector<QPointF> positions_;
};

}  // namespace distgpt::ui
