#include "net/ring_links.h"

#include "net/sockets.h"
#include "util/error.h"

#include <memory>

namespace distgpt::net {

Transport RingOutlink::send(proto::Parts parts) {
    if (!ring_name_.empty() && !looked_) {
        ring_ = ShmRing::open(ring_name_);
        looked_ = true;
    }
    if (ring_ && ring_->write(parts)) {
        if (ring_->reader_sleeping()) net::send(socket_, proto::encode(proto::Wake{run_}));
        return Transport::SharedMemory;
    }
    net::send(socket_, std::move(parts));
    return Transport::ZeroMQ;
}

std::optional<proto::Parts> RingInbox::receive() {
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

bool RingInbox::prepare_to_block() {
    bool quiet = true;
    for (auto& ring : rings_) {
        ring.set_reader_sleeping(true);
        if (!ring.closed() && !ring.empty()) quiet = false;
    }
    if (!quiet) awake();
    return quiet;
}

void RingInbox::awake() {
    for (auto& ring : rings_) ring.set_reader_sleeping(false);
}

SentMessage send_paced(LinkEmulator& emulator, LinkPacer& pacer, RingOutlink& link, proto::Parts parts) {
    if (auto error = emulator.take_error()) throw Error(*error);
    std::size_t bytes = 0;
    for (const auto& part : parts) bytes += part.size();
    const LinkTransfer t = pacer.transfer(now_ns(), bytes);
    // std::function copies what it holds: the message goes by pointer.
    auto held = std::make_shared<proto::Parts>(std::move(parts));
    emulator.post(t.delivered_ns, [&link, held] { link.send(std::move(*held)); });
    return {link.way(), t};
}

}  // namespace distgpt::net
