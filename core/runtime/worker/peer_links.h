#pragma once
#include "net/curve_keys.h"
#include "net/shm_ring.h"
#include "proto/messages.h"

#include <zmq.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// The data path between workers: forwards and tokens. To a peer on the same
// machine they go through a shared-memory ring (a few µs); to any other, or
// when the ring cannot be opened, through ZeroMQ (DEALER to the peer's
// inbox). A link keeps its way for the whole run, so its messages arrive in
// the order they were sent: the ranks of a tensor-parallel stage depend on it.
class PeerLinks {
public:
    PeerLinks(zmq::context_t& context, const net::KeyPair& keys) : context_(context), keys_(keys) {}

    // A new run: drops the last run's links, makes a ring for each sender in
    // `c.prev` when shared memory is on. Returns a warning for each ring that
    // could not be made (those senders use ZeroMQ).
    std::vector<std::string> configure(const proto::Configure& c);
    void connect(const std::string& peer, const std::string& peer_key);
    void clear();

    // Sends one data message to a peer's inbox; "shm" or "zmq" says how.
    const char* send(const std::string& peer, proto::Parts parts);

    // Reader side: the next message waiting in a ring. Throws Error when a
    // ring is broken (that ring is closed; its writer falls back to ZeroMQ).
    std::optional<proto::Parts> receive_from_rings();
    // Before blocking on ZeroMQ: tells every writer to ring the doorbell;
    // false when a message came meanwhile (then do not block).
    bool prepare_to_block();
    void awake();

private:
    struct Outbox {
        zmq::socket_t socket;
        std::optional<net::ShmRing> ring;
        bool ring_tried = false;
    };
    Outbox& outbox(const std::string& peer, const std::string& peer_key = "");

    zmq::context_t& context_;
    const net::KeyPair& keys_;
    std::string run_, inbox_;
    bool shared_memory_ = false;
    std::map<std::string, Outbox> outboxes_;  // peer inbox endpoint -> link
    std::vector<net::ShmRing> rings_;         // one per sender, read here
};

}  // namespace distgpt
