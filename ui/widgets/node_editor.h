#pragma once
#include "models/topology_document.h"

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace distgpt::ui {

// Edits the selected node: name, endpoint, threads, memory limit, weights,
// and the network it is on (a preset, its numbers shown and editable).
class NodeEditor : public QWidget {
    Q_OBJECT
public:
    NodeEditor(TopologyDocument* document, QWidget* parent = nullptr);
    void showNode(int index);

private:
    void apply();
    void applyPreset(int index);
    void showNetwork(const NodeNetwork& n);
    TopologyDocument* document_;
    int index_ = -1;
    QLineEdit *name_, *endpoint_;
    QSpinBox *threads_, *memory_;
    QDoubleSpinBox* speed_ = nullptr;
    QComboBox *weights_, *network_;
    QDoubleSpinBox *uplink_, *downlink_, *latency_, *jitter_;
    QLabel* endpointProblem_;  // why the typed endpoint was not taken
};

}  // namespace distgpt::ui
