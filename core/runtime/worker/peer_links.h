#pragma once
#include "net/curve_keys.h"
#include "net/link_emulator.h"
#include "net/link_model.h"
#include "net/ring_links.h"
#include "proto/messages.h"

#include <zmq.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// The data path between workers: starts relayed to followers, forwards and
// tokens. To a peer on the same machine they go through a shared-memory ring
// (a few µs); to any other, or when the ring cannot be opened, through ZeroMQ
// (DEALER to the peer's inbox). A link keeps its way for the whole run, so
// its messages arrive in the order they were sent: the ranks of a
// tensor-parallel stage depend on it.
class PeerLinks {
public:
    PeerLinks(zmq::context_t& context, const net::KeyPair& keys) : context_(context), keys_(keys) {}

    // A new run: drops the last run's links, makes a ring for each sender in
    // `c.prev` when shared memory is on. Returns a warning for each ring that
    // could not be made (those senders use ZeroMQ).
    std::vector<std::string> configure(const proto::Configure& c);
    // `link`: what the link to it does to a message, emulated here (its
    // bandwidth, latency and jitter, seeded); not emulated: sent at once.
    void connect(const std::string& peer, const std::string& peer_key, const LinkModel& link = {}, uint64_t seed = 0);
    void clear();

    // Sends one data message to a peer's inbox; says how it went (or, over
    // an emulated link, how it will go: the emulator's thread sends it when
    // the link would deliver it). Throws Error for a send that failed.
    net::SentMessage send(const std::string& peer, proto::Parts parts);

    // Reader side, see net::RingInbox.
    net::RingInbox& rings() { return rings_; }

private:
    net::RingOutlink& outlink(const std::string& peer, const std::string& peer_key = "");

    zmq::context_t& context_;
    const net::KeyPair& keys_;
    std::string run_, inbox_;
    bool shared_memory_ = false;
    std::map<std::string, net::RingOutlink> outlinks_;  // peer inbox endpoint -> link
    std::map<std::string, LinkPacer> pacers_;           // the emulated ones among them
    net::RingInbox rings_;                              // one ring per sender, read here
    net::LinkEmulator emulator_;                        // declared last: its thread stops first
};

}  // namespace distgpt
