#include "bench/zmq_hop.h"

#include "net/sockets.h"

#include <algorithm>
#include <thread>
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

}  // namespace distgpt
