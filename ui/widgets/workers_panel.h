#pragma once
#include "models/discovered_workers.h"
#include "models/topology_document.h"

#include <QWidget>

class QLabel;
class QListView;
class QPushButton;

namespace distgpt::ui {

// The workers found on the local network: search, then drag one onto the
// canvas (or select it and press Add) to make it a node of the topology.
// A worker serving another controller is shown greyed, saying whom.
class WorkersPanel : public QWidget {
    Q_OBJECT
public:
    WorkersPanel(TopologyDocument* document, QWidget* parent = nullptr);
    DiscoveredWorkers* workers() { return &workers_; }
    void search();

private:
    void addSelected();
    TopologyDocument* document_;
    DiscoveredWorkers workers_;
    QListView* list_;
    QPushButton *find_, *add_;
    QLabel* status_;
};

}  // namespace distgpt::ui
