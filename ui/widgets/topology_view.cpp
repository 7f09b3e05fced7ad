#include "widgets/topology_view.h"

#include "widgets/palette.h"

#include <QGraphicsItem>
#include <QGraphicsSceneMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <set>

namespace distgpt::ui {

namespace {


constexpr double kWidth = 180, kHeight = 104;
QString mib(int64_t bytes) { return QString::number(bytes / double(1 << 20), 'f', bytes < (10 << 20) ? 1 : 0) + " MiB"; }
}  // namespace

class NodeItem : public QGraphicsItem {
public:
    NodeItem(int index, TopologyDocument* doc) : index_(index), doc_(doc) {
        setFlags(ItemIsMovable | ItemIsSelectable | ItemSendsGeometryChanges);
        setAcceptHoverEvents(true);
        setPos(doc->positions().value(index));
    }
    QRectF boundingRect() const override { return QRectF(-kWidth / 2 - 4, -kHeight / 2 - 4, kWidth + 8, kHeight + 8); }

    void setPlanText(QString layers, QString memory, bool over) {
        layers_ = std::move(layers), memory_ = std::move(memory), over_ = over;
        update();
    }
    void setLive(QString state, double busy, int64_t rss, double tokens_per_second) {
        state_ = std::move(state), busy_ = busy, rss_ = rss, rate_ = tokens_per_second;
        update();
    }
    void setFailure(QString why) {
        failure_ = std::move(why);
        setToolTip(failure_);
        update();
    }

    void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
        const auto& spec = doc_->topology().nodes[index_];
        const QRectF r(-kWidth / 2, -kHeight / 2, kWidth, kHeight);
        p->setRenderHint(QPainter::Antialiasing);
        QColor fill = failure_.isEmpty() ? colorOf(state_) : colorOf("dead");
        const bool dark = state_ != "idle" || !failure_.isEmpty();
        p->setPen(QPen(isSelected() ? QColor(0x11, 0x18, 0x27) : QColor(0x9c, 0xa3, 0xaf), isSelected() ? 2.5 : 1.2));
        p->setBrush(fill);
        p->drawRoundedRect(r, 10, 10);
        p->setPen(dark ? Qt::white : QColor(0x11, 0x18, 0x27));
        QFont f = p->font();
        f.setBold(true);
        f.setPointSizeF(10.5);
        p->setFont(f);
        p->drawText(r.adjusted(10, 6, -10, 0), Qt::AlignTop | Qt::AlignLeft, QString::fromStdString(spec.name));
        f.setBold(false);
        f.setPointSizeF(8.5);
        p->setFont(f);
        QStringList lines;
        lines << QString::fromStdString(spec.endpoint == "local" ? "local · " + std::to_string(spec.threads) + " thread(s)"
                                                                 : spec.endpoint + " · " + std::to_string(spec.threads) + " thr");
        lines << (layers_.isEmpty() ? QString("—") : layers_);
        lines << memory_ + (rss_ > 0 ? "  ·  RSS " + mib(rss_) : QString());
        if (!failure_.isEmpty()) lines << failure_.left(32);
        else if (state_ != "idle" || busy_ > 0)
            lines << state_ + "  ·  busy " + QString::number(busy_, 'f', 0) + "%" << QString::number(rate_, 'f', 0) + " tokens/s";
        p->drawText(r.adjusted(10, 26, -10, -4), Qt::AlignTop | Qt::AlignLeft, lines.join("\n"));
        if (over_) {
            p->setPen(QPen(QColor(0xdc, 0x26, 0x26), 2));
            p->setBrush(Qt::NoBrush);
            p->drawRoundedRect(r.adjusted(-3, -3, 3, 3), 12, 12);
        }
    }

protected:
    QVariant itemChange(GraphicsItemChange change, const QVariant& value) override {
        if (change == ItemPositionHasChanged) {
            doc_->moveNode(index_, value.toPointF());
            if (scene()) scene()->update();
        }
        return QGraphicsItem::itemChange(change, value);
    }

private:
    int index_;
    TopologyDocument* doc_;
    QString layers_, memory_, state_ = "idle", failure_;
    bool over_ = false;
    double busy_ = 0, rate_ = 0;
    int64_t rss_ = 0;
};

// Stage boxes, pipeline edges, the token ring back to stage 0, and the
// messages in flight.
class LinksItem : public QGraphicsItem {
public:
    LinksItem(TopologyDocument* doc, const QVector<NodeItem*>* nodes) : doc_(doc), nodes_(nodes) { setZValue(-1); }
    QRectF boundingRect() const override { return QRectF(-5000, -5000, 10000, 10000); }

