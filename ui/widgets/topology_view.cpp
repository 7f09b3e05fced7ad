#include "widgets/topology_view.h"

#include "models/discovered_workers.h"
#include "widgets/palette.h"

#include <QDropEvent>
#include <QMouseEvent>
#include <QPainterPathStroker>
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

constexpr double kWidth = 196, kHeight = 120;
QString mib(int64_t bytes) { return QString::number(bytes / double(1 << 20), 'f', bytes < (10 << 20) ? 1 : 0) + " MiB"; }
QColor blend(QColor a, QColor b, double t) {
    t = std::clamp(t, 0.0, 1.0);
    return QColor::fromRgbF(a.redF() + (b.redF() - a.redF()) * t, a.greenF() + (b.greenF() - a.greenF()) * t,
                            a.blueF() + (b.blueF() - a.blueF()) * t);
}
}  // namespace

class NodeItem : public QGraphicsItem {
public:
    NodeItem(int index, TopologyDocument* doc) : index_(index), doc_(doc) {
        setFlags(ItemIsMovable | ItemIsSelectable | ItemSendsGeometryChanges);
        setAcceptHoverEvents(true);
        setPos(doc->positions().value(index));
        setZValue(1);
    }
    QRectF boundingRect() const override { return QRectF(-kWidth / 2 - 4, -kHeight / 2 - 4, kWidth + 8, kHeight + 8); }

    void setPlanText(QString layers, QString memory, QString memoryTip, bool over) {
        layers_ = std::move(layers);
        memory_ = std::move(memory);
        over_ = over;
        setToolTip(failure_.isEmpty() ? memoryTip : failure_);
        memoryTip_ = std::move(memoryTip);
        update();
    }
    void setLive(const TopologyView::NodeLive& live) {
        live_ = live;
        update();
    }
    const TopologyView::NodeLive& live() const { return live_; }
    void setFailure(QString why) {
        failure_ = std::move(why);
        setToolTip(failure_.isEmpty() ? memoryTip_ : failure_);
        update();
    }
    bool over() const { return over_; }
    QString memoryText() const { return memory_; }

