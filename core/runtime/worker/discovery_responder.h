#pragma once
#include "net/discovery.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace distgpt {

// Answers discovery queries (net/discovery.h) on a UDP port of every
// interface, on a thread of its own, with what this worker is: its advert,
// its free memory as of the query, and the controller it serves.
class DiscoveryResponder {
public:
    // Throws Error naming the port when it cannot be bound.
    DiscoveryResponder(int port, net::WorkerAdvert advert);
    ~DiscoveryResponder();
    DiscoveryResponder(const DiscoveryResponder&) = delete;
    DiscoveryResponder& operator=(const DiscoveryResponder&) = delete;

    // The controller it serves from now on ("" once free).
    void set_busy_with(const std::string& controller);

private:
    void loop();

    int fd_ = -1;
    std::mutex mutex_;
    net::WorkerAdvert advert_;  // guarded by mutex_
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// The model folders a worker's --model-dir holds: itself, when it is one
// (config.json inside), else each folder in it that is.
std::vector<std::string> models_in(const std::string& model_dir);

}  // namespace distgpt
