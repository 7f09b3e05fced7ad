#include "util/child_process.h"

#include "util/error.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace distgpt {

namespace {

std::string describe(int status) {
    return WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                               : "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, Stderr stderr_mode) {
    // Every descriptor closes on exec, so no other child inherits them.
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0)
        throw Error("cannot start " + argv.front() + ": " + std::strerror(errno));
    if (stderr_mode == Stderr::Capture) stderr_ = ::memfd_create("distgpt-child-stderr", MFD_CLOEXEC);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    if (stderr_ >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_, STDERR_FILENO);
    const int rc = posix_spawnp(&pid_, argv.front().c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(in[0]);
    stdout_ = out[0];
    stdin_ = in[1];
    if (rc != 0) {
        pid_ = -1;
        throw Error("cannot start " + argv.front() + ": " + std::strerror(rc));
    }
}

ChildProcess::~ChildProcess() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGTERM);
        if (wait_exit_code(std::chrono::milliseconds(1000)) < 0 && !status_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    if (stdout_ >= 0) ::close(stdout_);
    if (stderr_ >= 0) ::close(stderr_);
}

bool ChildProcess::write(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        // A child that ended makes this EPIPE, not a signal: MSG_NOSIGNAL has no pipe twin.
        sigset_t pipe_signal, old;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
        const ssize_t n = ::write(stdin_, text.data() + done, text.size() - done);
        const int err = errno;
        timespec zero{};
        while (n < 0 && err == EPIPE && sigtimedwait(&pipe_signal, nullptr, &zero) > 0) {}
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        if (n < 0 && err == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<std::string> ChildProcess::read_line(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        if (const auto eol = pending_.find('\n'); eol != std::string::npos) {
            std::string line = pending_.substr(0, eol);
            pending_.erase(0, eol + 1);
            return line;
        }
        if (stdout_closed_) {  // a last line without its newline is a line too
            if (pending_.empty()) return std::nullopt;
            return std::exchange(pending_, {});
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{stdout_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) continue;
        char buf[512];
        const ssize_t n = ::read(stdout_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            stdout_closed_ = true;
            continue;
        }
        pending_.append(buf, static_cast<std::size_t>(n));
    }
}

std::optional<std::string> ChildProcess::exited() {
    if (!status_ && pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    }
    if (!status_) return std::nullopt;
    return describe(*status_);
}

int ChildProcess::wait_exit_code(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return status_ && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
}

std::string ChildProcess::captured_stderr(std::size_t limit) const {
    if (stderr_ < 0) return {};
    struct stat st {};
    if (::fstat(stderr_, &st) != 0 || st.st_size <= 0) return {};
    const auto size = static_cast<std::size_t>(st.st_size);
    const std::size_t from = size > limit ? size - limit : 0;
    std::string text(size - from, '\0');
    const ssize_t n = ::pread(stderr_, text.data(), text.size(), static_cast<off_t>(from));
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return text;
}

}  // namespace distgpt
