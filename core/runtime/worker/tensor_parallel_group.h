#pragma once
#include "net/curve_keys.h"
#include "net/link_emulator.h"
#include "net/link_model.h"
#include "net/ring_links.h"
#include "proto/messages.h"

#include <zmq.hpp>

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace distgpt {

// An all-reduce left because the owner needed the worker (see all_reduce).
struct AllReduceInterrupted : std::exception {
    const char* what() const noexcept override { return "all-reduce interrupted by the controller"; }
};

// This worker's place in its stage's tensor-parallel group: the all-reduce
// that sums every rank's partial result. A worker holds one rank, or several
// after a re-plan; it sends its ranks' partials to every other worker of the
// group and sums all k in rank order (sum_in_rank_order), so every worker
// ends with the very same bits however the ranks are spread. Partials go
// through a shared-memory ring to workers on this machine and ZeroMQ (PUSH
// to the peer's collective PULL) to the others; over a link the topology
// gives a network, they are held as that network would (LinkPacer).
class TensorParallelGroup {
public:
    // Binds the PULL socket that peers on other machines push partials to.
    TensorParallelGroup(zmq::context_t& context, const net::KeyPair& keys, bool curve, const std::string& host);
    const std::string& endpoint() const { return endpoint_; }

    // A new run: connects to the other workers of `c.tp_peers`, makes a ring
    // for each. Returns a warning for each ring that could not be made.
    std::vector<std::string> configure(const proto::Configure& c);
    void clear();

    // Sums the group's partials into `sum`: `mine` are this worker's, one per
    // rank it holds, `count` floats each. Throws Error naming the stage when a
    // peer sends nothing for 30 s or its partial does not fit. While it waits
    // on a peer it asks `interrupted` every 100 ms; when that says yes (a peer
    // died and the controller re-plans) it throws AllReduceInterrupted.
    // The partials travel in `wire`; a worker sums its own as they arrive
    // elsewhere (rounded through `wire` too), so every worker of the group
    // still ends with the very same bits.
    void all_reduce(std::span<const float* const> mine, std::size_t count, float* sum, WireFormat wire = WireFormat::F32,
                    const std::function<bool()>& interrupted = {});

    // Of the last all-reduce's partials sent over emulated links, the one
    // delivered last (none: no emulated link in the group).
    const std::optional<LinkTransfer>& last_emulated() const { return last_emulated_; }

private:
    bool holds(int rank) const { return rank >= rank_ && rank < rank_ + ranks_; }
    void take(proto::Parts parts, int64_t counter, std::size_t count, std::map<int, std::vector<float>>& theirs);

    zmq::context_t& context_;
    const net::KeyPair& keys_;
    zmq::socket_t pull_;
    std::string endpoint_;
    std::string run_;
    int rank_ = 0, ranks_ = 1, size_ = 1, stage_ = 0;  // this worker holds ranks [rank_, rank_ + ranks_) of size_
    std::vector<net::RingOutlink> to_;                 // one per other worker of the group
    std::vector<std::optional<LinkPacer>> pacers_;     // beside to_: the emulated links among them
    net::RingInbox from_;                              // one ring per other worker on this machine
    int64_t counter_ = 0;
    int64_t spin_ns_ = 0;  // how long to poll for partial sums before blocking (Configure::partial_sum_wait)
    std::optional<LinkTransfer> last_emulated_;
    std::map<int64_t, std::map<int, std::vector<float>>> early_;  // partials of all-reduces not yet reached
    net::LinkEmulator emulator_;                                  // sends over emulated links; declared last: its thread stops first
};

}  // namespace distgpt