    struct Flight {
        int from, to;
        double progress;  // 0..1
        int64_t bytes;
        QString transport;  // "shm", "zmq" or "" (a run recorded before transports were)
    };
    void setFlights(QVector<Flight> flights) {
        flights_ = std::move(flights);
        update();
    }

    QPointF center(int i) const { return (*nodes_)[i]->pos(); }

    void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
        const Topology& t = doc_->topology();
        const int k = std::max(1, t.ranks_per_stage()), stages = t.stage_count(), n = static_cast<int>(nodes_->size());
        if (n == 0 || stages == 0 || n % k) return;
        p->setRenderHint(QPainter::Antialiasing);
        for (int s = 0; s < stages; ++s) {
            QRectF box;
            for (int r = 0; r < k; ++r) box = box.united(QRectF(center(s * k + r) - QPointF(kWidth / 2, kHeight / 2), QSizeF(kWidth, kHeight)));
            box.adjust(-12, -26, 12, 12);
            p->setPen(QPen(QColor(0xcb, 0xd5, 0xe1), 1, Qt::DashLine));
            p->setBrush(QColor(0xf8, 0xfa, 0xfc));
            p->drawRoundedRect(box, 14, 14);
            p->setPen(QColor(0x64, 0x74, 0x8b));
            p->drawText(box.adjusted(10, 4, -10, 0), Qt::AlignTop | Qt::AlignLeft,
                        "stage " + QString::number(s) + (k > 1 ? "  ·  tensor parallel " + QString::number(k) : QString()));
        }
        auto arrow = [&](QPointF a, QPointF b, QColor c, bool dashed, double bend) {
            const QPointF d = b - a;
            const double len = std::hypot(d.x(), d.y());
            if (len < 1) return;
            const QPointF u = d / len, nrm(-u.y(), u.x());
            const QPointF from = a + u * (kWidth / 2 - 10), to = b - u * (kWidth / 2 - 4);
            QPainterPath path(from);
            path.quadTo((from + to) / 2 + nrm * bend, to);
            p->setPen(QPen(c, 2, dashed ? Qt::DashLine : Qt::SolidLine));
            p->setBrush(Qt::NoBrush);
            p->drawPath(path);
            const QPointF tip = to, back = path.pointAtPercent(0.97);
            const QPointF v = (tip - back) / std::max(1e-6, std::hypot((tip - back).x(), (tip - back).y()));
            const QPointF w(-v.y(), v.x());
            p->setBrush(c);
            p->drawPolygon(QPolygonF{tip, tip - v * 10 + w * 5, tip - v * 10 - w * 5});
        };
        // Leader to leader; each leader relays to the other ranks of its stage.
        for (int s = 0; s + 1 < stages; ++s) arrow(center(s * k), center((s + 1) * k), QColor(0x94, 0xa3, 0xb8), false, 0);
        for (int s = 0; s < stages; ++s)
            for (int r = 1; r < k; ++r) arrow(center(s * k), center(s * k + r), QColor(0xcb, 0xd5, 0xe1), false, 18);
        const double ring_dip = kHeight / 2 + 40 + (k - 1) * 75;
        if (stages > 1) {
            // The ring dips below the stages; its label sits at the bottom of the dip.
            const double dip = ring_dip;
            arrow(center((stages - 1) * k), center(0), QColor(0xef, 0x44, 0x44, 150), true, -2 * dip);
            const QPointF mid = (center((stages - 1) * k) + center(0)) / 2 + QPointF(0, dip + 12);
            p->setPen(QColor(0xb9, 0x1c, 0x1c));
            p->drawText(QRectF(mid - QPointF(80, 10), QSizeF(160, 20)), Qt::AlignCenter, "token ids back to stage 0");
        }
        // Flights come newest first. At full speed a link carries many at
        // once, so each link's newest is labelled once, clear of the nodes:
        // below a link between stages, beside a relay within a stage.
        std::set<std::pair<int, int>> labelled;
        for (const auto& f : flights_) {
            if (f.from < 0 || f.to < 0 || f.from >= n || f.to >= n) continue;
            const QPointF a = center(f.from), b = center(f.to);
            p->setPen(Qt::NoPen);
            p->setBrush(colorOf("send"));
            p->drawEllipse(a + (b - a) * f.progress, 7, 7);
            if (!labelled.insert({f.from, f.to}).second) continue;
            QString label = f.bytes >= 1024 ? QString::number(f.bytes / 1024.0, 'f', 1) + " KiB" : QString::number(f.bytes) + " B";
            if (f.transport == "shm") label += " · shared memory";
            else if (f.transport == "zmq") label += " · TCP";
            const bool across = std::abs(b.x() - a.x()) >= std::abs(b.y() - a.y());
            const QSizeF size(p->fontMetrics().horizontalAdvance(label) + 12, p->fontMetrics().height() + 4);
            const bool ring = f.to / k < f.from / k;  // tokens going back to stage 0: under the dip's caption
            const QPointF at = ring     ? QPointF((a.x() + b.x()) / 2 - size.width() / 2, std::max(a.y(), b.y()) + ring_dip + 26)
                               : across ? QPointF((a.x() + b.x()) / 2 - size.width() / 2, std::max(a.y(), b.y()) + kHeight / 2 + 8)
                                        : QPointF(std::max(a.x(), b.x()) + kWidth / 2 + 6, (a.y() + b.y()) / 2 - size.height() / 2);
            const QRectF box(at, size);
            p->setPen(QColor(0xf5, 0x9e, 0x0b));
            p->setBrush(QColor(0xff, 0xfb, 0xeb));
            p->drawRoundedRect(box, 6, 6);
            p->setPen(QColor(0x78, 0x35, 0x0f));
            p->drawText(box, Qt::AlignCenter, label);
        }
    }

