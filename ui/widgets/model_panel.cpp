#include "widgets/model_panel.h"

#include "engine/demo_model.h"
#include "util/error.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QVBoxLayout>

namespace distgpt::ui {
namespace {

struct DemoText {
    const char *object_name, *label, *tooltip;
};

DemoText demo_text(DemoModel demo) {
    switch (demo) {
        case DemoModel::ShakespeareChar:
            return {"modelDemo", "Demo: Shakespeare · GPT-2, one token per character",
                    "A small GPT-2-block model that distgpt-cli train trained on Tiny Shakespeare, one token per character: "
                    "real text, and fast on any machine."};
        case DemoModel::ShakespeareLlama:
            return {"modelDemoLlama", "Demo: Shakespeare · LLaMA, learned vocabulary",
                    "A small LLaMA-block model (RMSNorm, rotary positions, 8 query heads sharing 2 key/value heads, SwiGLU) that "
                    "distgpt-cli train trained on Tiny Shakespeare with a 1024-token BPE vocabulary it learned from the text."};
    }
    return {};
}

}  // namespace

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("modelPanel");
    auto* layout = new QVBoxLayout(this);
    for (DemoModel d : demo_models()) {
        const DemoText text = demo_text(d);
        const bool found = find_demo_model(d).has_value();
        auto* button = new QRadioButton(found ? text.label : QString(text.label) + " (not found)");
        button->setObjectName(text.object_name);
        button->setToolTip(text.tooltip);
        button->setEnabled(found);
        demos_.emplace_back(d, button);
    }
    folder_ = new QRadioButton("Hugging Face folder");
    folder_->setObjectName("modelFolder");
    random_ = new QRadioButton("Random weights (untrained: its text is noise)");
    random_->setObjectName("modelRandom");
    folder_->setToolTip(
        "A GPT-2 or LLaMA family model (llama, mistral, qwen2) in Hugging Face layout: config.json, model.safetensors, and "
        "tokenizer.json or vocab.json + merges.txt.");
    random_->setToolTip("A model of a real shape with random weights: real sizes and speeds without a download; its text is noise.");
    path_ = new QLineEdit;
    path_->setObjectName("modelPath");
    path_->setPlaceholderText("folder with config.json and model.safetensors");
    auto* browse = new QPushButton("Browse…");
    auto* folderRow = new QHBoxLayout;
    folderRow->addWidget(path_);
    folderRow->addWidget(browse);
    shape_ = new QComboBox;
    shape_->setObjectName("modelShape");
    for (const auto& name : model_preset_names()) shape_->addItem(QString::fromStdString(name));
    shape_->setToolTip("The shape of the random model: layers, heads, widths and positions of the published model of that name.");
    weights_ = new QComboBox;
    weights_->setObjectName("weightsDtype");
    weights_->addItem("Weights as stored", QString());
    for (WeightFormat f : weight_formats())
        weights_->addItem("Weights in " + QString::fromStdString(weight_format_name(f)), QString::fromStdString(weight_format_name(f)));
    weights_->setToolTip(
        "How every node holds the weight matrices. Decode reads each weight once per token, so 16 bits (bf16, f16) "
        "need half the memory of f32 and run up to twice as fast, with slightly rounded weights; q8 (8.5 bits a weight) "
        "about a quarter and q4 (4.5 bits) about an eighth, each block of 32 weights rounded to small integers and a scale.");
    wire_ = new QComboBox;
    wire_->setObjectName("wireFormat");
    for (WireFormat f : wire_formats())
        wire_->addItem("Activations sent in " + QString::fromStdString(wire_format_name(f)), QString::fromStdString(wire_format_name(f)));
    wire_->setToolTip(
        "How activations travel between stages, and partial sums between tensor-parallel ranks. f32 gives exactly the tokens of "
        "one process; bf16 sends half the bytes, q8 about a quarter (blocks of 32 int8 and a scale): for slow links. The Links "
        "chart shows the bytes each link sent.");
    info_ = new QLabel;
    info_->setObjectName("modelInfo");
    info_->setWordWrap(true);
    info_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    for (const auto& [d, button] : demos_) layout->addWidget(button);
    layout->addWidget(folder_);
    layout->addLayout(folderRow);
    layout->addWidget(random_);
    layout->addWidget(shape_);
    layout->addWidget(weights_);
    layout->addWidget(wire_);
    layout->addWidget(info_);
    layout->addStretch();

