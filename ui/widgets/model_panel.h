#pragma once
#include "engine/demo_model.h"
#include "engine/model_source.h"
#include "proto/wire_format.h"

#include <optional>
#include <utility>
#include <vector>

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QRadioButton;

namespace distgpt::ui {

// Which model to run: a bundled demo, a Hugging Face folder, or a random
// model of a named shape; shows its parameters and memory.
class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);
    ModelSource source() const;  // throws Error when the choice is incomplete
    const ModelConfig* config() const { return valid_ ? &config_ : nullptr; }
    // How the nodes will hold the matrices: as chosen, else as the checkpoint stores them.
    WeightFormat weightFormat() const { return format_held_; }
    // The format asked for (unset: as stored), as a topology file names it.
    std::optional<WeightFormat> chosenWeightFormat() const;
    void chooseWeightFormat(std::optional<WeightFormat> format);
    // How activations and partial sums travel between the nodes.
    WireFormat wireFormat() const;
    void chooseWireFormat(WireFormat format);
    // Why the chosen model cannot run (empty when it can).
    QString problem() const { return problem_; }
    // A short name for titles: "demo: shakespeare-char", "gpt2-random", "random gpt2".
    QString title() const { return title_; }

Q_SIGNALS:
    void changed();

private:
    void inspect();
    std::optional<DemoModel> checked_demo() const;
    std::vector<std::pair<DemoModel, QRadioButton*>> demos_;
    QRadioButton *folder_, *random_;
    QLineEdit* path_;
    QComboBox *shape_, *weights_, *wire_;
    QLabel* info_;
    ModelConfig config_;
    WeightFormat format_held_ = WeightFormat::F32;
    bool valid_ = false;
    QString problem_, title_;
};

}  // namespace distgpt::ui