private:
    TopologyDocument* doc_;
    const QVector<NodeItem*>* nodes_;
    QVector<Flight> flights_;
};

// The boundary between stage s and s+1, dragged sideways to move layers
// from one stage to the other: 36 px per layer.
class BoundaryItem : public QGraphicsItem {
public:
    BoundaryItem(TopologyDocument* doc, const Plan& plan, int stage, QPointF at) : doc_(doc), plan_(plan), stage_(stage), home_(at) {
        setFlags(ItemIsMovable | ItemSendsGeometryChanges);
        setPos(at);
        setCursor(Qt::SizeHorCursor);
        setZValue(2);
        setToolTip("Drag to move layers between stage " + QString::number(stage) + " and stage " + QString::number(stage + 1));
    }
    QRectF boundingRect() const override { return QRectF(-34, -13, 68, 26); }
    void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
        p->setRenderHint(QPainter::Antialiasing);
        p->setPen(QPen(QColor(0x33, 0x41, 0x55), 1.2));
        p->setBrush(QColor(0xff, 0xff, 0xff));
        p->drawRoundedRect(boundingRect().adjusted(1, 1, -1, -1), 12, 12);
        p->drawText(boundingRect(), Qt::AlignCenter, "◀ " + QString::number(boundary() + delta()) + " ▶");
    }

protected:
    QVariant itemChange(GraphicsItemChange change, const QVariant& value) override {
        if (change == ItemPositionChange) return QPointF(value.toPointF().x(), home_.y());  // sideways only
        if (change == ItemPositionHasChanged) update();
        return QGraphicsItem::itemChange(change, value);
    }
    void mouseReleaseEvent(QGraphicsSceneMouseEvent* e) override {
        QGraphicsItem::mouseReleaseEvent(e);
        const int moved = delta();
        if (moved == 0) {
            setPos(home_);
            return;
        }
        std::vector<std::pair<int, int>> ranges;
        for (const auto& st : plan_.stages) ranges.emplace_back(st.layer_begin, st.layer_end);
        ranges[stage_].second += moved;
        ranges[stage_ + 1].first += moved;
        doc_->setLayerRanges(ranges);  // rebuilds the view: this item is gone after this line
    }

private:
    int boundary() const { return plan_.stages[stage_].layer_end; }
    // Layers moved so far, keeping at least one layer on each side.
    int delta() const {
        const int want = static_cast<int>(std::lround((pos().x() - home_.x()) / 36.0));
        const int lo = plan_.stages[stage_].layer_begin + 1 - boundary(), hi = plan_.stages[stage_ + 1].layer_end - 1 - boundary();
        return std::clamp(want, lo, hi);
    }
    TopologyDocument* doc_;
    Plan plan_;
    int stage_;
    QPointF home_;
};

TopologyView::TopologyView(TopologyDocument* document, QWidget* parent) : QGraphicsView(parent), document_(document) {
    setObjectName("topologyView");
    setScene(new QGraphicsScene(this));
    setRenderHint(QPainter::Antialiasing);
    setDragMode(QGraphicsView::RubberBandDrag);
    setBackgroundBrush(Qt::white);
    connect(document_, &TopologyDocument::changed, this, &TopologyView::rebuild);
    connect(scene(), &QGraphicsScene::selectionChanged, this, [this] { Q_EMIT nodeSelected(selectedNode()); });
    rebuild();
}

TopologyView::~TopologyView() {
    nodes_.clear();
    scene()->blockSignals(true);
}

