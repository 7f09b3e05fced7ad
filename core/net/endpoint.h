#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace distgpt::net {

// A ZeroMQ endpoint as distgpt writes them: scheme://host:port, the host a
// name, an IPv4 address, "*" or a bracketed IPv6 address.
struct Endpoint {
    std::string scheme, host, port;
    std::string str() const { return scheme + "://" + host + ":" + port; }
};

// A host reached by ssh, as a topology names it: ssh://[user@]host[:port].
struct SshTarget {
    std::string user, host, port;  // user and port empty: ssh's own choice (its config, the login name, 22)
    std::string str() const { return "ssh://" + (user.empty() ? "" : user + "@") + host + (port.empty() ? "" : ":" + port); }
};
// nullopt when `text` is not ssh://[user@]host[:port] with a numeric port.
std::optional<SshTarget> parse_ssh_endpoint(std::string_view text);

// nullopt when `text` is not scheme://host:port.
std::optional<Endpoint> parse_endpoint(std::string_view text);
// The host of an endpoint, or "" when it is not one.
std::string host_of(std::string_view endpoint);
// True for 127.x.x.x, localhost and ::1: a socket only this machine reaches.
bool is_loopback_endpoint(std::string_view endpoint);

}  // namespace distgpt::net
