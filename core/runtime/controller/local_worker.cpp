#include "runtime/controller/local_worker.h"

#include "net/shm_ring.h"
#include "util/error.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace distgpt {

namespace {

// How a reaped process ended, as a loss names it.
std::string exit_reason(int status) {
    return WIFSIGNALED(status) ? "its process was killed by signal " + std::to_string(WTERMSIG(status))
                               : "its process exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string LocalWorker::program() {
    if (const char* env = std::getenv("DISTGPT_WORKER")) return env;
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    for (const auto& candidate : {self / "distgpt-worker", self / ".." / "worker" / "distgpt-worker"})
        if (std::filesystem::exists(candidate)) return std::filesystem::weakly_canonical(candidate).string();
    return "distgpt-worker";  // on PATH
}

LocalWorker::LocalWorker(const std::string& name, int threads, int64_t memory_limit, std::vector<std::string> extra_args, Tie tie,
                         WorkerPlace place) {
    // Both pipes close on exec, so no other child inherits them. The worker's
    // stdin is its lifeline: this process holds the other end until the
    // worker is stopped, and when this process dies, however it dies, the
    // pipe closes and the worker exits.
    int out[2], lifeline[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(lifeline, O_CLOEXEC) != 0)
        throw Error(std::string("cannot start worker '") + name + "': " + std::strerror(errno));
    const std::string exe = program();
    std::vector<std::string> args = place.launcher;
    args.insert(args.end(), {exe, "--listen", place.listen, "--name", name, "--threads", std::to_string(threads), "--lifeline-fd", "0"});
    if (tie == Tie::EndsWithItsController) args.push_back("--exit-with-controller");
    if (memory_limit > 0) args.insert(args.end(), {"--memory-limit", std::to_string(memory_limit)});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, lifeline[0], STDIN_FILENO);
    const int rc = posix_spawnp(&pid_, args.front().c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(lifeline[0]);
    lifeline_ = lifeline[1];
    if (rc != 0) {
        ::close(out[0]);
        ::close(lifeline_);
        lifeline_ = -1;
        throw Error("cannot start " + exe + " for node '" + name + "': " + std::strerror(rc) + " (set DISTGPT_WORKER to its path)");
    }
    // Its first line says where it listens.
    std::string line;
    bool closed = false;  // its end of the pipe: the process is ending
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!closed && line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        closed = n <= 0;
        if (!closed) line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    const auto at = line.find("listening on ");
    if (at == std::string::npos) {
        // Gone (its pipe closed as it exited: reap it, an instant away), or alive and silent for 20 s.
        if (!closed) ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        ::close(lifeline_);
        lifeline_ = -1;
        if (!closed) throw Error("worker '" + name + "' (" + exe + ") did not start listening within 20 s");
        throw WorkerGone("worker '" + name + "' (" + exe + ") ended before it listened: " + exit_reason(status));
    }
    endpoint_ = line.substr(at + 13, line.find('\n', at) - at - 13);
}

std::optional<std::string> LocalWorker::exited() {
    if (exit_reason_ || pid_ <= 0) return exit_reason_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    exit_reason_ = exit_reason(status);
    return exit_reason_;
}

LocalWorker::~LocalWorker() {
    if (lifeline_ >= 0) ::close(lifeline_);
    if (pid_ <= 0) return;
    if (!exit_reason_) {  // still running, or ended and not yet reaped
        ::kill(pid_, SIGTERM);
        bool ended = false;
        for (int i = 0; i < 50 && !ended; ++i) {
            ended = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
            if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!ended) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    // Killed (by us, or by anyone: a kill -9, a crash), it could not remove
    // the rings it read; until it was reaped they looked in use.
    net::ShmRing::remove_orphans();
}

}  // namespace distgpt