    void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
        const auto& spec = doc_->topology().nodes[index_];
        const QRectF r(-kWidth / 2, -kHeight / 2, kWidth, kHeight);
        p->setRenderHint(QPainter::Antialiasing);
        // Lit in the colour of what it did in the frame shown; tinted by the
        // share of the frame it worked when that was less than half.
        QColor fill = idleColor();
        if (!failure_.isEmpty())
            fill = deadColor();
        else if (live_.shown)
            fill = colorOf(*live_.shown);
        else if (live_.work > 0)
            fill = blend(idleColor(), colorOf(SpanKind::Compute), live_.work);
        const bool dark = !failure_.isEmpty() || live_.shown.has_value();
        p->setPen(QPen(isSelected() ? QColor(0x11, 0x18, 0x27) : QColor(0x9c, 0xa3, 0xaf), isSelected() ? 2.5 : 1.2));
        p->setBrush(fill);
        p->drawRoundedRect(r, 10, 10);
        const QColor ink = dark ? Qt::white : QColor(0x11, 0x18, 0x27);
        p->setPen(ink);
        QFont f = p->font();
        f.setBold(true);
        f.setPointSizeF(10.5);
        p->setFont(f);
        const QRectF text = r.adjusted(10, 6, -10, -4);
        p->drawText(text, Qt::AlignTop | Qt::AlignLeft, QString::fromStdString(spec.name));
        f.setBold(false);
        f.setPointSizeF(8.5);
        p->setFont(f);
        const QFontMetricsF fm(f);
        QStringList lines;
        lines << QString::fromStdString(spec.endpoint == "local" ? "local" : spec.endpoint) + " · " + QString::number(spec.threads) +
                     (spec.threads == 1 ? " thread" : " threads");
        lines << (layers_.isEmpty() ? QString("—") : layers_);
        lines << memory_;
        if (!failure_.isEmpty()) {
            lines << failure_;
        } else if (live_.state != TopologyView::NodeLive::State::None) {
            const char* word = live_.state == TopologyView::NodeLive::State::Done ? "done" : live_.shown ? "" : "idle";
            QString what = *word ? QString(word) : labelOf(*live_.shown);
            lines << what + " · busy " + QString::number(live_.busy_percent, 'f', 0) + "%";
            lines << QString::number(live_.tokens_per_second, 'f', 0) + " tokens/s" +
                         (live_.rss_bytes > 0 ? " · RSS " + mib(live_.rss_bytes) : QString());
        }
        double y = text.top() + QFontMetricsF(p->font()).height() + 6;
        for (int i = 0; i < lines.size(); ++i) {
            const bool memoryLine = i == 2;
            p->setPen(memoryLine && over_ ? (dark ? QColor(0xfe, 0xca, 0xca) : QColor(0xb9, 0x1c, 0x1c)) : ink);
            // Long text wraps inside the node rather than being cut.
            const QRectF room(text.left(), y, text.width(), text.bottom() - y);
            const QRectF used = p->boundingRect(room, Qt::AlignTop | Qt::AlignLeft | Qt::TextWordWrap, lines[i]);
            p->drawText(room, Qt::AlignTop | Qt::AlignLeft | Qt::TextWordWrap, lines[i]);
            y += std::max(fm.height(), used.height());
            if (y > text.bottom()) break;
        }
        if (over_) {
            p->setPen(QPen(QColor(0xdc, 0x26, 0x26), 2.5));
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
    QString layers_, memory_, memoryTip_, failure_;
    bool over_ = false;
    TopologyView::NodeLive live_;
};

// Stage boxes, pipeline edges, the token ring back to stage 0, and what is
// in flight: messages along their links, all-reduces between ranks.
class LinksItem : public QGraphicsItem {
public:
    LinksItem(TopologyDocument* doc, const QVector<NodeItem*>* nodes) : doc_(doc), nodes_(nodes) { setZValue(0); }
    QRectF boundingRect() const override { return QRectF(-5000, -5000, 10000, 10000); }

    void setLive(QVector<TopologyView::Flight> flights, QVector<TopologyView::Exchange> exchanges) {
        flights_ = std::move(flights);
        exchanges_ = std::move(exchanges);
        update();
    }
    void setSelectedLink(std::optional<std::pair<int, int>> link) {
        selected_ = link;
        update();
    }

    // A link as the canvas draws it: stage to stage, a leader's relay to
    // another rank, or the token ring.
    struct DrawnLink {
        int from = 0, to = 0;
        QPainterPath path;
        enum class Kind { Stage, Relay, Ring } kind = Kind::Stage;
    };
    std::vector<DrawnLink> drawnLinks() const {
        std::vector<DrawnLink> out;
        const int k = ranks(), n = nodeCount();
        for (int s = 0; s + 1 < stages(); ++s)
            if ((s + 1) * k < n) out.push_back({s * k, (s + 1) * k, straight(s * k, (s + 1) * k), DrawnLink::Kind::Stage});
        for (int s = 0; s < stages(); ++s)
            for (int r = 1; r < k && s * k + r < n; ++r)
                out.push_back({s * k, s * k + r, straight(s * k, s * k + r), DrawnLink::Kind::Relay});
        if (stages() >= 2) out.push_back({(stages() - 1) * k, 0, ringPath((stages() - 1) * k, 0), DrawnLink::Kind::Ring});
        return out;
    }
    std::optional<std::pair<int, int>> linkAt(QPointF at) const {
        QPainterPathStroker stroker;
        stroker.setWidth(14);  // easy to hit, thin or thick
        for (const auto& l : drawnLinks())
            if (stroker.createStroke(l.path).contains(at)) return std::pair{l.from, l.to};
        return std::nullopt;
    }
    std::optional<QPointF> linkMiddle(int from, int to) const {
        for (const auto& l : drawnLinks())
            if (l.from == from && l.to == to) return l.path.pointAtPercent(0.5);
        return std::nullopt;
    }
    // Emulated links are drawn as wide as their bandwidth: 1 Mbit/s thin,
    // 25 Gbit/s thick (a log scale); a link not emulated keeps its plain width.
    double width(int from, int to) const {
        const LinkModel m = doc_->topology().link(from, to);
        if (m.bandwidth_mbps <= 0) return plainWidth(from, to);
        return std::clamp(1.5 + 1.3 * std::log10(std::max(1.0, m.bandwidth_mbps)), 1.5, 8.0);
    }
    QString label(int from, int to) const {
        const LinkModel m = doc_->topology().link(from, to);
        if (!m.emulated()) return {};
        QString text = linkSummary(m);
        int queued = 0;
        int64_t bytes = 0;
        for (const auto& f : flights_)
            if (f.from == from && f.to == to && f.queued) {
                ++queued;
                bytes += f.bytes;
            }
        if (queued) text += " · queue " + QString::number(queued) + " (" + bytesText(bytes) + ")";
        return text;
    }
    const QVector<QRectF>& labels() const { return placed_labels_; }
    const QVector<TopologyView::Exchange>& exchanges() const { return exchanges_; }

