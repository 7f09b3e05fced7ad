#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace distgpt::net {

// Messages held back until an emulated link would deliver them, then sent
// on a thread of its own: the sender goes on at once, as it does after
// handing bytes to a network card. Sends run in order of their due time,
// and in the order they were posted when due together.
class LinkEmulator {
public:
    LinkEmulator();
    ~LinkEmulator();  // drops what is still held
    LinkEmulator(const LinkEmulator&) = delete;
    LinkEmulator& operator=(const LinkEmulator&) = delete;

    // Runs `send` at `due_ns` (on net::now_ns's clock).
    void post(int64_t due_ns, std::function<void()> send);
    // Drops every held message and waits out a send under way.
    void clear();
    // The first error a send threw since the last call, if any.
    std::optional<std::string> take_error();

private:
    void run();

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::pair<int64_t, uint64_t>, std::function<void()>> held_;  // (due, posted) -> send
    uint64_t posted_ = 0;
    bool sending_ = false, stopping_ = false;
    std::optional<std::string> error_;
    std::thread thread_;
};

}  // namespace distgpt::net
