#include "runtime/worker/tensor_parallel_group.h"

#include "net/sockets.h"
#include "proto/codec.h"
#include "util/error.h"

#include <sched.h>

namespace distgpt {

namespace {

constexpr auto kPartialTimeout = std::chrono::seconds(30);
// Spin this long for the peers' partials before blocking: they normally come
// within microseconds, and waking from a block costs ~100 µs here.
constexpr int64_t kSpinNs = 2'000'000;

}  // namespace

TensorParallelGroup::TensorParallelGroup(zmq::context_t& context, const net::KeyPair& keys, bool curve, const std::string& host)
    : context_(context), keys_(keys), pull_(net::make_socket(context, zmq::socket_type::pull)) {
    if (curve) net::make_curve_server(pull_, keys_);
    pull_.bind("tcp://" + host + ":0");
    endpoint_ = net::bound_endpoint(pull_);
}

void TensorParallelGroup::clear() {
    to_.clear();
    from_.clear();
    early_.clear();
    counter_ = 0;
}

std::vector<std::string> TensorParallelGroup::configure(const proto::Configure& c) {
    clear();
    run_ = c.run;
    rank_ = c.tp_rank;
    stage_ = c.stage;
    std::vector<std::string> warnings;
    const int k = static_cast<int>(c.tp_peers.size());
    const std::string ring_run = c.run + "/all-reduce";
    for (int r = 0; r < k; ++r) {
        if (r == rank_) {
            to_.emplace_back(std::nullopt);
            continue;
        }
        zmq::socket_t s = net::make_socket(context_, zmq::socket_type::push);
        net::make_curve_client(s, keys_, c.tp_peers[r].key);
        s.connect(c.tp_peers[r].endpoint);
        to_.emplace_back(net::RingOutlink(
            std::move(s), c.shared_memory ? net::ring_name(ring_run, c.tp_peers[rank_].endpoint, c.tp_peers[r].endpoint) : "", run_));
        if (!c.shared_memory) continue;
        try {
            from_.add(net::ShmRing::create(net::ring_name(ring_run, c.tp_peers[r].endpoint, c.tp_peers[rank_].endpoint)));
        } catch (const Error& e) {
            warnings.push_back(std::string(e.what()) + "; partial sums from rank " + std::to_string(r) + " come by ZeroMQ");
        }
    }
    return warnings;
}

void TensorParallelGroup::all_reduce(float* data, std::size_t count, const std::function<bool()>& interrupted) {
    const int k = static_cast<int>(to_.size());
    const int64_t counter = ++counter_;
    for (auto& peer : to_) {
        if (!peer) continue;
        proto::Parts frames;
        frames.push_back(proto::frame_of(data, count * sizeof(float)));
        peer->send(proto::encode(proto::Partial{counter, rank_, run_}, std::move(frames)));
    }
    std::map<int, std::vector<float>> mine = std::move(early_[counter]);
    early_.erase(counter);
    for (const auto& [rank, values] : mine)
        if (values.size() != count) throw Error("a partial sum from rank " + std::to_string(rank) + " does not fit this all-reduce");
    mine[rank_].assign(data, data + count);
    const int64_t start = net::now_ns();
    while (static_cast<int>(mine.size()) < k) {
        bool got = false;
        while (auto parts = from_.receive()) {
            take(std::move(*parts), counter, count, mine);
            got = true;
        }
        if (auto parts = net::receive(pull_, std::chrono::milliseconds(0))) {
            take(std::move(*parts), counter, count, mine);
            got = true;
        }
        if (got) continue;
        const int64_t waited = net::now_ns() - start;
        if (waited > std::chrono::nanoseconds(kPartialTimeout).count())
            throw Error("a tensor-parallel peer of stage " + std::to_string(stage_) + " sent no partial sum for 30 s");
        if (waited < kSpinNs) {
            sched_yield();
            continue;
        }
        // A long wait (a peer still loading, slowed by another process, or
        // dead): block, with the doorbell armed, and hear the controller.
        if (interrupted && interrupted()) {
            early_.clear();
            throw AllReduceInterrupted();
        }
        if (from_.prepare_to_block())
            if (auto parts = net::receive(pull_, std::chrono::milliseconds(100))) take(std::move(*parts), counter, count, mine);
        from_.awake();
    }
    std::copy(mine[0].begin(), mine[0].end(), data);
    for (int r = 1; r < k; ++r)
        for (std::size_t i = 0; i < count; ++i) data[i] += mine[r][i];
}

void TensorParallelGroup::take(proto::Parts parts, int64_t counter, std::size_t count, std::map<int, std::vector<float>>& mine) {
    const proto::Message m = proto::decode(std::move(parts));
    if (m.type == proto::Wake::kType) return;
    const auto p = m.as<proto::Partial>();
    if (p.run != run_) return;  // an earlier run's, still on its way
    const int k = static_cast<int>(to_.size());
    if (p.rank < 0 || p.rank >= k || p.rank == rank_)
        throw Error("a partial sum from rank " + std::to_string(p.rank) + " in a group of " + std::to_string(k));
    if (m.frames.size() != 1 || m.frames[0].size() % sizeof(float))
        throw Error("a partial sum from rank " + std::to_string(p.rank) + " is not one frame of floats");
    std::vector<float> scratch;
    const auto frame = proto::frame_values(m.frames[0], scratch);
    const float* values = frame.data();
    const std::size_t n = frame.size();
    if (p.counter == counter) {
        if (n != count) throw Error("a partial sum from rank " + std::to_string(p.rank) + " does not fit this all-reduce");
        mine[p.rank].assign(values, values + n);
    } else if (p.counter > counter) {
        early_[p.counter][p.rank].assign(values, values + n);  // the next all-reduce's: checked when it comes
    }
}

}  // namespace distgpt
