#pragma once
#include "trace/span_kind.h"

#include <QColor>
#include <QString>

namespace distgpt::ui {

// One colour per kind of work, shared by the live view, the timeline, the
// charts and their legends.
inline QColor colorOf(SpanKind kind) {
    switch (kind) {
        case SpanKind::Compute: return QColor(0x3b, 0x82, 0xf6);
        case SpanKind::Send: return QColor(0xf5, 0x9e, 0x0b);
        case SpanKind::Receive: return QColor(0x10, 0xb9, 0x81);
        case SpanKind::AllReduce: return QColor(0x8b, 0x5c, 0xf6);
        case SpanKind::Sample: return QColor(0xef, 0x44, 0x44);
        case SpanKind::WindowShift: return QColor(0xdb, 0x27, 0x77);
        case SpanKind::Load: return QColor(0x94, 0xa3, 0xb8);
    }
    return QColor(0x94, 0xa3, 0xb8);
}
inline QColor idleColor() { return QColor(0xe5, 0xe7, 0xeb); }
inline QColor deadColor() { return QColor(0xb9, 0x1c, 0x1c); }

// What a legend calls each kind.
inline QString labelOf(SpanKind kind) {
    switch (kind) {
        case SpanKind::AllReduce: return "all-reduce";
        case SpanKind::WindowShift: return "window shift";
        default: return QString::fromUtf8(span_kind_name(kind).data(), static_cast<int>(span_kind_name(kind).size()));
    }
}

}  // namespace distgpt::ui
