#include "widgets/node_editor.h"

#include <QComboBox>
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
    memory_ = new QSpinBox;
    memory_->setObjectName("nodeMemory");
    memory_->setRange(0, 1 << 20);
    memory_->setSuffix(" MiB");
    memory_->setSpecialValueText("no limit");
    weights_ = new QComboBox;
    weights_->setObjectName("nodeWeights");
    weights_->addItems({"auto", "disk", "stream"});
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
    form->addRow("Memory limit", memory_);
    form->addRow("Weights", weights_);
    for (int row = 0; row < form->rowCount(); ++row)
        if (auto* label = form->itemAt(row, QFormLayout::LabelRole))
            label->widget()->setToolTip(form->itemAt(row, QFormLayout::FieldRole)->widget()->toolTip());
    connect(name_, &QLineEdit::editingFinished, this, &NodeEditor::apply);
    connect(endpoint_, &QLineEdit::editingFinished, this, &NodeEditor::apply);
    connect(threads_, &QSpinBox::editingFinished, this, &NodeEditor::apply);
    connect(memory_, &QSpinBox::editingFinished, this, &NodeEditor::apply);
    connect(weights_, &QComboBox::activated, this, &NodeEditor::apply);
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
    memory_->setValue(static_cast<int>(n.memory_limit >> 20));
    weights_->setCurrentText(QString::fromStdString(weight_source_name(n.weights)));
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
    n.memory_limit = int64_t(memory_->value()) << 20;
    n.weights = parse_weight_source(weights_->currentText().toStdString()).value_or(WeightSource::Auto);
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
