#pragma once
#include "util/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <sys/types.h>

namespace distgpt {

// Where a started worker runs and binds: this machine's loopback, or, through
// a launcher (`ip netns exec HOST`: a test host in a network namespace),
// another host's address.
struct WorkerPlace {
    std::vector<std::string> launcher;  // it execs the worker, which keeps its process
    std::string listen = "tcp://127.0.0.1:0";
};

// A distgpt-worker process this controller started on this machine, on a
// loopback port the system picked (or where its Place says). Stopped
// (SIGTERM, then SIGKILL) when destroyed.
class LocalWorker {
public:
    // The process ended while starting (killed, crashed): the node is lost,
    // not misconfigured.
    struct WorkerGone : Error {
        using Error::Error;
    };

    // Whether the worker goes when the controller it serves falls silent (a
    // worker this controller started for its run), or stays to serve the next
    // one, as a worker started by hand on another machine does (tests, benches).
    enum class Tie { EndsWithItsController, Independent };

    LocalWorker(const std::string& name, int threads, int64_t memory_limit, std::vector<std::string> extra_args = {},
                Tie tie = Tie::EndsWithItsController, WorkerPlace place = {});
    ~LocalWorker();
    LocalWorker(const LocalWorker&) = delete;
    LocalWorker& operator=(const LocalWorker&) = delete;

    const std::string& endpoint() const { return endpoint_; }
    pid_t pid() const { return pid_; }
    // Why the process is gone ("killed by signal 9"), or nullopt while it runs.
    std::optional<std::string> exited();

    // distgpt-worker beside this program, in the build tree, or on PATH;
    // $DISTGPT_WORKER overrides.
    static std::string program();

private:
    pid_t pid_ = -1;
    int lifeline_ = -1;  // the pipe's write end: closes when this process ends
    std::string endpoint_;
    std::optional<std::string> exit_reason_;
};

}  // namespace distgpt
