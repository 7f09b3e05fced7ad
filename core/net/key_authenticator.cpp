#include "net/key_authenticator.h"

#include "net/sockets.h"

namespace distgpt::net {

KeyAuthenticator::KeyAuthenticator(zmq::context_t& context, std::set<std::string> permanent_keys)
    : handler_(make_socket(context, zmq::socket_type::rep)), permanent_(std::move(permanent_keys)) {
    handler_.bind("inproc://zeromq.zap.01");
    thread_ = std::thread([this] { serve(); });
}

KeyAuthenticator::~KeyAuthenticator() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void KeyAuthenticator::admit_run(std::set<std::string> keys) {
    std::lock_guard lock(mutex_);
    run_ = std::move(keys);
}

bool KeyAuthenticator::admits(const std::string& z85_key) const {
    std::lock_guard lock(mutex_);
    return permanent_.count(z85_key) || run_.count(z85_key);
}

void KeyAuthenticator::serve() {
    while (!stop_.load()) {
        auto request = receive(handler_, std::chrono::milliseconds(100));
        if (!request) continue;
        auto& r = *request;
        // Frames: version, request id, domain, address, identity, mechanism, the client's key.
        bool ok = false;
        if (r.size() >= 7 && r[5].to_string() == "CURVE" && r[6].size() == 32) {
            char z85[41];
            zmq_z85_encode(z85, static_cast<const uint8_t*>(r[6].data()), 32);
            ok = admits(z85);
        }
        proto::Parts reply;
        reply.emplace_back("1.0", 3);
        reply.push_back(r.size() > 1 ? zmq::message_t(r[1].data(), r[1].size()) : zmq::message_t());
        reply.emplace_back(ok ? "200" : "400", 3);
        const std::string text = ok ? "OK" : "key not authorized";
        reply.emplace_back(text.data(), text.size());
        reply.emplace_back();
        reply.emplace_back();
        send(handler_, std::move(reply));
    }
}

}  // namespace distgpt::net
