#pragma once
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace distgpt {

// A distgpt-worker process this controller started on this machine, on a
// loopback port the system picked. Stopped (SIGTERM, then SIGKILL) when
// destroyed.
class LocalWorker {
public:
    LocalWorker(const std::string& name, int threads, int64_t memory_limit);
    ~LocalWorker();
    LocalWorker(const LocalWorker&) = delete;
    LocalWorker& operator=(const LocalWorker&) = delete;

    const std::string& endpoint() const { return endpoint_; }
    pid_t pid() const { return pid_; }

    // distgpt-worker beside this program, in the build tree, or on PATH;
    // $DISTGPT_WORKER overrides.
    static std::string program();

private:
    pid_t pid_ = -1;
    std::string endpoint_;
};

}  // namespace distgpt
