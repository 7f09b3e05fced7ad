#include "widgets/workers_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QVBoxLayout>

namespace distgpt::ui {

WorkersPanel::WorkersPanel(TopologyDocument* document, QWidget* parent) : QWidget(parent), document_(document) {
    setObjectName("workersPanel");
    list_ = new QListView;
    list_->setObjectName("discoveredWorkers");
    list_->setModel(&workers_);
    list_->setDragEnabled(true);
    list_->setDragDropMode(QAbstractItemView::DragOnly);
    list_->setSelectionMode(QAbstractItemView::SingleSelection);
    list_->setWordWrap(true);
    list_->setToolTip("Workers on this computer's networks that answered. Drag one onto the canvas to add it as a node.");
    find_ = new QPushButton("Find workers");
    find_->setObjectName("findWorkers");
    find_->setToolTip("Ask the local network which distgpt workers are there (about a second).");
    add_ = new QPushButton("Add to topology");
    add_->setObjectName("addDiscoveredWorker");
    add_->setEnabled(false);
    status_ = new QLabel("Not searched yet.");
    status_->setObjectName("discoveryStatus");
    status_->setWordWrap(true);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(find_);
    buttons->addWidget(add_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(buttons);
    layout->addWidget(status_);
    layout->addWidget(list_, 1);
    connect(find_, &QPushButton::clicked, this, &WorkersPanel::search);
    connect(add_, &QPushButton::clicked, this, &WorkersPanel::addSelected);
    connect(list_, &QListView::doubleClicked, this, &WorkersPanel::addSelected);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex& i) { add_->setEnabled(i.isValid()); });
    connect(&workers_, &DiscoveredWorkers::searchFinished, this, [this](int found, const QString& error) {
        find_->setEnabled(true);
        add_->setEnabled(false);
        if (!error.isEmpty())
            status_->setText("Search failed: " + error);
        else if (found == 0)
            status_->setText(
                "No worker answered. Workers listening beyond loopback answer unless started with --discovery-port 0; "
                "the search reaches this computer's own networks only.");
        else
            status_->setText(QString("%1 worker(s) answered. Drag one onto the canvas.").arg(found));
    });
}

void WorkersPanel::search() {
    if (workers_.searching()) return;
    find_->setEnabled(false);
    status_->setText("Searching…");
    workers_.search();
}

void WorkersPanel::addSelected() {
    const QModelIndex i = list_->currentIndex();
    if (!i.isValid() || i.row() >= static_cast<int>(workers_.workers().size())) return;
    document_->addNode(DiscoveredWorkers::nodeOf(workers_.workers()[i.row()]));
}

}  // namespace distgpt::ui
