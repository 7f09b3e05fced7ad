#pragma once
#include "net/curve_keys.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace distgpt {

struct WorkerOptions {
    std::string listen = "tcp://127.0.0.1:0";  // port 0: the system picks one
    std::string name;
    std::string model_dir;  // a model on this machine's disk, if any
    int threads = 1;
    int64_t memory_limit = 0;           // bytes; 0 = no limit
    int liveness_ms = 3000;             // the controller is gone after this long without a heartbeat
    bool exit_with_controller = false;  // then exit (a local worker); else drop its run and wait for another
    int lifeline_fd = -1;               // a pipe the starting controller holds: exit when it closes (the controller died)
    net::KeyPair keys;                  // its CURVE identity; empty: an ephemeral one
    // The controllers admitted; none: no authentication (loopback or --insecure).
    std::optional<std::set<std::string>> authorized_keys;
    // The UDP port answering discovery (net/discovery.h); -1: the usual one
    // when listening beyond loopback, none on loopback; 0: none.
    int discovery_port = -1;
};

// distgpt-worker's heart: one ROUTER inbox for the controller and for the
// previous stage, a PULL socket for tensor-parallel partial sums. It serves
// one controller at a time, run after run, and answers every bad message
// with an error instead of dying.
class WorkerService {
public:
    explicit WorkerService(WorkerOptions options);
    ~WorkerService();

    const std::string& endpoint() const;  // as bound, e.g. tcp://127.0.0.1:40013
    void serve(const std::atomic<bool>& stop);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace distgpt
