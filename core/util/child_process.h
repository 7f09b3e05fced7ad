#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <sys/types.h>

namespace distgpt {

// A program this process started, spoken to through pipes: its stdin is
// held here (and closes, however this process ends, when it ends: a
// lifeline the child can watch), its stdout is read line by line, its
// stderr is inherited or kept in memory to quote when it fails. Stopped
// (stdin closed, SIGTERM, then SIGKILL) when destroyed.
class ChildProcess {
public:
    enum class Stderr { Inherit, Capture };

    // Throws Error naming the program when it cannot be started.
    explicit ChildProcess(std::vector<std::string> argv, Stderr stderr_mode = Stderr::Inherit);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Writes all of `text` to its stdin; false when it no longer reads.
    bool write(const std::string& text);
    // Its next line of stdout (without the newline), or nullopt when its
    // stdout closed or `deadline` passed first (closed() tells which).
    std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline);
    bool closed() const { return stdout_closed_; }
    // Why the process is gone ("exited with code 127", "was killed by signal 9"),
    // or nullopt while it runs.
    std::optional<std::string> exited();
    // Waits up to `timeout` for it to end; its exit code, or -1 (killed, or still running).
    int wait_exit_code(std::chrono::milliseconds timeout);
    // What it wrote to stderr so far, with Stderr::Capture (the last `limit` bytes).
    std::string captured_stderr(std::size_t limit = 4096) const;

private:
    pid_t pid_ = -1;
    int stdin_ = -1, stdout_ = -1, stderr_ = -1;
    bool stdout_closed_ = false;
    std::string pending_;  // stdout read past the last line returned
    std::optional<int> status_;
};

}  // namespace distgpt
