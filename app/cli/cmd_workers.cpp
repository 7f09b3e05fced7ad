#include "cli/commands.h"
#include "cli/model_options.h"
#include "net/discovery.h"
#include "util/version.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace distgpt::cli {
namespace {

struct WorkersArgs {
    int timeout_ms = 1000;
    int port = net::kDiscoveryPort;
    bool json = false;
};

std::string gib(int64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", bytes / double(int64_t(1) << 30));
    return text;
}

int list_workers(const WorkersArgs& a) {
    const auto found = net::discover_workers(std::chrono::milliseconds(a.timeout_ms), a.port);
    if (a.json) {
        auto j = nlohmann::json::array();
        for (const auto& w : found)
            j.push_back({{"name", w.name},
                         {"endpoint", w.endpoint},
                         {"version", w.version},
                         {"threads", w.threads},
                         {"cores", w.cores},
                         {"memory_total", w.memory_total},
                         {"memory_free", w.memory_free},
                         {"memory_limit", w.memory_limit},
                         {"models", w.models},
                         {"server_key", w.public_key},
                         {"busy_with", w.busy_with.empty() ? nlohmann::json() : nlohmann::json(w.busy_with)}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    if (found.empty()) {
        std::cerr << "no worker answered within " << a.timeout_ms << " ms on UDP port " << a.port
                  << " (workers listening beyond loopback answer unless started with --discovery-port 0; "
                  << "discovery reaches this machine's own networks only)\n";
        return 0;
    }
    for (const auto& w : found) {
        std::cout << w.name << "  " << w.endpoint << "\n"
                  << "    " << w.threads << " of " << w.cores << " threads, " << gib(w.memory_free) << " free of " << gib(w.memory_total)
                  << (w.memory_limit > 0 ? ", limit " + gib(w.memory_limit) : "") << ", distgpt " << w.version
                  << (w.version == kVersion ? "" : " (this is " + std::string(kVersion) + ")") << "\n"
                  << "    models: ";
        for (std::size_t i = 0; i < w.models.size(); ++i) std::cout << (i ? ", " : "") << w.models[i];
        std::cout << (w.models.empty() ? "none on its disk (the controller streams its shard)" : "") << "\n"
                  << "    server_key: " << (w.public_key.empty() ? "none (it does not authenticate)" : w.public_key) << "\n"
                  << "    " << (w.busy_with.empty() ? "free" : "busy: serving " + w.busy_with) << "\n";
    }
    return 0;
}

}  // namespace

void add_workers(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<WorkersArgs>();
    auto* c = app.add_subcommand("workers", "list the distgpt workers on this machine's networks that answer within a timeout");
    c->add_option("--timeout-ms", a->timeout_ms, "how long to wait for answers")->capture_default_str()->check(CLI::Range(10, 60000));
    c->add_option("--port", a->port, "the workers' discovery port (their --discovery-port)")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    c->add_flag("--json", a->json, "print them as JSON");
    c->callback([a, &exit_code] { exit_code = guarded("workers", [&] { return list_workers(*a); }); });
}

}  // namespace distgpt::cli
