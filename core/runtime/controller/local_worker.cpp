#include "runtime/controller/local_worker.h"

#include "net/shm_ring.h"
#include "util/error.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>

namespace distgpt {

namespace {

std::vector<std::string> worker_command(const std::string& name, int threads, int64_t memory_limit,
                                        const std::vector<std::string>& extra_args, LocalWorker::Tie tie, const WorkerPlace& place) {
    std::vector<std::string> args = place.launcher;
    args.insert(args.end(), {LocalWorker::program(), "--listen", place.listen, "--name", name, "--threads", std::to_string(threads),
                             "--lifeline-fd", "0"});
    if (tie == LocalWorker::Tie::EndsWithItsController) args.push_back("--exit-with-controller");
    if (memory_limit > 0) args.insert(args.end(), {"--memory-limit", std::to_string(memory_limit)});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
}

// What stopped a start, for the message: a program that cannot start is a
// misconfiguration, not a lost node.
std::unique_ptr<ChildProcess> start(const std::string& name, std::vector<std::string> args) try {
    return std::make_unique<ChildProcess>(std::move(args));
} catch (const Error& e) {
    throw Error(std::string(e.what()) + " for node '" + name + "' (set DISTGPT_WORKER to distgpt-worker's path)");
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
                         WorkerPlace place)
    : process_(start(name, worker_command(name, threads, memory_limit, extra_args, tie, place))) {
    // Its first line says where it listens.
    const auto line = process_->read_line(std::chrono::steady_clock::now() + std::chrono::seconds(20));
    const auto at = line ? line->find("listening on ") : std::string::npos;
    if (at == std::string::npos) {
        // Gone (its pipe closed as it exited: reaped an instant later), or alive and silent for 20 s.
        const bool silent = !process_->closed();
        process_->wait_exit_code(std::chrono::milliseconds(silent ? 0 : 2000));
        const auto why = process_->exited();
        if (silent || !why) throw Error("worker '" + name + "' (" + program() + ") did not start listening within 20 s");
        throw WorkerGone("worker '" + name + "' (" + program() + ") ended before it listened: its process " + *why);
    }
    endpoint_ = line->substr(at + 13);
}

std::optional<std::string> LocalWorker::exited() {
    auto why = process_->exited();
    if (why) return "its process " + *why;
    return why;
}

LocalWorker::~LocalWorker() {
    // Killed (by us, or by anyone: a kill -9, a crash), it could not remove
    // the rings it read; until it was reaped they looked in use.
    process_.reset();
    net::ShmRing::remove_orphans();
}

}  // namespace distgpt
