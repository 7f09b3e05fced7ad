#pragma once
#include "models/run_state.h"

#include <QString>

namespace distgpt::ui {

// A whole run saved to a file: nodes, prompts, every span and token with its
// time and text. Replaying it drives the same views without any worker.
struct RunRecording {
    std::vector<TraceNode> nodes;
    QVector<QString> prompts;
    std::vector<TraceSpan> spans;
    QVector<LiveToken> tokens;
    RunTrace trace;  // the finished run, for exports
    QString topology_json;

    static RunRecording of(const RunState& state, const QString& topologyJson);
    void save(const QString& file) const;           // throws distgpt::Error
    static RunRecording load(const QString& file);  // throws distgpt::Error naming the file
};

}  // namespace distgpt::ui
