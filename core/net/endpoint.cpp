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

std::optional<SshTarget> parse_ssh_endpoint(std::string_view text) {
    constexpr std::string_view scheme = "ssh://";
    if (!text.starts_with(scheme)) return std::nullopt;
    std::string_view rest = text.substr(scheme.size());
    SshTarget t;
    if (const auto at = rest.find('@'); at != std::string_view::npos) {
        t.user = std::string(rest.substr(0, at));
        rest = rest.substr(at + 1);
        if (t.user.empty()) return std::nullopt;
    }
    if (const auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
        t.port = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (t.port.empty() || t.port.size() > 5 || t.port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    }
    t.host = std::string(rest);
    // A name or an address; nothing ssh would read as an option or a second argument.
    if (t.host.empty() || t.host.front() == '-' || t.host.find_first_of(" \t/@'\"") != std::string::npos) return std::nullopt;
    return t;
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
