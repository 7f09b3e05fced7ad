// distgpt-worker: the headless node that holds a model shard. No Qt here.
#include "net/curve_keys.h"
#include "net/endpoint.h"
#include "runtime/worker/worker_service.h"
#include "util/error.h"
#include "util/version.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <poll.h>
#include <thread>
#include <unistd.h>

// What --version says. A test builds this program again saying another
// version: what an older install on an ssh host answers.
#ifndef DISTGPT_WORKER_REPORTED_VERSION
#define DISTGPT_WORKER_REPORTED_VERSION distgpt::kVersion
#endif

namespace {
std::atomic<bool> stop_requested{false};
void on_signal(int) { stop_requested = true; }

// The three lines of keys a controller writes first to the stdin of a worker
// it starts over ssh; the rest of stdin is the lifeline. Byte by byte, so
// nothing after them is consumed.
std::string read_handed_keys() {
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int lines = 0; lines < 3;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) throw distgpt::Error("no keys on stdin within 30 s (--keys-on-stdin)");
        char c;
        if (::read(STDIN_FILENO, &c, 1) != 1) throw distgpt::Error("stdin closed before the keys (--keys-on-stdin)");
        text.push_back(c);
        if (c == '\n') ++lines;
    }
    return text;
}
}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"distgpt-worker: serves one shard of a model to a distgpt controller"};
    distgpt::WorkerOptions o;
    o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    app.add_option("--listen", o.listen, "endpoint to bind, e.g. tcp://0.0.0.0:5555 (port 0 = pick one)")->capture_default_str();
    app.add_option("--threads", o.threads, "compute threads")->capture_default_str();
    app.add_option("--memory-limit", o.memory_limit, "refuse shards needing more bytes than this (0 = no limit)");
    app.add_option("--name", o.name, "name shown by the controller and the app");
    app.add_option("--model-dir", o.model_dir, "a Hugging Face model folder on this machine (else the controller streams the shard)");
    app.add_option("--liveness-ms", o.liveness_ms, "the controller is gone after this long without a heartbeat")->capture_default_str();
    app.add_flag("--exit-with-controller", o.exit_with_controller,
                 "exit when the controller is gone (set by a controller that starts this worker)");
    app.add_option("--lifeline-fd", o.lifeline_fd,
                   "exit at once when this file descriptor closes: the pipe a controller that starts this worker holds open")
        ->check(CLI::NonNegativeNumber);
    std::string server_key_file, authorized_keys_file;
    app.add_option("--server-key", server_key_file, "this worker's CURVE key pair (distgpt-cli keygen --out NAME: NAME.key)");
    app.add_option("--authorized-keys", authorized_keys_file, "controllers admitted: one public key (a .pub file's line) per line");
    bool keys_on_stdin = false;
    app.add_flag("--keys-on-stdin", keys_on_stdin,
                 "read this worker's key pair and the one controller it admits from stdin's first three lines (set by a controller "
                 "that starts it over ssh)")
        ->excludes("--server-key")
        ->excludes("--authorized-keys");
    app.set_version_flag("--version", std::string("distgpt-worker ") + DISTGPT_WORKER_REPORTED_VERSION);
    bool insecure = false;
    app.add_flag("--insecure", insecure, "listen beyond loopback without authentication (a trusted network only)");
    app.add_option("--discovery-port", o.discovery_port,
                   "answer `distgpt-cli workers` and the app's search on this UDP port; 0: stay unlisted (default: 5556 when "
                   "listening beyond loopback, none on loopback)")
        ->check(CLI::Range(0, 65535));
    std::string log_file;
    app.add_option("--log-file", log_file, "append what the worker reports (errors, refused messages) to this file instead of stderr");
    // The systemd unit's way (packaging/worker.conf): the options above as
    // `name = value` lines, the command line winning over the file.
    app.set_config("--config", "", "read options from this file: one `option = value` a line, as in /etc/distgpt/worker.conf");
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt option is named, not ignored
    CLI11_PARSE(app, argc, argv);
    if (!log_file.empty() && !std::freopen(log_file.c_str(), "a", stderr)) {
        std::cerr << "distgpt-worker: cannot write the log file " << log_file << ": " << std::strerror(errno) << std::endl;
        return 2;
    }

    try {
        if (keys_on_stdin) {
            const auto handed = distgpt::net::parse_handed_keys(read_handed_keys(), "--keys-on-stdin");
            o.keys = handed.worker;
            o.authorized_keys = std::set<std::string>{handed.controller};
        }
        if (!server_key_file.empty()) o.keys = distgpt::net::read_key_pair(server_key_file);
        if (!authorized_keys_file.empty()) o.authorized_keys = distgpt::net::read_authorized_keys(authorized_keys_file);
    } catch (const std::exception& e) {
        std::cerr << "distgpt-worker: " << e.what() << std::endl;
        return 2;
    }
    if (!o.authorized_keys && !distgpt::net::is_loopback_endpoint(o.listen)) {
        if (!insecure) {
            std::cerr << "distgpt-worker: refusing to listen on " << o.listen << " without authentication: anyone who reaches it could "
                      << "drive this worker. Give --server-key and --authorized-keys (make them with distgpt-cli keygen), "
                      << "or --insecure on a network you trust." << std::endl;
            return 2;
        }
        std::cerr << "distgpt-worker: WARNING: listening on " << o.listen << " without authentication (--insecure)" << std::endl;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);  // the launcher stops reading our stdout after the first line
    try {
        distgpt::WorkerService service(o);
        // The first line is what a launcher reads to learn the endpoint.
        std::cout << "distgpt-worker " << (o.name.empty() ? "" : o.name + " ") << "listening on " << service.endpoint() << std::endl;
        service.serve(stop_requested);
        std::cout << "distgpt-worker: stopped" << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "distgpt-worker: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
