#include "net/link_emulator.h"

#include "net/sockets.h"

#include <chrono>

namespace distgpt::net {

LinkEmulator::LinkEmulator() : thread_([this] { run(); }) {}

LinkEmulator::~LinkEmulator() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        held_.clear();
    }
    changed_.notify_all();
    thread_.join();
}

void LinkEmulator::post(int64_t due_ns, std::function<void()> send) {
    {
        std::lock_guard lock(mutex_);
        held_.emplace(std::pair{due_ns, posted_++}, std::move(send));
    }
    changed_.notify_all();
}

void LinkEmulator::clear() {
    std::unique_lock lock(mutex_);
    held_.clear();
    changed_.wait(lock, [this] { return !sending_; });
}

std::optional<std::string> LinkEmulator::take_error() {
    std::lock_guard lock(mutex_);
    return std::exchange(error_, std::nullopt);
}

void LinkEmulator::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (held_.empty()) {
            changed_.wait(lock);
            continue;
        }
        const int64_t due = held_.begin()->first.first;
        const int64_t now = now_ns();
        if (due > now) {
            // The same steady clock now_ns reads.
            changed_.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
            continue;
        }
        auto send = std::move(held_.begin()->second);
        held_.erase(held_.begin());
        sending_ = true;
        lock.unlock();
        try {
            send();
        } catch (const std::exception& e) {
            std::lock_guard again(mutex_);
            if (!error_) error_ = e.what();
        }
        lock.lock();
        sending_ = false;
        changed_.notify_all();
    }
}

}  // namespace distgpt::net
