#include "bench/zmq_hop.h"

#include "net/sockets.h"

#include "util/error.h"

#include <algorithm>
#include <cstring>
#include <sched.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include <zmq_addon.hpp>

namespace distgpt {

double zmq_loopback_one_way_us(std::size_t bytes, int round_trips, int gap_us) {
    zmq::context_t context(1);
    zmq::socket_t router = net::make_socket(context, zmq::socket_type::router);
    router.bind("tcp://127.0.0.1:0");
    const std::string endpoint = net::bound_endpoint(router);
    std::thread echo([&] {
        for (int i = 0; i < round_trips + 50; ++i) {
            std::vector<zmq::message_t> parts;
            if (!zmq::recv_multipart(router, std::back_inserter(parts))) return;
            zmq::send_multipart(router, parts);
        }
    });
    zmq::socket_t dealer = net::make_socket(context, zmq::socket_type::dealer);
    dealer.connect(endpoint);
    std::vector<char> payload(bytes, 1);
    std::vector<double> half;
    for (int i = 0; i < round_trips + 50; ++i) {
        if (gap_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
        const int64_t t0 = net::now_ns();
        dealer.send(zmq::buffer(payload), zmq::send_flags::none);
        zmq::message_t reply;
        (void)dealer.recv(reply);
        if (i >= 50) half.push_back((net::now_ns() - t0) / 2e3);
    }
    echo.join();
    std::nth_element(half.begin(), half.begin() + half.size() / 2, half.end());
    return half[half.size() / 2];
}

namespace {

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// The receiving process: binds, says where, collects one-way times, reports their median.
[[noreturn]] void receive_and_report(int to_parent, int messages) {
    zmq::context_t context(1);
    zmq::socket_t router = net::make_socket(context, zmq::socket_type::router);
    router.bind("tcp://127.0.0.1:0");
    const std::string endpoint = net::bound_endpoint(router) + "\n";
    (void)!write(to_parent, endpoint.data(), endpoint.size());
    std::vector<double> one_way;
    while (static_cast<int>(one_way.size()) < messages) {
        auto parts = net::receive(router, std::chrono::milliseconds(0));
        if (!parts) {
            sched_yield();
            continue;
        }
        const int64_t arrived = net::now_ns();
        int64_t sent = 0;
        if (parts->size() == 2 && (*parts)[1].size() >= sizeof sent) std::memcpy(&sent, (*parts)[1].data(), sizeof sent);
        one_way.push_back((arrived - sent) / 1e3);
    }
    const double result = median(std::vector<double>(one_way.begin() + std::min<std::size_t>(20, one_way.size() / 2), one_way.end()));
    (void)!write(to_parent, &result, sizeof result);
    _exit(0);
}

}  // namespace

double zmq_two_process_one_way_us(std::size_t bytes, int messages, int gap_us) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) throw Error("bench hop: cannot make a pipe");
    const pid_t child = fork();
    if (child < 0) throw Error("bench hop: cannot fork the receiving process");
    if (child == 0) receive_and_report(pipe_fds[1], messages);
    close(pipe_fds[1]);
    std::string endpoint;
    for (char c; read(pipe_fds[0], &c, 1) == 1 && c != '\n';) endpoint += c;
    double result = 0;
    {
        zmq::context_t context(1);
        zmq::socket_t dealer = net::make_socket(context, zmq::socket_type::dealer);
        dealer.connect(endpoint);
        std::vector<char> payload(std::max(bytes, sizeof(int64_t)), 1);
        for (int i = 0; i < messages; ++i) {
            const int64_t busy_until = net::now_ns() + int64_t(gap_us) * 1000;
            while (net::now_ns() < busy_until) {}
            const int64_t t0 = net::now_ns();
            std::memcpy(payload.data(), &t0, sizeof t0);
            dealer.send(zmq::buffer(payload), zmq::send_flags::none);
        }
        if (read(pipe_fds[0], &result, sizeof result) != sizeof result) result = 0;
    }
    close(pipe_fds[0]);
    waitpid(child, nullptr, 0);
    if (result <= 0) throw Error("bench hop: the receiving process reported nothing");
    return result;
}

}  // namespace distgpt
