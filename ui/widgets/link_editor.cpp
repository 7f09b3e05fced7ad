#include "widgets/link_editor.h"

#include "widgets/network_number.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QVBoxLayout>

namespace distgpt::ui {

LinkEditor::LinkEditor(TopologyDocument* document, QWidget* parent) : QWidget(parent), document_(document) {
    setObjectName("linkEditor");
    title_ = new QLabel;
    title_->setObjectName("linkTitle");
    QFont bold = title_->font();
    bold.setBold(true);
    title_->setFont(bold);
    title_->setWordWrap(true);  // a long pair of names must not widen the dock
    fromNetworks_ = new QLabel;
    fromNetworks_->setObjectName("linkFromNetworks");
    fromNetworks_->setWordWrap(true);
    byHand_ = new QCheckBox("Set this link by hand");
    byHand_->setObjectName("linkByHand");
    byHand_->setToolTip(
        "Off: the link is what the two nodes' networks make of it (the slower of the sender's uplink and the receiver's downlink, "
        "both latencies). On: this link alone takes the numbers below.");
    bothWays_ = new QCheckBox("Both directions");
    bothWays_->setObjectName("linkBothWays");
    bothWays_->setChecked(true);
    bothWays_->setToolTip("Set the link back the same way too (a cable is usually alike both ways; Wi-Fi and ADSL are not).");
    const auto number = networkNumber;
    bandwidth_ = number("linkBandwidth", 100000, " Mbit/s", "What the link carries per second; off: not limited.");
    latency_ = number("linkLatency", 10000, " ms", "From the last byte sent to its arrival.");
    jitter_ = number("linkJitter", 10000, " ms", "How much the latency varies, up or down (seeded: the same run, the same delays).");
    inEffect_ = new QLabel;
    inEffect_->setObjectName("linkInEffect");
    inEffect_->setWordWrap(true);
    auto* hint = new QLabel("Emulated: each message waits behind earlier bytes, crosses at the bandwidth, then the latency.");
    hint->setWordWrap(true);
    hint->setToolTip(
        "The canvas draws the link as wide as its bandwidth, with the messages queued on it during a run; the timeline shows each "
        "message's time queued, on the wire and in latency after its send, marked emulated.");
    hint->setStyleSheet("color: #64748b");

    auto* outer = new QVBoxLayout(this);
    outer->addWidget(title_);
    outer->addWidget(fromNetworks_);
    outer->addWidget(byHand_);
    auto* form = new QFormLayout;
    form->addRow("Bandwidth", bandwidth_);
    form->addRow("Latency", latency_);
    form->addRow("Jitter", jitter_);
    outer->addLayout(form);
    outer->addWidget(bothWays_);
    outer->addWidget(inEffect_);
    outer->addWidget(hint);
    outer->addStretch(1);
    connect(byHand_, &QCheckBox::toggled, this, &LinkEditor::apply);
    for (auto* b : {bandwidth_, latency_, jitter_}) connect(b, &QDoubleSpinBox::editingFinished, this, &LinkEditor::apply);
    showLink(-1, -1);
}

void LinkEditor::showLink(int from, int to) {
    const Topology& t = document_->topology();
    const int n = static_cast<int>(t.nodes.size());
    from_ = from;
    to_ = to;
    const bool valid = from >= 0 && to >= 0 && from < n && to < n && from != to;
    setEnabled(valid);
    if (!valid) {
        title_->setText("No link picked: click a link's arrow on the canvas");
        fromNetworks_->clear();
        inEffect_->clear();
        return;
    }
    const std::string& a = t.nodes[from].name;
    const std::string& b = t.nodes[to].name;
    title_->setText(QString::fromStdString("Link " + a + " → " + b));
    fromNetworks_->setText("From the nodes' networks: " + linkSummary(link_between(t.nodes[from].network, t.nodes[to].network)));
    const auto set = document_->linkOverride(from, to);
    const LinkModel shown = set.value_or(t.link(from, to));
    const QSignalBlocker block(byHand_);
    byHand_->setChecked(set.has_value());
    for (auto* box : {bandwidth_, latency_, jitter_}) box->setEnabled(set.has_value());
    bandwidth_->setValue(shown.bandwidth_mbps);
    latency_->setValue(shown.latency_ms);
    jitter_->setValue(shown.jitter_ms);
    inEffect_->setText("In effect: " + linkSummary(t.link(from, to)) + (set ? " (set by hand)" : ""));
}

void LinkEditor::apply() {
    if (!isEnabled()) return;
    const int from = from_, to = to_;
    std::optional<LinkModel> model;
    if (byHand_->isChecked()) model = LinkModel{bandwidth_->value(), latency_->value(), jitter_->value()};
    document_->setLink(from, to, model, bothWays_->isChecked());
    showLink(from, to);
}

}  // namespace distgpt::ui
