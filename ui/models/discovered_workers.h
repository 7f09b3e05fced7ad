#pragma once
#include "net/discovery.h"
#include "plan/topology.h"

#include <QAbstractListModel>
#include <QMimeData>

#include <memory>
#include <vector>

namespace distgpt::ui {

// The workers that answered the last search of the local network, as a
// list the topology editor drags nodes from. A search runs on a thread of
// its own; the list changes when it ends (searching() says while).
class DiscoveredWorkers : public QAbstractListModel {
    Q_OBJECT
public:
    static constexpr const char* kMimeType = "application/x-distgpt-worker";
    enum Role { BusyRole = Qt::UserRole + 1 };

    explicit DiscoveredWorkers(QObject* parent = nullptr);
    ~DiscoveredWorkers() override;

    // Asks the network, answers gathered for `timeout_ms` (ignored while a search runs).
    void search(int timeout_ms = 1000);
    bool searching() const { return searching_; }
    void setPort(int port) { port_ = port; }  // the workers' --discovery-port
    const std::vector<net::WorkerAdvert>& workers() const { return workers_; }

    // The node a discovered worker makes: its name, endpoint, threads and key.
    static NodeSpec nodeOf(const net::WorkerAdvert& worker);
    // The node a drag carries, or nullopt when it carries none.
    static std::optional<NodeSpec> nodeFrom(const QMimeData* mime);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QStringList mimeTypes() const override;
    QMimeData* mimeData(const QModelIndexList& indexes) const override;

Q_SIGNALS:
    void searchFinished(int found, const QString& error);

private:
    std::vector<net::WorkerAdvert> workers_;
    bool searching_ = false;
    int port_ = net::kDiscoveryPort;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // a search ending after this is gone says nothing
};

}  // namespace distgpt::ui
