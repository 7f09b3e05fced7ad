#pragma once
#include "models/topology_document.h"

#include <QWidget>

class QCheckBox;
class QDoubleSpinBox;
class QLabel;

namespace distgpt::ui {

// Edits the link picked on the canvas: what the two nodes' networks make of
// it, or numbers set by hand for this link alone (one way or both). A link
// set by hand is written to the topology's "links".
class LinkEditor : public QWidget {
    Q_OBJECT
public:
    LinkEditor(TopologyDocument* document, QWidget* parent = nullptr);
    // -1: no link.
    void showLink(int from, int to);

private:
    void apply();
    TopologyDocument* document_;
    int from_ = -1, to_ = -1;
    QLabel *title_, *fromNetworks_, *inEffect_;
    QCheckBox *byHand_, *bothWays_;
    QDoubleSpinBox *bandwidth_, *latency_, *jitter_;
};

}  // namespace distgpt::ui
