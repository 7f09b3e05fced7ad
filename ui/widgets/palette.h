#pragma once
#include <QColor>
#include <QString>

namespace distgpt::ui {

// One colour per kind of work, shared by the live view, the timeline and the legend.
inline QColor colorOf(const QString& kind) {
    if (kind == "compute") return QColor(0x3b, 0x82, 0xf6);
    if (kind == "send") return QColor(0xf5, 0x9e, 0x0b);
    if (kind == "receive") return QColor(0x10, 0xb9, 0x81);
    if (kind == "allreduce") return QColor(0x8b, 0x5c, 0xf6);
    if (kind == "sample") return QColor(0xef, 0x44, 0x44);
    if (kind == "dead") return QColor(0xb9, 0x1c, 0x1c);
    return QColor(0xe5, 0xe7, 0xeb);  // idle
}

}  // namespace distgpt::ui
