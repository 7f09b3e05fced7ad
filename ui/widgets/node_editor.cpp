#include "widgets/node_editor.h"

#include "widgets/network_number.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QVBoxLayout>

namespace distgpt::ui {

NodeEditor::NodeEditor(TopologyDocument* document, QWidget* parent) : QWidget(parent), document_(document) {
    setObjectName("nodeEditor");
    name_ = new QLineEdit;
    name_->setObjectName("nodeName");
    endpoint_ = new QLineEdit;
    endpoint_->setObjectName("nodeEndpoint");
    endpoint_->setPlaceholderText("local, ssh://user@host or tcp://host:port");
    endpointProblem_ = new QLabel;
    endpointProblem_->setObjectName("nodeEndpointProblem");
    endpointProblem_->setWordWrap(true);
    endpointProblem_->setStyleSheet("color: #c0392b");
    endpointProblem_->hide();
    threads_ = new QSpinBox;
    threads_->setObjectName("nodeThreads");
    threads_->setRange(1, 256);
    speed_ = new QDoubleSpinBox;
    speed_->setObjectName("nodeSpeed");
    speed_->setRange(0.01, 100);
    speed_->setSingleStep(0.05);
    speed_->setSuffix(" ×");
    speed_->setToolTip(
        "How fast this node computes against this machine (1: alike; 0.25: a Raspberry Pi beside a laptop). The plan gives a faster "
        "node more layers and the prediction uses it; a node started here and declared slower is slowed to match, so this machine "
        "can stand in for mixed hardware.");
    memory_ = new QSpinBox;
    memory_->setObjectName("nodeMemory");
    memory_->setRange(0, 1 << 20);
    memory_->setSuffix(" MiB");
    memory_->setSpecialValueText("no limit");
    weights_ = new QComboBox;
    weights_->setObjectName("nodeWeights");
    weights_->addItems({"auto", "disk", "stream"});
    network_ = new QComboBox;
    network_->setObjectName("nodeNetwork");
    network_->addItem("as it is (not emulated)");
    for (const auto& p : network_presets()) network_->addItem(QString::fromStdString(p.name));
    network_->addItem("custom");
    const auto number = networkNumber;
    uplink_ = number("nodeUplink", 100000, " Mbit/s", "What the node can send per second; off: not limited.");
    downlink_ = number("nodeDownlink", 100000, " Mbit/s", "What the node can receive per second; off: not limited.");
    latency_ = number("nodeLatency", 10000, " ms", "The node's one way to the switch: a message between two nodes takes both.");
    jitter_ = number("nodeJitter", 10000, " ms", "How much the latency varies, up or down (seeded: the same run, the same delays).");
    network_->setToolTip(
        "The network this node is on, emulated in distgpt's own send path: a message waits behind the bytes before it, takes its "
        "bytes over the bandwidth, then the latency. Pick a preset, then change its numbers if you like.");
    name_->setToolTip("The node's name, as the views and errors call it.");
    endpoint_->setToolTip(
        "local: the app starts this worker on this machine. ssh://[user@]host[:port]: the app starts distgpt-worker there "
        "through ssh, with your own keys and ~/.ssh/config, and stops it after the run. tcp://host:port: a distgpt-worker already "
        "running there.");
    threads_->setToolTip("CPU threads the worker computes with.");
    memory_->setToolTip("The most memory this node may use; the plan is refused if its shard, KV cache and runtime need more.");
    weights_->setToolTip(
        "Where the node's weights come from. auto: from its own disk when it has the model, else sent by the app. "
        "disk: always its own copy (--model-dir). stream: always sent by the app, exactly its shard.");
    auto* outer = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    outer->addLayout(form);
    outer->addStretch(1);
    form->addRow("Name", name_);
    form->addRow("Endpoint", endpoint_);
    form->addRow("", endpointProblem_);
    form->addRow("Threads", threads_);
    form->addRow("Speed", speed_);
    form->addRow("Memory limit", memory_);
    form->addRow("Weights", weights_);
    form->addRow("Network", network_);
    form->addRow("Uplink", uplink_);
    form->addRow("Downlink", downlink_);
    form->addRow("Latency", latency_);
    form->addRow("Jitter", jitter_);
    for (int row = 0; row < form->rowCount(); ++row)
        if (auto* label = form->itemAt(row, QFormLayout::LabelRole))
            label->widget()->setToolTip(form->itemAt(row, QFormLayout::FieldRole)->widget()->toolTip());
    connect(name_, &QLineEdit::editingFinished, this, &NodeEditor::apply);
    connect(endpoint_, &QLineEdit::editingFinished, this, &NodeEditor::apply);
    connect(threads_, &QSpinBox::editingFinished, this, &NodeEditor::apply);
    connect(speed_, &QDoubleSpinBox::editingFinished, this, &NodeEditor::apply);
    connect(memory_, &QSpinBox::editingFinished, this, &NodeEditor::apply);
    connect(weights_, &QComboBox::activated, this, &NodeEditor::apply);
    connect(network_, &QComboBox::activated, this, &NodeEditor::applyPreset);
    for (auto* b : {uplink_, downlink_, latency_, jitter_}) connect(b, &QDoubleSpinBox::editingFinished, this, &NodeEditor::apply);
    showNode(-1);
}

void NodeEditor::showNode(int index) {
    index_ = index;
    setEnabled(index >= 0 && index < static_cast<int>(document_->topology().nodes.size()));
    if (!isEnabled()) return;
    const auto& n = document_->topology().nodes[index];
    name_->setText(QString::fromStdString(n.name));
    endpoint_->setText(QString::fromStdString(n.endpoint));
    endpointProblem_->hide();
    threads_->setValue(n.threads);
    speed_->setValue(n.speed);
    memory_->setValue(static_cast<int>(n.memory_limit >> 20));
    weights_->setCurrentText(QString::fromStdString(weight_source_name(n.weights)));
    showNetwork(n.network);
}

// The preset whose numbers these are, or "custom"; the numbers themselves.
void NodeEditor::showNetwork(const NodeNetwork& n) {
    int row = n.emulated() ? network_->count() - 1 : 0;
    for (std::size_t i = 0; i < network_presets().size(); ++i)
        if (network_presets()[i].network == n) row = static_cast<int>(i) + 1;
    network_->setCurrentIndex(row);
    uplink_->setValue(n.uplink_mbps);
    downlink_->setValue(n.downlink_mbps);
    latency_->setValue(n.latency_ms);
    jitter_->setValue(n.jitter_ms);
}

void NodeEditor::applyPreset(int row) {
    if (row == 0)
        showNetwork({});
    else if (row <= static_cast<int>(network_presets().size()))
        showNetwork(network_presets()[row - 1].network);
    apply();  // "custom" keeps the numbers shown
}

void NodeEditor::apply() {
    if (index_ < 0 || index_ >= static_cast<int>(document_->topology().nodes.size())) return;
    NodeSpec n = document_->topology().nodes[index_];
    n.name = name_->text().trimmed().toStdString();
    const QString typed = endpoint_->text().trimmed();
    const std::string endpoint = typed.isEmpty() ? "local" : typed.toStdString();
    // A mistyped endpoint is named beside the field and not taken.
    const auto problem = endpoint_problem(endpoint);
    if (!problem) n.endpoint = endpoint;
    n.threads = threads_->value();
    n.speed = speed_->value();
    n.memory_limit = int64_t(memory_->value()) << 20;
    n.weights = parse_weight_source(weights_->currentText().toStdString()).value_or(WeightSource::Auto);
    n.network = {uplink_->value(), downlink_->value(), latency_->value(), jitter_->value()};
    const int keep = index_;
    if (!(n == document_->topology().nodes[index_])) document_->setNode(index_, n);  // nothing changed: no edit to undo
    showNode(keep);
    if (problem) {
        endpoint_->setText(typed);
        endpointProblem_->setText(QString::fromStdString(*problem));
        endpointProblem_->show();
    }
}

}  // namespace distgpt::ui
