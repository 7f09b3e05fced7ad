#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distgpt::net {

// Workers found on the local network: a controller broadcasts one UDP
// query to every IPv4 broadcast domain it is on (and to loopback); each
// worker that listens for queries answers with a JSON advert, unicast.
// (docs/discovery.md says why this and not DNS-SD.)
inline constexpr int kDiscoveryPort = 5556;

// What a worker says of itself when asked.
struct WorkerAdvert {
    std::string name, version, endpoint;  // endpoint: its inbox, as the asker reaches it
    std::string public_key;               // its CURVE key (the topology's server_key); empty: it does not authenticate
    int threads = 0, cores = 0;
    int64_t memory_total = 0, memory_free = 0, memory_limit = 0;  // bytes; limit 0: none
    std::vector<std::string> models;                              // the model folders on its disk (--model-dir)
    std::string busy_with;                                        // the controller it serves; empty: free
    std::string instance;  // random for each worker process: the same worker heard on two networks is one
};

// The query is padded to this size, and an advert longer than it is never
// sent: a forged source address gets no more bytes than it sent.
inline constexpr std::size_t kDiscoveryDatagramBytes = 1200;

std::string discovery_query();
bool is_discovery_query(std::string_view datagram);
std::string advert_datagram(const WorkerAdvert& advert);
// nullopt for anything but a well-formed advert.
std::optional<WorkerAdvert> parse_advert(std::string_view datagram);

// Asks, then gathers answers for `timeout`; one advert per worker, by name.
// A worker bound to every interface (0.0.0.0) is reported at the address it
// answered from; heard on loopback and on a network, at the network's
// address (which its peers reach too).
std::vector<WorkerAdvert> discover_workers(std::chrono::milliseconds timeout, int port = kDiscoveryPort);

}  // namespace distgpt::net
