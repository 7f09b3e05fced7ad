#pragma once
#include "net/curve_keys.h"
#include "net/ring_links.h"
#include "proto/messages.h"

#include <zmq.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// An all-reduce left because the owner needed the worker (see all_reduce).
struct AllReduceInterrupted : std::exception {
    const char* what() const noexcept override { return "all-reduce interrupted by the controller"; }
};

// This worker's place in its stage's tensor-parallel group: the all-reduce
// that sums every rank's partial result. Every rank sends its partial to
// every other and sums all of them in rank order, so every rank ends with the
// very same bits. Partials go through a shared-memory ring to ranks on this
// machine and ZeroMQ (PUSH to the peer's collective PULL) to the others.
class TensorParallelGroup {
public:
    // Binds the PULL socket that peers on other machines push partials to.
    TensorParallelGroup(zmq::context_t& context, const net::KeyPair& keys, bool curve, const std::string& host);
    const std::string& endpoint() const { return endpoint_; }

    // A new run: connects to the ranks of `c.tp_peers`, makes a ring for each.
    // Returns a warning for each ring that could not be made.
    std::vector<std::string> configure(const proto::Configure& c);
    void clear();

    // Sums `data` over the group in place. Throws Error naming the stage when
    // a peer sends nothing for 30 s or its partial does not fit. While it
    // waits on a peer it asks `interrupted` every 100 ms; when that says yes
    // (a peer died and the controller re-plans) it throws AllReduceInterrupted.
    void all_reduce(float* data, std::size_t count, const std::function<bool()>& interrupted = {});

private:
    void take(proto::Parts parts, int64_t counter, std::size_t count, std::map<int, std::vector<float>>& mine);

    zmq::context_t& context_;
    const net::KeyPair& keys_;
    zmq::socket_t pull_;
    std::string endpoint_;
    std::string run_;
    int rank_ = 0, stage_ = 0;
    std::vector<std::optional<net::RingOutlink>> to_;  // by rank; none for this rank
    net::RingInbox from_;                              // one ring per other rank on this machine
    int64_t counter_ = 0;
    std::map<int64_t, std::map<int, std::vector<float>>> early_;  // partials of all-reduces not yet reached
};

}  // namespace distgpt