    QSettings settings;
    path_->setText(settings.value("model/path").toString());
    shape_->setCurrentText(settings.value("model/shape", "tiny").toString());
    weights_->setCurrentIndex(std::max(0, weights_->findData(settings.value("model/weights").toString())));
    wire_->setCurrentIndex(std::max(0, wire_->findData(settings.value("model/wire").toString())));
    const QString kind = settings.value("model/kind", "demo").toString();
    const auto saved_demo = demo_named(settings.value("model/demo").toString().toStdString()).value_or(DemoModel::ShakespeareChar);
    QRadioButton* start = kind == "folder" ? folder_ : random_;
    if (kind == "demo")  // the demo chosen last, else the first one found
        for (const auto& [d, button] : demos_)
            if (button->isEnabled() && (d == saved_demo || start == random_)) start = button;
    start->setChecked(true);

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, "Model folder", path_->text());
        if (dir.isEmpty()) return;
        path_->setText(dir);
        folder_->setChecked(true);
        inspect();
    });
    std::vector<QRadioButton*> choices{folder_, random_};
    for (const auto& [d, button] : demos_) choices.push_back(button);
    for (auto* b : choices)
        connect(b, &QRadioButton::toggled, this, [this](bool on) {
            if (on) inspect();
        });
    connect(path_, &QLineEdit::editingFinished, this, &ModelPanel::inspect);
    connect(shape_, &QComboBox::currentTextChanged, this, &ModelPanel::inspect);
    connect(weights_, &QComboBox::currentIndexChanged, this, &ModelPanel::inspect);
    inspect();
}

ModelSource ModelPanel::source() const {
    ModelSource s;
    s.weight_format = chosenWeightFormat();
    if (random_->isChecked()) {
        s.random_shape = shape_->currentText().toStdString();
    } else if (folder_->isChecked()) {
        if (path_->text().isEmpty()) throw Error("choose a model folder");
        s.dir = path_->text().toStdString();
    } else {
        const auto demo = checked_demo();
        if (!demo) throw Error("choose a model");
        const auto found = find_demo_model(*demo);
        if (!found) throw Error("the bundled demo model " + demo_name(*demo) + " was not found");
        s.dir = *found;
    }
    return s;
}

std::optional<WeightFormat> ModelPanel::chosenWeightFormat() const {
    return weight_format_named(weights_->currentData().toString().toStdString());
}

WireFormat ModelPanel::wireFormat() const {
    return wire_format_named(wire_->currentData().toString().toStdString()).value_or(WireFormat::F32);
}

void ModelPanel::chooseWireFormat(WireFormat format) {
    wire_->setCurrentIndex(std::max(0, wire_->findData(QString::fromStdString(wire_format_name(format)))));
}

void ModelPanel::chooseWeightFormat(std::optional<WeightFormat> format) {
    weights_->setCurrentIndex(std::max(0, weights_->findData(format ? QString::fromStdString(weight_format_name(*format)) : QString())));
}

std::optional<DemoModel> ModelPanel::checked_demo() const {
    for (const auto& [d, button] : demos_)
        if (button->isChecked()) return d;
    return std::nullopt;
}

void ModelPanel::inspect() {
    QSettings settings;
    settings.setValue("model/kind", random_->isChecked() ? "random" : folder_->isChecked() ? "folder" : "demo");
    if (const auto demo = checked_demo()) settings.setValue("model/demo", QString::fromStdString(demo_name(*demo)));
    settings.setValue("model/path", path_->text());
    settings.setValue("model/shape", shape_->currentText());
    settings.setValue("model/weights", weights_->currentData().toString());
    settings.setValue("model/wire", wire_->currentData().toString());
    valid_ = false;
    try {
        const ModelSource chosen = source();
        const OpenedModel m = open_model(chosen);
        config_ = m.config;
        format_held_ = m.weight_format;
        valid_ = true;
        problem_.clear();
        std::filesystem::path dir = chosen.dir;
        if (dir.filename().empty()) dir = dir.parent_path();  // "…/gpt2/"
        const QString folder = QString::fromStdString(dir.filename().string());
        title_ = random_->isChecked() ? "random " + shape_->currentText() : checked_demo() ? "demo: " + folder : folder;
        info_->setToolTip(QString::fromStdString(m.description));
        info_->setText(QString("<b>%1</b><br>%2<br>%6 M parameters · %7 MiB in %10<br>tokenizer: %8, %9 tokens")
                           .arg(title_.toHtmlEscaped())
                           .arg(QString::fromStdString(m.config.model_type + " · " + m.config.summary()).toHtmlEscaped())
                           .arg(m.config.parameter_count() / 1e6, 0, 'f', 2)
                           .arg(bytes_of_weights(m.config.parameter_count(), m.weight_format) / double(1 << 20), 0, 'f', 0)
                           .arg(QString::fromStdString(m.tokenizer->kind()))
                           .arg(m.tokenizer->size())
                           .arg(QString::fromStdString(weight_format_name(m.weight_format))));
    } catch (const std::exception& e) {
        problem_ = QString::fromStdString(e.what());
        title_.clear();
        info_->setText("<span style='color:#b91c1c'>" + QString::fromStdString(e.what()).toHtmlEscaped() + "</span>");
    }
    Q_EMIT changed();
}

}  // namespace distgpt::ui
