#pragma once
#include "net/link_emulator.h"
#include "net/link_model.h"
#include "net/transport.h"
#include "net/shm_ring.h"
#include "proto/codec.h"

#include <zmq.hpp>

#include <optional>
#include <string>
#include <vector>

namespace distgpt::net {

// Messages to one peer: through the shared-memory ring the peer made for us
// when there is one, else through a ZeroMQ socket. The ring is looked for at
// the first send (every ring of a run exists before the run starts) and the
// choice holds for the whole run, so messages arrive in the order sent.
class RingOutlink {
public:
    // ring_name "": ZeroMQ only. `run` goes into the doorbell message.
    RingOutlink(zmq::socket_t socket, std::string ring_name, std::string run)
        : socket_(std::move(socket)), ring_name_(std::move(ring_name)), run_(std::move(run)) {}

    // How it went. Throws Error when the ring's reader is gone.
    Transport send(proto::Parts parts);
    // The way its messages are meant to go (an emulated link's are sent
    // later, on another thread: this reads nothing that sending changes).
    Transport way() const { return ring_name_.empty() ? Transport::ZeroMQ : Transport::SharedMemory; }

private:
    zmq::socket_t socket_;
    std::string ring_name_, run_;
    std::optional<ShmRing> ring_;
    bool looked_ = false;
};

// How a message went: its transport, and over an emulated link, when that
// link takes it on and delivers it (the send itself happens then).
struct SentMessage {
    Transport how = Transport::None;
    std::optional<LinkTransfer> emulated;
};

// Sends `parts` over `link` as an emulated network would: `pacer` says when
// its link delivers them and `emulator`'s thread sends them then; the caller
// goes on at once. Throws Error for an earlier held message that failed.
// `link` must outlive what `emulator` holds (clear it first).
SentMessage send_paced(LinkEmulator& emulator, LinkPacer& pacer, RingOutlink& link, proto::Parts parts);

// The rings a process reads, one per sender, with the doorbell protocol: a
// reader about to block on ZeroMQ marks them, and a writer that sees the mark
// after writing sends a `wake` there.
class RingInbox {
public:
    void add(ShmRing ring) { rings_.push_back(std::move(ring)); }
    void clear() { rings_.clear(); }

    // The next message in any ring. Throws Error for a broken ring, which is
    // closed first (its writer then falls back to ZeroMQ).
    std::optional<proto::Parts> receive();
    // False when a message came meanwhile: then do not block.
    bool prepare_to_block();
    void awake();

private:
    std::vector<ShmRing> rings_;
};

}  // namespace distgpt::net
