#include "net/endpoint.h"

namespace distgpt::net {

std::optional<Endpoint> parse_endpoint(std::string_view text) {
    const auto scheme = text.find("://");
    const auto colon = text.rfind(':');
    if (scheme == std::string_view::npos || scheme == 0 || colon == std::string_view::npos || colon <= scheme + 3 ||
        colon + 1 >= text.size())
        return std::nullopt;
    Endpoint e{std::string(text.substr(0, scheme)), std::string(text.substr(scheme + 3, colon - scheme - 3)),
               std::string(text.substr(colon + 1))};
    // A bracketed IPv6 host must close before the port's colon.
    if (e.host.front() == '[' && e.host.back() != ']') return std::nullopt;
    return e;
}

std::string host_of(std::string_view endpoint) {
    const auto e = parse_endpoint(endpoint);
    return e ? e->host : std::string();
}

bool is_loopback_endpoint(std::string_view endpoint) {
    const std::string host = host_of(endpoint);
    return host.starts_with("127.") || host == "localhost" || host == "[::1]" || host == "::1";
}

}  // namespace distgpt::net
