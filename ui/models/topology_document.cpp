#include "models/topology_document.h"

#include "engine/demo_model.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

namespace distgpt::ui {

QString linkSummary(const LinkModel& link) {
    if (!link.emulated()) return "not emulated";
    auto number = [](double v) { return QString::number(v, 'g', v >= 1000 ? 6 : 3); };
    QStringList parts;
    if (link.bandwidth_mbps > 0)
        parts << (link.bandwidth_mbps >= 1000 ? number(link.bandwidth_mbps / 1000) + " Gbit/s" : number(link.bandwidth_mbps) + " Mbit/s");
    if (link.latency_ms > 0 || link.jitter_ms > 0)
        parts << number(link.latency_ms) + " ms" + (link.jitter_ms > 0 ? " ± " + number(link.jitter_ms) + " ms" : QString());
    return parts.join(" · ");
}

namespace {
constexpr int kAutoStrategyStep = 3000;  // merges picking auto with the choice then made for it
}

// An edit as the document before and after it: undo and redo swap whole
// snapshots, so every kind of edit undoes the same way.
class SnapshotCommand : public QUndoCommand {
public:
    SnapshotCommand(TopologyDocument* doc, const QString& text, QString before, QString after, int merge_id)
        : QUndoCommand(text), doc_(doc), before_(std::move(before)), after_(std::move(after)), merge_id_(merge_id) {}
    void undo() override { doc_->restore(before_); }
    void redo() override {
        if (first_)
            first_ = false;  // the edit is already applied
        else
            doc_->restore(after_);
    }
    int id() const override { return merge_id_; }
    bool mergeWith(const QUndoCommand* other) override {
        // A strategy step merges only into one that left the strategy auto:
        // a choice into the pick it answers, never two picks apart.
        if (merge_id_ == kAutoStrategyStep && nlohmann::json::parse(after_.toStdString()).value("strategy", "") != "auto") return false;
        after_ = static_cast<const SnapshotCommand*>(other)->after_;
        return true;
    }

private:
    TopologyDocument* doc_;
    QString before_, after_;
    int merge_id_;
    bool first_ = true;
};

TopologyDocument::TopologyDocument(QObject* parent) : QObject(parent) {
    applyPreset("Pipeline 3");
    undo_.clear();
}

void TopologyDocument::edit(const QString& what, const std::function<void()>& change, int merge_id) {
    const QString before = toJson();
    change();
    undo_.push(new SnapshotCommand(this, what, before, toJson(), merge_id));
}

void TopologyDocument::restore(const QString& json) {
    const std::string text = json.toStdString();
    topology_ = parse_topology(text, "undo history");
    positions_.clear();
    const auto j = nlohmann::json::parse(text);
    for (const auto& p : j["positions"]) positions_.push_back(QPointF(p[0].get<double>(), p[1].get<double>()));
    Q_EMIT changed();
}

void TopologyDocument::setTopology(const Topology& topology, QVector<QPointF> positions) {
    topology_ = topology;
    positions_ = std::move(positions);
    if (positions_.size() != static_cast<int>(topology_.nodes.size())) layOut();
    Q_EMIT changed();
}

// Stages left to right, tensor-parallel ranks of a stage top to bottom.
void TopologyDocument::layOut() {
    positions_.clear();
    const int k = std::max(1, topology_.ranks_per_stage());
    for (int i = 0; i < static_cast<int>(topology_.nodes.size()); ++i)
        positions_.push_back(QPointF((i / k) * 270.0, (i % k) * 170.0 - (k - 1) * 85.0));
}

void TopologyDocument::addNode() { addNode(NodeSpec{}); }

void TopologyDocument::addNode(NodeSpec n, std::optional<QPointF> at) {
    edit("Add node", [&] {
        auto taken = [&](const std::string& name) {
            for (const auto& node : topology_.nodes)
                if (node.name == name) return true;
            return false;
        };
        // Unnamed: node<i>; a name already taken: name-2, name-3, ...
        const bool unnamed = n.name.empty();
        if (unnamed || taken(n.name)) {
            const std::string base = unnamed ? "node" : n.name + "-";
            int i = unnamed ? static_cast<int>(topology_.nodes.size()) : 2;
            do n.name = base + std::to_string(i++);
            while (taken(n.name));
        }
        topology_.nodes.push_back(n);
        const QPointF last = positions_.isEmpty() ? QPointF(-270, 0) : positions_.back();
        positions_.push_back(at.value_or(last + QPointF(270, 0)));
        Q_EMIT changed();
    });
}

void TopologyDocument::removeNode(int index) {
    if (index < 0 || index >= static_cast<int>(topology_.nodes.size())) return;
    edit("Remove node", [&] {
        // Its links go with it.
        const std::string name = topology_.nodes[index].name;
        std::erase_if(topology_.links, [&](const LinkOverride& l) { return l.from == name || l.to == name; });
        topology_.nodes.erase(topology_.nodes.begin() + index);
        positions_.remove(index);
        topology_.layers.clear();
        Q_EMIT changed();
    });
}

void TopologyDocument::moveNode(int index, QPointF to) {
    if (index < 0 || index >= positions_.size() || positions_[index] == to) return;
    // No `changed`: only the picture moved. Consecutive moves of a node are one step.
    edit(
        "Move node", [&] { positions_[index] = to; }, 1000 + index);
}

void TopologyDocument::setNode(int index, const NodeSpec& node) {
    if (index < 0 || index >= static_cast<int>(topology_.nodes.size())) return;
    edit("Edit node", [&] {
        // A renamed node keeps its links (they name it).
        const std::string was = topology_.nodes[index].name;
        for (auto& l : topology_.links) {
            if (l.from == was) l.from = node.name;
            if (l.to == was) l.to = node.name;
        }
        topology_.nodes[index] = node;
        Q_EMIT changed();
    });
}

std::optional<LinkModel> TopologyDocument::linkOverride(int from, int to) const {
    const int n = static_cast<int>(topology_.nodes.size());
    if (from < 0 || to < 0 || from >= n || to >= n) return std::nullopt;
    for (const auto& l : topology_.links)
        if (l.from == topology_.nodes[from].name && l.to == topology_.nodes[to].name) return l.model;
    return std::nullopt;
}

void TopologyDocument::setLink(int from, int to, std::optional<LinkModel> model, bool both_ways) {
    const int n = static_cast<int>(topology_.nodes.size());
    if (from < 0 || to < 0 || from >= n || to >= n || from == to) return;
    auto same = [&](int a, int b) { return linkOverride(a, b) == model; };
    if (same(from, to) && (!both_ways || same(to, from))) return;  // nothing changed: no edit to undo
    edit(model ? "Set a link" : "Link from the nodes' networks", [&] {
        auto set = [&](const std::string& a, const std::string& b) {
            std::erase_if(topology_.links, [&](const LinkOverride& l) { return l.from == a && l.to == b; });
            if (model) topology_.links.push_back({a, b, *model});
        };
        set(topology_.nodes[from].name, topology_.nodes[to].name);
        if (both_ways) set(topology_.nodes[to].name, topology_.nodes[from].name);
        Q_EMIT changed();
    });
}

void TopologyDocument::changeStrategy(Strategy strategy, int tensorParallel, int merge_id) {
    edit(
        "Change strategy",
        [&] {
            topology_.strategy = strategy;
            topology_.tensor_parallel = std::max(1, tensorParallel);
            topology_.layers.clear();
            layOut();
            Q_EMIT changed();
        },
        merge_id);
}

void TopologyDocument::setStrategy(Strategy strategy, int tensorParallel) {
    changeStrategy(strategy, tensorParallel, strategy == Strategy::Auto ? kAutoStrategyStep : -1);
}

void TopologyDocument::setChosenStrategy(Strategy strategy, int tensorParallel) {
    changeStrategy(strategy, tensorParallel, kAutoStrategyStep);
}

void TopologyDocument::setLayerRanges(std::vector<std::pair<int, int>> ranges) {
    if (ranges == topology_.layers) return;
    edit(ranges.empty() ? "Balance layers" : "Move a layer boundary", [&] {
        topology_.layers = std::move(ranges);
        Q_EMIT changed();
    });
}

namespace {

// Presets of mixed hardware on emulated networks: the shipped topology files.
const std::map<QString, std::string> kShippedPresets = {{"Laptop and a Pi on Wi-Fi", "laptop-and-pi-wifi.json"},
                                                        {"Mixed PCs on 1 GbE", "mixed-pcs-1gbe.json"}};

}  // namespace

QStringList TopologyDocument::presetNames() {
    QStringList names{"Single node", "Pipeline 2", "Pipeline 3", "Pipeline 4", "Tensor 2", "Hybrid 2x2"};
    for (const auto& [name, file] : kShippedPresets)
        if (find_resource(std::filesystem::path("topologies") / file)) names << name;
    return names;
}

bool TopologyDocument::isMixedHardware(const QString& preset) { return kShippedPresets.count(preset) > 0; }

void TopologyDocument::applyPreset(const QString& name) {
    if (const auto shipped = kShippedPresets.find(name); shipped != kShippedPresets.end()) {
        const auto file = find_resource(std::filesystem::path("topologies") / shipped->second);
        if (!file) return;
        const Topology t = read_topology(*file);
        edit("Preset " + name, [&] {
            topology_ = t;
            layOut();
            Q_EMIT changed();
        });
        return;
    }
    Topology t;
    int nodes = 1;
    if (name.startsWith("Pipeline")) {
        nodes = name.section(' ', 1).toInt();
    } else if (name == "Tensor 2") {
        t.strategy = Strategy::Tensor;
        nodes = 2;
    } else if (name == "Hybrid 2x2") {
        t.strategy = Strategy::Hybrid;
        t.tensor_parallel = 2;
        nodes = 4;
    }
    for (int i = 0; i < nodes; ++i) t.nodes.push_back({"node" + std::to_string(i), "local", 1, 0, WeightSource::Auto, ""});
    edit("Preset " + name, [&] {
        topology_ = t;
        layOut();
        Q_EMIT changed();
    });
}

QString TopologyDocument::toJson() const {
    auto j = topology_json(topology_);
    j["positions"] = nlohmann::json::array();
    for (const auto& p : positions_) j["positions"].push_back({p.x(), p.y()});
    return QString::fromStdString(j.dump(2));
}

void TopologyDocument::fromJson(const QString& json, const QString& origin) {
    const std::string text = json.toStdString();
    const Topology t = parse_topology(text, origin.toStdString());
    QVector<QPointF> positions;
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("positions") && j["positions"].is_array())
        for (const auto& p : j["positions"])
            if (p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number())
                positions.push_back(QPointF(p[0].get<double>(), p[1].get<double>()));
    // One undoable step: opening a file or replaying a run can be taken back.
    edit("Open " + origin, [&] {
        topology_ = t;
        positions_ = positions;
        if (positions_.size() != static_cast<int>(topology_.nodes.size())) layOut();
        Q_EMIT changed();
    });
}

}  // namespace distgpt::ui
