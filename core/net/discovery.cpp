#include "net/discovery.h"

#include "net/endpoint.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace distgpt::net {

namespace {

constexpr const char* kQueryTag = "distgpt-discover";
constexpr const char* kAdvertTag = "distgpt-worker";

// The IPv4 broadcast addresses of this machine's interfaces that are up, and loopback.
std::vector<in_addr> query_addresses() {
    std::vector<in_addr> out;
    in_addr loopback{htonl(INADDR_LOOPBACK)};
    out.push_back(loopback);
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            !(i->ifa_flags & IFF_BROADCAST))
            continue;
        // From the address and its mask: an address set without "brd" has none of its own.
        const uint32_t address = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
        const uint32_t mask = reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr;
        out.push_back(in_addr{address | ~mask});
    }
    ::freeifaddrs(list);
    return out;
}

}  // namespace

std::string discovery_query() {
    std::string q = nlohmann::json{{"type", kQueryTag}, {"protocol", 1}}.dump();
    q.resize(kDiscoveryDatagramBytes, ' ');  // JSON allows the trailing spaces
    return q;
}

bool is_discovery_query(std::string_view datagram) {
    if (datagram.size() < kDiscoveryDatagramBytes) return false;
    const auto j = nlohmann::json::parse(datagram, nullptr, false);
    return j.is_object() && j.value("type", "") == kQueryTag;
}

std::string advert_datagram(const WorkerAdvert& a) {
    nlohmann::json j = {{"type", kAdvertTag},
                        {"name", a.name},
                        {"version", a.version},
                        {"endpoint", a.endpoint},
                        {"public_key", a.public_key},
                        {"threads", a.threads},
                        {"cores", a.cores},
                        {"memory_total", a.memory_total},
                        {"memory_free", a.memory_free},
                        {"memory_limit", a.memory_limit},
                        {"models", a.models},
                        {"busy_with", a.busy_with},
                        {"instance", a.instance}};
    std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // Never more than a query's bytes: drop the model list, then cut the name.
    if (text.size() > kDiscoveryDatagramBytes) {
        j["models"] = nlohmann::json::array({"(too many to list)"});
        text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (text.size() > kDiscoveryDatagramBytes) {
        j["name"] = a.name.substr(0, 64);
        text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return text.size() > kDiscoveryDatagramBytes ? std::string() : text;
}

std::optional<WorkerAdvert> parse_advert(std::string_view datagram) {
    const auto j = nlohmann::json::parse(datagram, nullptr, false);
    if (!j.is_object() || j.value("type", "") != kAdvertTag) return std::nullopt;
    try {
        WorkerAdvert a;
        a.name = j.at("name").get<std::string>();
        a.version = j.at("version").get<std::string>();
        a.endpoint = j.at("endpoint").get<std::string>();
        a.public_key = j.at("public_key").get<std::string>();
        a.threads = j.at("threads").get<int>();
        a.cores = j.at("cores").get<int>();
        a.memory_total = j.at("memory_total").get<int64_t>();
        a.memory_free = j.at("memory_free").get<int64_t>();
        a.memory_limit = j.at("memory_limit").get<int64_t>();
        a.models = j.at("models").get<std::vector<std::string>>();
        a.busy_with = j.at("busy_with").get<std::string>();
        a.instance = j.at("instance").get<std::string>();
        if (!parse_endpoint(a.endpoint)) return std::nullopt;
        return a;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

std::vector<WorkerAdvert> discover_workers(std::chrono::milliseconds timeout, int port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(std::string("cannot open a UDP socket to look for workers: ") + std::strerror(errno));
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
    const std::string query = discovery_query();
    int sent = 0;
    for (const in_addr& to : query_addresses()) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr = to;
        sent += ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
                static_cast<ssize_t>(query.size());
    }
    std::vector<WorkerAdvert> found;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (sent > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char buf[kDiscoveryDatagramBytes + 1];
        sockaddr_in from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n <= 0 || static_cast<std::size_t>(n) > kDiscoveryDatagramBytes) continue;
        auto advert = parse_advert(std::string_view(buf, static_cast<std::size_t>(n)));
        if (!advert) continue;
        // Bound to every interface: reached where it answered from.
        auto e = *parse_endpoint(advert->endpoint);
        if (e.host == "0.0.0.0" || e.host == "*") {
            char ip[INET_ADDRSTRLEN];
            ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
            e.host = ip;
            advert->endpoint = e.str();
        }
        const auto same = std::find_if(found.begin(), found.end(), [&](const WorkerAdvert& w) { return w.instance == advert->instance; });
        if (same == found.end())
            found.push_back(std::move(*advert));
        else if (is_loopback_endpoint(same->endpoint))
            *same = std::move(*advert);
    }
    ::close(fd);
    std::sort(found.begin(), found.end(), [](const WorkerAdvert& a, const WorkerAdvert& b) { return a.name < b.name; });
    return found;
}

}  // namespace distgpt::net
