#include "runtime/worker/peer_links.h"

#include "net/sockets.h"
#include "util/error.h"

#include <memory>

namespace distgpt {

std::vector<std::string> PeerLinks::configure(const proto::Configure& c) {
    clear();
    run_ = c.run;
    inbox_ = c.inbox;
    shared_memory_ = c.shared_memory && !c.inbox.empty();
    std::vector<std::string> warnings;
    if (!shared_memory_) return warnings;
    for (const auto& sender : c.prev) {
        try {
            rings_.add(net::ShmRing::create(net::ring_name(run_, sender, inbox_)));
        } catch (const Error& e) {
            warnings.push_back(std::string(e.what()) + "; messages from " + sender + " come by ZeroMQ");
        }
    }
    return warnings;
}

void PeerLinks::clear() {
    emulator_.clear();  // the held messages, and a send that failed, were the last run's
    (void)emulator_.take_error();
    pacers_.clear();
    outlinks_.clear();
    rings_.clear();
}

void PeerLinks::connect(const std::string& peer, const std::string& peer_key, const LinkModel& link, uint64_t seed) {
    outlink(peer, peer_key);
    if (link.emulated()) pacers_.insert_or_assign(peer, LinkPacer(link, seed));
}

net::RingOutlink& PeerLinks::outlink(const std::string& peer, const std::string& peer_key) {
    auto it = outlinks_.find(peer);
    if (it == outlinks_.end()) {
        zmq::socket_t s = net::make_socket(context_, zmq::socket_type::dealer);
        net::make_curve_client(s, keys_, peer_key);
        s.connect(peer);
        const std::string ring = shared_memory_ ? net::ring_name(run_, inbox_, peer) : "";
        it = outlinks_.emplace(peer, net::RingOutlink(std::move(s), ring, run_)).first;
    }
    return it->second;
}

net::SentMessage PeerLinks::send(const std::string& peer, proto::Parts parts) {
    net::RingOutlink& link = outlink(peer);
    const auto pacer = pacers_.find(peer);
    if (pacer == pacers_.end()) return {link.send(std::move(parts)), std::nullopt};
    return net::send_paced(emulator_, pacer->second, link, std::move(parts));
}

}  // namespace distgpt
