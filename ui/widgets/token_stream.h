#pragma once
#include "models/run_state.h"

#include <QTextBrowser>

namespace distgpt::ui {

// One row per sequence: its prompt, then its text as generated. Hovering a
// token shows its step, its latency and the nodes it passed.
class TokenStream : public QTextBrowser {
    Q_OBJECT
public:
    explicit TokenStream(QWidget* parent = nullptr);
    // The tokens that had arrived by `until_us`; redraws only when that changed.
    void refresh(const RunState& state, double until_us);

protected:
    bool event(QEvent* e) override;

private:
    std::pair<quint64, int> shown_{0, -1};  // run, tokens
};

}  // namespace distgpt::ui
