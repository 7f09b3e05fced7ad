#pragma once
#include <QDoubleSpinBox>
#include <QString>

namespace distgpt::ui {

// A network's number as the node and link editors edit it: 0 is "off" (not
// limited, or none), two decimals (1.5 ms of jitter, 0.5 Mbit/s are never
// rounded away).
inline QDoubleSpinBox* networkNumber(const char* name, double max, const char* suffix, const QString& tip) {
    auto* b = new QDoubleSpinBox;
    b->setObjectName(name);
    b->setRange(0, max);
    b->setDecimals(2);
    b->setSuffix(suffix);
    b->setSpecialValueText("off");
    b->setToolTip(tip);
    return b;
}

}  // namespace distgpt::ui