    QPointF center(int i) const { return (*nodes_)[i]->pos(); }
    QRectF nodeRect(int i) const { return QRectF(center(i) - QPointF(kWidth / 2, kHeight / 2), QSizeF(kWidth, kHeight)); }
    // The ring runs below every node: out of the last stage's leader to the
    // right, under the whole topology, and into stage 0's leader from the left.
    QPainterPath ringPath(int last, int first) const {
        double bottom = 0;
        for (int i = 0; i < nodes_->size(); ++i) bottom = std::max(bottom, nodeRect(i).bottom());
        bottom += 34;
        const QPointF a = center(last) + QPointF(kWidth / 2, 0), b = center(first) - QPointF(kWidth / 2, 0);
        QPainterPath path(a);
        path.lineTo(a + QPointF(18, 0));
        path.lineTo(QPointF(a.x() + 18, bottom));
        path.lineTo(QPointF(b.x() - 18, bottom));
        path.lineTo(QPointF(b.x() - 18, b.y()));
        path.lineTo(b);
        return path;
    }
    double ringBottom() const {
        const int k = std::max(1, doc_->topology().ranks_per_stage()), stages = doc_->topology().stage_count();
        return stages > 1 ? ringPath((stages - 1) * k, 0).boundingRect().bottom() : 0;
    }

    void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
        placed_labels_.clear();
        if (nodes_->empty() || doc_->topology().stage_count() == 0) return;
        p->setRenderHint(QPainter::Antialiasing);
        paintStages(p);
        paintLinks(p);
        paintExchanges(p);
        paintFlights(p);
    }

private:
    int ranks() const { return std::max(1, doc_->topology().ranks_per_stage()); }
    int stages() const { return doc_->topology().stage_count(); }
    int nodeCount() const { return static_cast<int>(nodes_->size()); }

    // A box around each stage's ranks, captioned.
    void paintStages(QPainter* p) {
        const int k = ranks(), n = nodeCount();
        for (int s = 0; s < stages(); ++s) {
            QRectF box;
            for (int r = 0; r < k && s * k + r < n; ++r) box = box.united(nodeRect(s * k + r));
            box.adjust(-12, -26, 12, 12);
            p->setPen(QPen(QColor(0xcb, 0xd5, 0xe1), 1, Qt::DashLine));
            p->setBrush(QColor(0xf8, 0xfa, 0xfc));
            p->drawRoundedRect(box, 14, 14);
            p->setPen(QColor(0x64, 0x74, 0x8b));
            const QString caption = "stage " + QString::number(s) + (k > 1 ? "  ·  tensor parallel " + QString::number(k) : QString());
            p->drawText(box.adjusted(10, 4, -10, 0), Qt::AlignTop | Qt::AlignLeft, caption);
            // Labels placed later keep clear of the caption.
            placed_labels_.push_back(
                QRectF(box.left() + 10, box.top() + 4, p->fontMetrics().horizontalAdvance(caption), p->fontMetrics().height()));
        }
    }

