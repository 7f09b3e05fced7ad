#include "runtime/worker/peer_links.h"

#include "net/sockets.h"
#include "proto/codec.h"

namespace distgpt {

std::vector<std::string> PeerLinks::configure(const proto::Configure& c) {
    clear();
    run_ = c.run, inbox_ = c.inbox, shared_memory_ = c.shared_memory && !c.inbox.empty();
    std::vector<std::string> warnings;
    if (!shared_memory_) return warnings;
    for (const auto& sender : c.prev) {
        try {
            rings_.push_back(net::ShmRing::create(net::ring_name(run_, sender, inbox_)));
        } catch (const Error& e) {
            warnings.push_back(std::string(e.what()) + "; messages from " + sender + " come by ZeroMQ");
        }
    }
    return warnings;
}

void PeerLinks::clear() {
    outboxes_.clear();
    rings_.clear();
}

void PeerLinks::connect(const std::string& peer, const std::string& peer_key) { outbox(peer, peer_key); }

PeerLinks::Outbox& PeerLinks::outbox(const std::string& peer, const std::string& peer_key) {
    auto it = outboxes_.find(peer);
    if (it == outboxes_.end()) {
        zmq::socket_t s = net::make_socket(context_, zmq::socket_type::dealer);
        net::make_curve_client(s, keys_, peer_key);
        s.connect(peer);
        it = outboxes_.emplace(peer, Outbox{std::move(s), std::nullopt, false}).first;
    }
    return it->second;
}

const char* PeerLinks::send(const std::string& peer, proto::Parts parts) {
    Outbox& o = outbox(peer);
    // The ring is looked for at the first send: every worker of the run made
    // its rings before the controller started the run.
    if (shared_memory_ && !o.ring_tried) o.ring = net::ShmRing::open(net::ring_name(run_, inbox_, peer)), o.ring_tried = true;
    if (o.ring && o.ring->write(parts)) {
        if (o.ring->reader_sleeping()) net::send(o.socket, proto::encode(proto::Wake{run_}));
        return "shm";
    }
    net::send(o.socket, std::move(parts));
    return "zmq";
}

std::optional<proto::Parts> PeerLinks::receive_from_rings() {
    for (auto& ring : rings_) {
        if (ring.closed()) continue;
        try {
            if (auto parts = ring.try_read()) {
                if (ring.writer_attached()) ring.unlink();  // nothing left behind if a process is killed
                return parts;
            }
        } catch (const Error&) {
            ring.close();
            throw;
        }
    }
    return std::nullopt;
}

bool PeerLinks::prepare_to_block() {
    bool quiet = true;
    for (auto& ring : rings_) {
        ring.set_reader_sleeping(true);
        if (!ring.closed() && !ring.empty()) quiet = false;
    }
    if (!quiet) awake();
    return quiet;
}

void PeerLinks::awake() {
    for (auto& ring : rings_) ring.set_reader_sleeping(false);
}

}  // namespace distgpt
