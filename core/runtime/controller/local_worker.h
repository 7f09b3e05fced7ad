#pragma once
#include "runtime/controller/launched_worker.h"
#include "util/child_process.h"

#include <cstdint>
#include <memory>
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
class LocalWorker : public LaunchedWorker {
public:
    // Whether the worker goes when the controller it serves falls silent (a
    // worker this controller started for its run), or stays to serve the next
    // one, as a worker started by hand on another machine does (tests, benches).
    enum class Tie { EndsWithItsController, Independent };

    LocalWorker(const std::string& name, int threads, int64_t memory_limit, std::vector<std::string> extra_args = {},
                Tie tie = Tie::EndsWithItsController, WorkerPlace place = {});
    ~LocalWorker() override;

    const std::string& endpoint() const override { return endpoint_; }
    const std::string& server_key() const override { return no_key_; }
    pid_t pid() const { return process_->pid(); }
    std::optional<std::string> exited() override;

    // distgpt-worker beside this program, in the build tree, or on PATH;
    // $DISTGPT_WORKER overrides.
    static std::string program();

private:
    // Its stdin is its lifeline: held here, it closes when this process ends,
    // however it ends, and the worker exits.
    std::unique_ptr<ChildProcess> process_;
    std::string endpoint_, no_key_;
};

}  // namespace distgpt
