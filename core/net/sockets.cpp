#include "net/sockets.h"

#include "net/curve_keys.h"

#include <zmq_addon.hpp>

namespace distgpt::net {

zmq::socket_t make_socket(zmq::context_t& context, zmq::socket_type type) {
    zmq::socket_t s(context, type);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageBytes);
    // Reconnect quickly, backing off to 5 s for a peer that stays away.
    s.set(zmq::sockopt::reconnect_ivl, 100);
    s.set(zmq::sockopt::reconnect_ivl_max, 5000);
    return s;
}

void make_curve_server(zmq::socket_t& socket, const KeyPair& own) {
    if (own.empty()) return;
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
    socket.set(zmq::sockopt::zap_domain, "distgpt");
}

void make_curve_client(zmq::socket_t& socket, const KeyPair& own, const std::string& server_public_key) {
    if (server_public_key.empty() || own.empty()) return;
    socket.set(zmq::sockopt::curve_serverkey, server_public_key);
    socket.set(zmq::sockopt::curve_publickey, own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

std::string bound_endpoint(zmq::socket_t& socket) { return socket.get(zmq::sockopt::last_endpoint); }

void send(zmq::socket_t& socket, proto::Parts parts) {
    for (std::size_t i = 0; i < parts.size(); ++i)
        socket.send(parts[i], i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

void send_to(zmq::socket_t& socket, const std::string& identity, proto::Parts parts) {
    zmq::message_t id(identity.data(), identity.size());
    socket.send(id, zmq::send_flags::sndmore);
    send(socket, std::move(parts));
}

std::optional<proto::Parts> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
        if (zmq::poll(&item, 1, timeout) <= 0) return std::nullopt;
    } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) return std::nullopt;  // a signal: the caller checks whether to stop
        throw;
    }
    proto::Parts parts;
    if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) return std::nullopt;
    return parts;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace distgpt::net