void TopologyView::rebuild() {
    const int selected = selectedNode();
    // Forget the items before the scene deletes them: deleting a selected
    // item announces a selection change.
    nodes_.clear();
    boundaries_.clear();
    scene()->blockSignals(true);
    scene()->clear();
    scene()->blockSignals(false);
    links_ = new LinksItem(document_, &nodes_);
    scene()->addItem(links_);
    for (int i = 0; i < static_cast<int>(document_->topology().nodes.size()); ++i) {
        auto* item = new NodeItem(i, document_);
        scene()->addItem(item);
        nodes_.push_back(item);
    }
    setPlan(plan_, {});
    QRectF bounds;
    for (auto* n : nodes_) bounds = bounds.united(n->sceneBoundingRect());
    scene()->setSceneRect(bounds.adjusted(-70, -60, 70, 170));  // room for stage labels and the ring
    fitInView(scene()->sceneRect(), Qt::KeepAspectRatio);
    if (selected >= 0 && selected < nodes_.size()) nodes_[selected]->setSelected(true);
}

void TopologyView::setPlan(const std::optional<Plan>& plan, const QString& problem) {
    plan_ = plan;
    for (int i = 0; i < nodes_.size(); ++i) {
        if (!plan || i >= static_cast<int>(plan->stage_of_node.size())) {
            nodes_[i]->setPlanText(QString(), problem.isEmpty() ? QString() : "does not fit", !problem.isEmpty());
            continue;
        }
        const auto& stage = plan->stages[plan->stage_of_node[i]];
        QString layers = "layers " + QString::number(stage.layer_begin) + "–" + QString::number(stage.layer_end - 1);
        if (stage.embedding()) layers += " + embed";
        if (stage.head) layers += " + head";
        const auto& m = plan->memory[i];
        const int64_t limit = document_->topology().nodes[i].memory_limit;
        nodes_[i]->setPlanText(layers, mib(m.total()) + (limit ? " / " + mib(limit) : QString()), limit && m.total() > limit);
    }
    for (auto* b : boundaries_) delete b;
    boundaries_.clear();
    if (!plan) return;
    const int k = std::max(1, document_->topology().ranks_per_stage());
    for (int s = 0; s + 1 < static_cast<int>(plan->stages.size()); ++s) {
        if (s * k >= nodes_.size() || (s + 1) * k >= nodes_.size()) break;
        const QPointF a = nodes_[s * k]->pos(), b = nodes_[(s + 1) * k]->pos();
        auto* item = new BoundaryItem(document_, *plan, s, QPointF((a.x() + b.x()) / 2, std::min(a.y(), b.y()) - kHeight / 2 - 44));
        scene()->addItem(item);
        boundaries_.push_back(item);
    }
}

void TopologyView::showLive(const RunState* state, double now_us) {
    QVector<LinksItem::Flight> flights;
    for (int i = 0; i < nodes_.size(); ++i) {
        if (!state || i >= static_cast<int>(state->nodes().size())) {
            nodes_[i]->setLive("idle", 0, 0, 0);
            continue;
        }
        nodes_[i]->setLive(state->stateAt(i, now_us, 100000), state->busyPercent(i), state->nodes()[i].rss_bytes,
                           state->tokensPerSecond(i, now_us));
    }
    if (state) {
        // Each measured send is drawn flying for 400 ms after it happened.
        constexpr double kFlight = 400000;
        const auto& spans = state->spans();
        for (auto it = spans.rbegin(); it != spans.rend() && it->t0_us > now_us - kFlight; ++it)
            if (it->kind == "send" && it->peer >= 0 && it->t0_us <= now_us)
                flights.push_back({it->node, it->peer, (now_us - it->t0_us) / kFlight, it->bytes, QString::fromStdString(it->transport)});
    }
    links_->setFlights(flights);
}

void TopologyView::setNodeFailure(int node, const QString& why) {
    if (node >= 0 && node < nodes_.size()) nodes_[node]->setFailure(why);
}

int TopologyView::selectedNode() const {
    for (int i = 0; i < nodes_.size(); ++i)
        if (nodes_[i]->isSelected()) return i;
    return -1;
}

void TopologyView::selectNode(int index) {
    scene()->clearSelection();
    if (index >= 0 && index < nodes_.size()) nodes_[index]->setSelected(true);
}

std::optional<QPoint> TopologyView::boundaryHandle(int stage, int layers_moved) const {
    if (stage < 0 || stage >= boundaries_.size()) return std::nullopt;
    return mapFromScene(boundaries_[stage]->scenePos() + QPointF(36.0 * layers_moved, 0));
}


void TopologyView::resizeEvent(QResizeEvent* event) {
    QGraphicsView::resizeEvent(event);
    fitInView(scene()->sceneRect(), Qt::KeepAspectRatio);
}

void TopologyView::wheelEvent(QWheelEvent* event) {
    const double factor = event->angleDelta().y() > 0 ? 1.15 : 1 / 1.15;
    scale(factor, factor);
}

}  // namespace distgpt::ui