    static void arrowHead(QPainter* p, QPointF tip, QPointF back, QColor c) {
        const QPointF d = tip - back;
        const QPointF v = d / std::max(1e-6, std::hypot(d.x(), d.y())), w(-v.y(), v.x());
        p->setPen(Qt::NoPen);
        p->setBrush(c);
        p->drawPolygon(QPolygonF{tip, tip - v * 10 + w * 5, tip - v * 10 - w * 5});
    }

    // From edge to edge of the two nodes' boxes.
    QPainterPath straight(int from, int to) const {
        const QPointF a = center(from), b = center(to);
        const QPointF d = b - a;
        QPainterPath path(a);
        if (std::hypot(d.x(), d.y()) < 1) return path;
        const QPointF u = d / std::hypot(d.x(), d.y());
        const double ta = std::min(std::abs(u.x()) > 1e-6 ? kWidth / 2 / std::abs(u.x()) : 1e9,
                                   std::abs(u.y()) > 1e-6 ? kHeight / 2 / std::abs(u.y()) : 1e9);
        path = QPainterPath(a + u * (ta + 2));
        path.lineTo(b - u * (ta + 4));
        return path;
    }
    double plainWidth(int from, int to) const {
        const int k = ranks();
        return from / k == to / k ? 1.5 : 2;  // a relay inside a stage thinner
    }

    // Leader to leader; each leader relays to the other ranks of its stage;
    // the token ring from the last stage back to the first. An emulated link
    // is drawn darker and as wide as its bandwidth, with its numbers; the
    // link picked for editing in blue.
    void paintLinks(QPainter* p) {
        for (const auto& l : drawnLinks()) {
            const bool emulated = doc_->topology().link(l.from, l.to).emulated();
            const bool picked = selected_ && *selected_ == std::pair{l.from, l.to};
            QColor c = l.kind == DrawnLink::Kind::Ring    ? QColor(0xef, 0x44, 0x44, 160)
                       : l.kind == DrawnLink::Kind::Relay ? QColor(0xcb, 0xd5, 0xe1)
                                                          : QColor(0x94, 0xa3, 0xb8);
            if (emulated) c = l.kind == DrawnLink::Kind::Ring ? QColor(0xb9, 0x1c, 0x1c, 200) : QColor(0x47, 0x55, 0x69);
            if (picked) c = QColor(0x25, 0x63, 0xeb);
            p->setPen(QPen(c, width(l.from, l.to), l.kind == DrawnLink::Kind::Ring ? Qt::DashLine : Qt::SolidLine, Qt::FlatCap));
            p->setBrush(Qt::NoBrush);
            p->drawPath(l.path);
            const QPointF tip = l.path.pointAtPercent(1);
            const QPointF back = l.kind == DrawnLink::Kind::Ring ? tip - QPointF(12, 0) : l.path.pointAtPercent(0.9);
            const QPointF dir = tip - back;
            arrowHead(p, tip, tip - dir / std::max(1e-6, std::hypot(dir.x(), dir.y())) * 12, c);
        }
        if (stages() >= 2) {
            const QPainterPath ring = ringPath((stages() - 1) * ranks(), 0);
            const QRectF caption(QPointF(ring.boundingRect().center().x() - 100, ring.boundingRect().bottom() + 2), QSizeF(200, 18));
            p->setPen(QColor(0xb9, 0x1c, 0x1c));
            p->drawText(caption, Qt::AlignCenter, "token ids back to stage 0");
            placed_labels_.push_back(caption);
        }
        // The numbers of each emulated link: a stage link's under its two
        // nodes (above them sit the captions and the layer handle), a
        // relay's beside it, the ring's above its bottom edge.
        for (const auto& l : drawnLinks()) {
            const QString text = label(l.from, l.to);
            if (text.isEmpty()) continue;
            const QPointF mid = l.path.pointAtPercent(0.5);
            const double under = std::max(nodeRect(l.from).bottom(), nodeRect(l.to).bottom()) + 14;
            const QPointF at = l.kind == DrawnLink::Kind::Ring    ? mid - QPointF(0, 14)
                               : l.kind == DrawnLink::Kind::Relay ? mid
                                                                  : QPointF(mid.x(), under);
            placeLabel(p, at, text, QColor(0x47, 0x55, 0x69), QColor(0xf1, 0xf5, 0xf9), QColor(0x1e, 0x29, 0x3b));
        }
    }

