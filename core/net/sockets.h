#pragma once
#include "proto/codec.h"

#include <zmq.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace distgpt::net {

// Every socket: LINGER 0 (closing never blocks on unsent messages), a cap on
// message size (larger ones are dropped by libzmq before we see them).
zmq::socket_t make_socket(zmq::context_t& context, zmq::socket_type type);

struct KeyPair;

// CURVE on a socket: as a server with our secret key, or as a client of a
// server whose public key we know. No-ops when the keys are empty.
void make_curve_server(zmq::socket_t& socket, const KeyPair& own);
void make_curve_client(zmq::socket_t& socket, const KeyPair& own, const std::string& server_public_key);

// The endpoint a socket really bound, e.g. tcp://127.0.0.1:41233 for :0.
std::string bound_endpoint(zmq::socket_t& socket);

void send(zmq::socket_t& socket, proto::Parts parts);
// With a routing identity first (ROUTER sockets).
void send_to(zmq::socket_t& socket, const std::string& identity, proto::Parts parts);

// All parts of one message, or nullopt after `timeout`.
std::optional<proto::Parts> receive(zmq::socket_t& socket, std::chrono::milliseconds timeout);

int64_t now_ns();  // monotonic clock every span and token is stamped with

}  // namespace distgpt::net
