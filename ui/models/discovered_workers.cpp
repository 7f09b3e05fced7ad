#include "models/discovered_workers.h"

#include "util/version.h"

#include <QColor>
#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>

#include <thread>

namespace distgpt::ui {

namespace {

QString gib(int64_t bytes) { return QString::number(bytes / double(int64_t(1) << 30), 'f', 1) + " GiB"; }

}  // namespace

DiscoveredWorkers::DiscoveredWorkers(QObject* parent) : QAbstractListModel(parent) {}

DiscoveredWorkers::~DiscoveredWorkers() { *alive_ = false; }

void DiscoveredWorkers::search(int timeout_ms) {
    if (searching_) return;
    searching_ = true;
    // Detached: a search takes about a second and touches nothing of this
    // object; its result comes back through the event loop, if this is still there.
    QPointer<DiscoveredWorkers> self(this);
    std::thread([self, timeout_ms, port = port_] {
        std::vector<net::WorkerAdvert> found;
        QString error;
        try {
            found = net::discover_workers(std::chrono::milliseconds(timeout_ms), port);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, found = std::move(found), error] {
                if (!self) return;
                self->beginResetModel();
                self->workers_ = found;
                self->endResetModel();
                self->searching_ = false;
                Q_EMIT self->searchFinished(static_cast<int>(found.size()), error);
            },
            Qt::QueuedConnection);
    }).detach();
}

NodeSpec DiscoveredWorkers::nodeOf(const net::WorkerAdvert& w) {
    NodeSpec n;
    n.name = w.name;
    n.endpoint = w.endpoint;
    n.threads = std::max(1, w.threads);
    n.server_key = w.public_key;
    return n;
}

std::optional<NodeSpec> DiscoveredWorkers::nodeFrom(const QMimeData* mime) {
    if (!mime || !mime->hasFormat(kMimeType)) return std::nullopt;
    const QJsonObject o = QJsonDocument::fromJson(mime->data(kMimeType)).object();
    NodeSpec n;
    n.name = o.value("name").toString().toStdString();
    n.endpoint = o.value("endpoint").toString().toStdString();
    n.threads = std::max(1, o.value("threads").toInt());
    n.server_key = o.value("server_key").toString().toStdString();
    if (n.name.empty() || endpoint_problem(n.endpoint)) return std::nullopt;
    return n;
}

int DiscoveredWorkers::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(workers_.size()); }

QVariant DiscoveredWorkers::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const auto& w = workers_[index.row()];
    const bool busy = !w.busy_with.empty();
    switch (role) {
        case Qt::DisplayRole:
            return QString("%1  ·  %2\n%3 threads · %4 free%5")
                .arg(QString::fromStdString(w.name), QString::fromStdString(w.endpoint))
                .arg(w.threads)
                .arg(gib(w.memory_free), busy ? " · busy: serving " + QString::fromStdString(w.busy_with) : QString());
        case Qt::ToolTipRole: {
            QStringList models;
            for (const auto& m : w.models) models << QString::fromStdString(m);
            return QString("%1 at %2\n%3 of %4 threads · %5 free of %6%7\nmodels: %8\ndistgpt %9%10\nkey: %11\n%12")
                .arg(QString::fromStdString(w.name), QString::fromStdString(w.endpoint))
                .arg(w.threads)
                .arg(w.cores)
                .arg(gib(w.memory_free), gib(w.memory_total), w.memory_limit > 0 ? " · limit " + gib(w.memory_limit) : QString())
                .arg(models.isEmpty() ? "none on its disk (the app streams its shard)" : models.join(", "))
                .arg(QString::fromStdString(w.version), w.version == kVersion ? QString() : QString(" (this app is %1)").arg(kVersion))
                .arg(w.public_key.empty() ? "none: it does not authenticate" : QString::fromStdString(w.public_key))
                .arg(busy ? "busy: serving " + QString::fromStdString(w.busy_with) : "free: drag it onto the canvas");
        }
        case Qt::ForegroundRole: return busy ? QVariant(QColor(0x88, 0x88, 0x88)) : QVariant();
        case BusyRole: return busy;
        default: return {};
    }
}

Qt::ItemFlags DiscoveredWorkers::flags(const QModelIndex& index) const {
    return index.isValid() ? Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled : Qt::NoItemFlags;
}

QStringList DiscoveredWorkers::mimeTypes() const { return {kMimeType}; }

QMimeData* DiscoveredWorkers::mimeData(const QModelIndexList& indexes) const {
    if (indexes.isEmpty() || indexes.front().row() >= rowCount()) return nullptr;
    const NodeSpec n = nodeOf(workers_[indexes.front().row()]);
    auto* mime = new QMimeData;
    mime->setData(kMimeType, QJsonDocument(QJsonObject{{"name", QString::fromStdString(n.name)},
                                                       {"endpoint", QString::fromStdString(n.endpoint)},
                                                       {"threads", n.threads},
                                                       {"server_key", QString::fromStdString(n.server_key)}})
                                 .toJson(QJsonDocument::Compact));
    mime->setText(QString::fromStdString(n.endpoint));
    return mime;
}

}  // namespace distgpt::ui