    // All-reduces: the ranks of a stage exchanging partial sums. A
    // double-headed arrow between each pair of neighbouring ranks, beside the
    // relay arrow, inside the stage; the label in the gap.
    void paintExchanges(QPainter* p) {
        for (const auto& x : exchanges_) {
            if (x.nodes.size() < 2) continue;
            const QColor c = colorOf(SpanKind::AllReduce);
            for (int i = 0; i + 1 < x.nodes.size(); ++i) {
                const QRectF a = nodeRect(x.nodes[i]), b = nodeRect(x.nodes[i + 1]);
                const double at = a.center().x() + kWidth / 4;
                const QPointF top(at, a.bottom() + 3), bottom(at, b.top() - 3);
                p->setPen(QPen(c, 4, Qt::SolidLine, Qt::FlatCap));
                p->drawLine(top + QPointF(0, 8), bottom - QPointF(0, 8));
                arrowHead(p, top, top + QPointF(0, 10), c);
                arrowHead(p, bottom, bottom - QPointF(0, 10), c);
            }
            const QRectF a = nodeRect(x.nodes[0]), b = nodeRect(x.nodes[1]);
            const QString text = "all-reduce " + bytesText(x.bytes);
            const double width = p->fontMetrics().horizontalAdvance(text) + 12;
            placeLabel(p, QPointF(a.center().x() + kWidth / 4 + 12 + width / 2, (a.bottom() + b.top()) / 2), text, c,
                       QColor(0xf5, 0xf3, 0xff), QColor(0x4c, 0x1d, 0x95));
        }
    }

    // Messages: a dot where each one is along its link; each link's newest
    // message labelled once, clear of the nodes and other labels.
    void paintFlights(QPainter* p) {
        const int k = ranks(), n = nodeCount();
        std::set<std::pair<int, int>> labelled;
        for (const auto& f : flights_) {
            if (f.from < 0 || f.to < 0 || f.from >= n || f.to >= n) continue;
            const bool ring = stages() > 1 && f.from / k == stages() - 1 && f.to / k == 0 && !f.relay;
            const QPointF a = center(f.from), b = center(f.to);
            const QPointF dot = ring ? ringPath((stages() - 1) * k, 0).pointAtPercent(f.progress) : a + (b - a) * f.progress;
            p->setPen(QPen(Qt::white, 1.5));
            p->setBrush(colorOf(SpanKind::Send));
            p->drawEllipse(dot, 7, 7);
            if (!labelled.insert({f.from, f.to}).second) continue;
            // A relay's label stays short: it shares the gap between ranks
            // with the all-reduce's.
            QString label = (f.relay ? "relay " : "") + bytesText(f.bytes);
            if (f.transport == Transport::SharedMemory && !f.relay)
                label += " · shared memory";
            else if (f.transport == Transport::ZeroMQ && !f.relay)
                label += " · TCP";
            // A relay's label sits in the gap between its ranks; one between
            // stages under all the nodes, above the ring; the ring's under its caption.
            double under = 0;
            for (int i = 0; i < n; ++i) under = std::max(under, nodeRect(i).bottom());
            const QPointF at = ring      ? QPointF((a.x() + b.x()) / 2, ringBottom() + 30)
                               : f.relay ? (a + b) / 2
                                         : QPointF((a.x() + b.x()) / 2, under + 16);
            placeLabel(p, at, label, QColor(0xf5, 0x9e, 0x0b), QColor(0xff, 0xfb, 0xeb), QColor(0x78, 0x35, 0x0f));
        }
    }

