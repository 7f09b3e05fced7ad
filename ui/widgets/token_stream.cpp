#include "widgets/token_stream.h"

#include <QHelpEvent>
#include <QTextBlock>
#include <QToolTip>

namespace distgpt::ui {

TokenStream::TokenStream(QWidget* parent) : QTextBrowser(parent) {
    setObjectName("tokenStream");
    setPlaceholderText("Generated text appears here, one row per sequence, as each token arrives.");
    QFont f("monospace");
    f.setStyleHint(QFont::Monospace);
    setFont(f);
}

void TokenStream::refresh(const RunState& state, double until_us) {
    const std::pair<quint64, int> now{state.runId(), state.tokenCountUpTo(until_us)};
    if (now == shown_) return;
    shown_ = now;
    clear();
    QTextCursor c(document());
    QTextCharFormat prompt, header, token, alt;
    prompt.setForeground(QColor(0x64, 0x74, 0x8b));
    header.setForeground(QColor(0x33, 0x41, 0x55));
    header.setFontWeight(QFont::Bold);
    for (int i = 0; i < state.prompts().size(); ++i) {
        if (i) c.insertBlock();
        c.insertText("sequence " + QString::number(i + 1) + "\n", header);
        c.insertText(state.prompts()[i], prompt);
        const auto it = state.tokens().find(i);
        if (it == state.tokens().end()) continue;
        int n = 0;
        for (const auto& t : it->second) {
            if (t.at_us > until_us) break;
            QTextCharFormat f;
            // Alternate shades so token boundaries show.
            f.setBackground(n++ % 2 ? QColor(0xe0, 0xf2, 0xfe) : QColor(0xf0, 0xf9, 0xff));
            f.setToolTip(QString("token %1 (id %2)\nstep %3 · %4 ms after the previous one\nat %5 ms · via %6")
                             .arg(n)
                             .arg(t.token)
                             .arg(t.step)
                             .arg(t.latency_ms, 0, 'f', 1)
                             .arg(t.at_us / 1e3, 0, 'f', 1)
                             .arg(state.pathOf(t)));
            c.insertText(t.text, f);
        }
    }
    moveCursor(QTextCursor::End);
}

bool TokenStream::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(e);
        QTextCursor c = cursorForPosition(viewport()->mapFromGlobal(help->globalPos()));
        c.movePosition(QTextCursor::Right);
        const QString tip = c.charFormat().toolTip();
        if (tip.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), tip, this);
        return true;
    }
    return QTextBrowser::event(e);
}

}  // namespace distgpt::ui
