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
    void refresh(const RunState& state);  // redraws when tokens arrived since the last call

protected:
    bool event(QEvent* e) override;

private:
    int shown_ = -1;
};

}  // namespace distgpt::ui