    static QString bytesText(int64_t bytes) {
        return bytes >= 1024 ? QString::number(bytes / 1024.0, 'f', 1) + " KiB" : QString::number(bytes) + " B";
    }
    // Puts a label near `at` where it covers no node and no other label.
    void placeLabel(QPainter* p, QPointF at, const QString& text, QColor border, QColor fill, QColor ink) {
        const QSizeF size(p->fontMetrics().horizontalAdvance(text) + 12, p->fontMetrics().height() + 4);
        auto clear = [&](const QRectF& r) {
            for (int i = 0; i < nodes_->size(); ++i)
                if (r.intersects(nodeRect(i).adjusted(-2, -2, 2, 2))) return false;
            for (const auto& l : placed_labels_)
                if (r.intersects(l)) return false;
            return true;
        };
        QRectF box(at - QPointF(size.width() / 2, size.height() / 2), size);
        for (int step = 0; step < 40 && !clear(box); ++step) {
            // Below, above, then further out: the first free place wins.
            const double dy = (step / 2 + 1) * (size.height() + 2) * (step % 2 ? -1 : 1);
            box.moveCenter(at + QPointF(0, dy));
        }
        placed_labels_.push_back(box);
        p->setPen(border);
        p->setBrush(fill);
        p->drawRoundedRect(box, 6, 6);
        p->setPen(ink);
        p->drawText(box, Qt::AlignCenter, text);
    }

    TopologyDocument* doc_;
    const QVector<NodeItem*>* nodes_;
    QVector<TopologyView::Flight> flights_;
    QVector<TopologyView::Exchange> exchanges_;
    QVector<QRectF> placed_labels_;
    std::optional<std::pair<int, int>> selected_;
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
    setAcceptDrops(true);
    viewport()->setAcceptDrops(true);
    connect(document_, &TopologyDocument::changed, this, &TopologyView::rebuild);
    connect(scene(), &QGraphicsScene::selectionChanged, this, [this] {
        if (selectedNode() >= 0 && selectedLink_) {  // a node picked drops the link
            selectedLink_.reset();
            links_->setSelectedLink(std::nullopt);
        }
        Q_EMIT nodeSelected(selectedNode());
    });
    rebuild();
}

void TopologyView::dragEnterEvent(QDragEnterEvent* event) {
    if (DiscoveredWorkers::nodeFrom(event->mimeData()))
        event->acceptProposedAction();
    else
        event->ignore();
}

void TopologyView::dragMoveEvent(QDragMoveEvent* event) {
    if (DiscoveredWorkers::nodeFrom(event->mimeData()))
        event->acceptProposedAction();
    else
        event->ignore();
}

void TopologyView::dropEvent(QDropEvent* event) {
    const auto node = DiscoveredWorkers::nodeFrom(event->mimeData());
    if (!node) return event->ignore();
    document_->addNode(*node, mapToScene(event->position().toPoint()));
    event->acceptProposedAction();
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
    const int count = static_cast<int>(document_->topology().nodes.size());
    if (selectedLink_ && (selectedLink_->first >= count || selectedLink_->second >= count)) selectedLink_.reset();
    links_->setSelectedLink(selectedLink_);
    for (int i = 0; i < static_cast<int>(document_->topology().nodes.size()); ++i) {
        auto* item = new NodeItem(i, document_);
        scene()->addItem(item);
        nodes_.push_back(item);
    }
    setPlan(plan_);
    fitScene();
    if (selected >= 0 && selected < nodes_.size()) nodes_[selected]->setSelected(true);
}

void TopologyView::fitScene() {
    QRectF bounds;
    for (auto* n : nodes_) bounds = bounds.united(n->sceneBoundingRect());
    // Room for the stage captions and boundary handles above, the ring, its
    // caption and its labels below, all-reduce labels to the right.
    bounds.adjust(-50, -80, 120, 20);
    if (document_->topology().stage_count() > 1) bounds.setBottom(std::max(bounds.bottom(), links_->ringBottom() + 60));
    scene()->setSceneRect(bounds);
    fitInView(scene()->sceneRect(), Qt::KeepAspectRatio);
}

