#pragma once
#include "util/error.h"

#include <optional>
#include <string>

namespace distgpt {

// A worker this controller started for a run, wherever it runs (this
// machine, a host reached by ssh): where to reach it, the key it serves
// with, and whether it is still there. Destroying it stops the worker.
class LaunchedWorker {
public:
    // The worker's process ended while starting (killed, crashed, its host
    // unreachable): the node is lost, not misconfigured.
    struct WorkerGone : Error {
        using Error::Error;
    };

    virtual ~LaunchedWorker() = default;
    virtual const std::string& endpoint() const = 0;  // its inbox, as this controller reaches it
    // Its CURVE public key when it authenticates this controller; empty when it does not.
    virtual const std::string& server_key() const = 0;
    // Why it is gone ("its process was killed by signal 9"), or nullopt while it runs.
    virtual std::optional<std::string> exited() = 0;
};

}  // namespace distgpt
