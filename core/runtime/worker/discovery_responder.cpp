#include "runtime/worker/discovery_responder.h"

#include "util/error.h"
#include "util/process_memory.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace distgpt {

std::vector<std::string> models_in(const std::string& model_dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> models;
    std::error_code ec;
    if (model_dir.empty() || !fs::is_directory(model_dir, ec)) return models;
    const fs::path dir = fs::path(model_dir).lexically_normal();
    if (fs::exists(dir / "config.json", ec)) return {(dir.has_filename() ? dir.filename() : dir.parent_path().filename()).string()};
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_directory(ec) && fs::exists(entry.path() / "config.json", ec)) models.push_back(entry.path().filename().string());
    std::sort(models.begin(), models.end());
    return models;
}

DiscoveryResponder::DiscoveryResponder(int port, net::WorkerAdvert advert) : advert_(std::move(advert)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    // Several workers on one machine each hear a broadcast query.
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (fd_ >= 0) ::close(fd_);
        throw Error("cannot answer discovery on UDP port " + std::to_string(port) + ": " + std::strerror(err) +
                    " (--discovery-port 0 turns discovery off)");
    }
    thread_ = std::thread([this] { loop(); });
}

DiscoveryResponder::~DiscoveryResponder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
}

void DiscoveryResponder::set_busy_with(const std::string& controller) {
    std::lock_guard lock(mutex_);
    advert_.busy_with = controller;
}

void DiscoveryResponder::loop() {
    while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[net::kDiscoveryDatagramBytes + 1];
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        // Anything but a query is ignored: nothing here is worth an error reply.
        if (n <= 0 || !net::is_discovery_query(std::string_view(buf, static_cast<std::size_t>(n)))) continue;
        std::string answer;
        {
            std::lock_guard lock(mutex_);
            advert_.memory_free = available_memory_bytes();
            answer = net::advert_datagram(advert_);
        }
        if (!answer.empty()) ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
}

}  // namespace distgpt