void TopologyView::setPlan(const std::optional<Plan>& plan) {
    plan_ = plan;
    const Topology& t = document_->topology();
    for (int i = 0; i < nodes_.size(); ++i) {
        if (!plan || i >= static_cast<int>(plan->stage_of_node.size())) {
            nodes_[i]->setPlanText(QString(), QString(), QString(), false);
            continue;
        }
        const auto& stage = plan->stages[plan->stage_of_node[i]];
        QString layers = stage.layer_end - stage.layer_begin == 1
                             ? "layer " + QString::number(stage.layer_begin)
                             : "layers " + QString::number(stage.layer_begin) + "–" + QString::number(stage.layer_end - 1);
        if (stage.embedding()) layers += " + embed";
        if (stage.head) layers += " + head";
        const auto& m = plan->memory[i];
        const int64_t limit = t.nodes[i].memory_limit;
        const QString memory = limit ? QString::number(m.total() / double(1 << 20), 'f', 0) + " / " + mib(limit)
                                     : mib(m.weights + m.kv_cache) + " + " + mib(m.runtime) + " runtime";
        const QString tip =
            QString(
                "Planned memory: %1\nweights %2 · KV cache %3 · runtime %4 (libtorch, sockets and buffers: what an idle worker holds)%5")
                .arg(mib(m.total()), mib(m.weights), mib(m.kv_cache), mib(m.runtime))
                .arg(limit ? "\nlimit " + mib(limit) : QString()) +
            "\n\nDuring a run: lit while it computes (purple: an all-reduce with its other ranks, red: sampling);"
            "\nbusy: the share of the run's time it computed; tokens/s: the sequence-steps it finished in the last second.";
        nodes_[i]->setPlanText(layers, memory, tip, !m.fits(limit));
    }
    for (auto* b : boundaries_) delete b;
    boundaries_.clear();
    if (!plan) return;
    const int k = std::max(1, t.ranks_per_stage());
    for (int s = 0; s + 1 < static_cast<int>(plan->stages.size()); ++s) {
        if (s * k >= nodes_.size() || (s + 1) * k >= nodes_.size()) break;
        const QPointF a = nodes_[s * k]->pos(), b = nodes_[(s + 1) * k]->pos();
        auto* item = new BoundaryItem(document_, *plan, s, QPointF((a.x() + b.x()) / 2, std::min(a.y(), b.y()) - kHeight / 2 - 48));
        scene()->addItem(item);
        boundaries_.push_back(item);
    }
}

void TopologyView::showLive(const RunState* state, double now_us, double frame_us, bool done) {
    const bool same = state && !state->empty() && state->nodes().size() == static_cast<std::size_t>(nodes_.size());
    const double t0 = now_us - frame_us;
    QVector<Exchange> exchanges;
    for (int i = 0; i < nodes_.size(); ++i) {
        NodeLive live;
        if (same) {
            live.state = done ? NodeLive::State::Done : NodeLive::State::Live;
            live.busy_percent = state->busyPercent(i, now_us);
            live.tokens_per_second = state->tokensPerSecond(i, now_us);
            live.rss_bytes = state->nodes()[i].rss_bytes;
            if (!done) {
                const Activity a = state->activity(i, t0, now_us);
                live.shown = a.shown();
                live.work = a.work();
                if (a.of(SpanKind::AllReduce) > 0) {
                    // One exchange per stage, between all of its ranks.
                    const int stage = state->nodes()[i].stage;
                    auto it = std::find_if(exchanges.begin(), exchanges.end(),
                                           [&](const Exchange& x) { return state->nodes()[x.nodes.front()].stage == stage; });
                    if (it == exchanges.end()) {
                        Exchange x{{}, 0};
                        for (int j = 0; j < nodes_.size(); ++j)
                            if (state->nodes()[j].stage == stage) x.nodes.push_back(j);
                        if (const TraceSpan* s = state->latest(i, SpanKind::AllReduce, now_us)) x.bytes = s->bytes;
                        exchanges.push_back(x);
                    }
                }
            }
        }
        nodes_[i]->setLive(live);
    }
    QVector<Flight> flights;
    if (same && !done) {
        auto messages = state->messagesIn(t0, now_us);
        std::sort(messages.begin(), messages.end(),
                  [](const Message& a, const Message& b) { return a.sent_us > b.sent_us; });  // newest first
        for (const auto& m : messages) {
            const double progress = m.arrived_us > m.sent_us ? (now_us - m.sent_us) / (m.arrived_us - m.sent_us) : 1.0;
            const bool queued = m.emulated && now_us >= m.handed_us && now_us < m.handed_us + m.emulated->queued_us;
            flights.push_back({m.from, m.to, std::clamp(progress, 0.0, 1.0), m.bytes, m.transport, m.relay, queued});
        }
    }
    links_->setLive(flights, exchanges);
}

void TopologyView::setNodeFailure(int node, const QString& why) {
    if (node >= 0 && node < nodes_.size()) nodes_[node]->setFailure(why);
}

const TopologyView::NodeLive& TopologyView::nodeLive(int node) const {
    static const NodeLive none;
    return node >= 0 && node < nodes_.size() ? nodes_[node]->live() : none;
}

bool TopologyView::nodeOverLimit(int node) const { return node >= 0 && node < nodes_.size() && nodes_[node]->over(); }
QString TopologyView::nodeMemoryText(int node) const { return node >= 0 && node < nodes_.size() ? nodes_[node]->memoryText() : QString(); }
QVector<QRectF> TopologyView::labelRects() const { return links_->labels(); }
const QVector<TopologyView::Exchange>& TopologyView::exchanges() const { return links_->exchanges(); }

int TopologyView::selectedNode() const {
    for (int i = 0; i < nodes_.size(); ++i)
        if (nodes_[i]->isSelected()) return i;
    return -1;
}

void TopologyView::selectNode(int index) {
    scene()->clearSelection();
    if (index >= 0 && index < nodes_.size()) nodes_[index]->setSelected(true);
}

void TopologyView::selectLink(int from, int to) {
    const int n = static_cast<int>(nodes_.size());
    const bool valid = from >= 0 && to >= 0 && from < n && to < n && from != to;
    if (valid) scene()->clearSelection();  // a node and a link are never picked together
    selectedLink_ = valid ? std::optional(std::pair{from, to}) : std::nullopt;
    links_->setSelectedLink(selectedLink_);
    Q_EMIT linkSelected(valid ? from : -1, valid ? to : -1);
}

std::optional<QPoint> TopologyView::linkHandle(int from, int to) const {
    const auto at = links_->linkMiddle(from, to);
    if (!at) return std::nullopt;
    return mapFromScene(*at);
}

double TopologyView::linkWidth(int from, int to) const { return links_->width(from, to); }
QString TopologyView::linkLabel(int from, int to) const { return links_->label(from, to); }

void TopologyView::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) {
        QGraphicsItem* item = itemAt(event->pos());
        if (!item || item == links_) {
            if (const auto link = links_->linkAt(mapToScene(event->pos()))) {
                selectLink(link->first, link->second);
                event->accept();
                return;
            }
            if (selectedLink_) selectLink(-1, -1);  // the background: nothing picked
        }
    }
    QGraphicsView::mousePressEvent(event);
}

std::optional<QPoint> TopologyView::boundaryHandle(int stage, int layers_moved) const {
    if (stage < 0 || stage >= boundaries_.size()) return std::nullopt;
    return mapFromScene(boundaries_[stage]->scenePos() + QPointF(36.0 * layers_moved, 0));
}

void TopologyView::resizeEvent(QResizeEvent* event) {
    QGraphicsView::resizeEvent(event);
    fitScene();
}

void TopologyView::wheelEvent(QWheelEvent* event) {
    const double factor = event->angleDelta().y() > 0 ? 1.15 : 1 / 1.15;
    scale(factor, factor);
}

}  // namespace distgpt::ui
