#include "runtime/worker/tensor_parallel_group.h"

#include "model/rank_order_sum.h"
#include "net/sockets.h"
#include "proto/codec.h"
#include "util/error.h"

#include <sched.h>

namespace distgpt {

namespace {

constexpr auto kPartialTimeout = std::chrono::seconds(30);
// Spin this long for the peers' partials before blocking (PartialSumWait::Spin):
// they normally come within microseconds, and waking from a block costs ~100 µs here.
constexpr int64_t kSpinNs = 2'000'000;

}  // namespace

TensorParallelGroup::TensorParallelGroup(zmq::context_t& context, const net::KeyPair& keys, bool curve, const std::string& host)
    : context_(context), keys_(keys), pull_(net::make_socket(context, zmq::socket_type::pull)) {
    if (curve) net::make_curve_server(pull_, keys_);
    pull_.bind("tcp://" + host + ":0");
    endpoint_ = net::bound_endpoint(pull_);
}

void TensorParallelGroup::clear() {
    emulator_.clear();  // held partials name outlinks about to go
    (void)emulator_.take_error();
    pacers_.clear();
    last_emulated_.reset();
    to_.clear();
    from_.clear();
    early_.clear();
    counter_ = 0;
}

std::vector<std::string> TensorParallelGroup::configure(const proto::Configure& c) {
    clear();
    run_ = c.run;
    rank_ = c.tp_rank;
    ranks_ = c.tp_ranks;
    size_ = c.tp_size;
    stage_ = c.stage;
    spin_ns_ = c.partial_sum_wait == PartialSumWait::Block ? 0 : kSpinNs;
    if (static_cast<int>(c.tp_peers.size()) != size_ || ranks_ < 1 || rank_ < 0 || rank_ + ranks_ > size_)
        throw Error("configure: tensor-parallel ranks " + std::to_string(rank_) + ".." + std::to_string(rank_ + ranks_ - 1) + " of " +
                    std::to_string(size_) + " with " + std::to_string(c.tp_peers.size()) + " peer endpoints do not fit together");
    std::vector<std::string> warnings;
    const std::string ring_run = c.run + "/all-reduce";
    const std::string& me = c.tp_peers[rank_].endpoint;
    for (int r = 0; r < size_; ++r) {
        // A worker holding several ranks is named once per rank, side by side: connect to it once.
        if (holds(r) || (r > 0 && !holds(r - 1) && c.tp_peers[r].endpoint == c.tp_peers[r - 1].endpoint)) continue;
        const std::string& them = c.tp_peers[r].endpoint;
        zmq::socket_t s = net::make_socket(context_, zmq::socket_type::push);
        net::make_curve_client(s, keys_, c.tp_peers[r].key);
        s.connect(them);
        to_.emplace_back(std::move(s), c.shared_memory ? net::ring_name(ring_run, me, them) : "", run_);
        const proto::Peer& peer = c.tp_peers[r];
        const LinkModel link{peer.bandwidth_mbps, peer.latency_ms, peer.jitter_ms};
        pacers_.push_back(link.emulated() ? std::optional<LinkPacer>(LinkPacer(link, peer.seed)) : std::nullopt);
        if (!c.shared_memory) continue;
        try {
            from_.add(net::ShmRing::create(net::ring_name(ring_run, them, me)));
        } catch (const Error& e) {
            warnings.push_back(std::string(e.what()) + "; partial sums from " + them + " come by ZeroMQ");
        }
    }
    return warnings;
}

void TensorParallelGroup::all_reduce(std::span<const float* const> mine, std::size_t count, float* sum, WireFormat wire,
                                     const std::function<bool()>& interrupted) {
    const int64_t counter = ++counter_;
    last_emulated_.reset();
    std::vector<std::vector<std::byte>> encoded;
    for (const float* partial : mine) encoded.push_back(encode_wire(wire, partial, count));
    for (std::size_t i = 0; i < to_.size(); ++i) {
        proto::Parts frames;
        for (const auto& e : encoded) frames.push_back(proto::frame_of(e.data(), e.size()));
        proto::Parts message = proto::encode(proto::Partial{counter, rank_, run_, static_cast<int64_t>(count), wire}, std::move(frames));
        if (!pacers_[i]) {
            to_[i].send(std::move(message));
            continue;
        }
        const LinkTransfer t = *net::send_paced(emulator_, *pacers_[i], to_[i], std::move(message)).emulated;  // an emulated link
        if (!last_emulated_ || t.delivered_ns > last_emulated_->delivered_ns) last_emulated_ = t;
    }
    // Ours as the others receive them.
    std::vector<std::vector<float>> as_sent;
    std::vector<const float*> ours(mine.begin(), mine.end());
    if (wire != WireFormat::F32)
        for (std::size_t i = 0; i < encoded.size(); ++i) {
            as_sent.emplace_back(count);
            decode_wire(wire, encoded[i], count, as_sent.back().data());
            ours[i] = as_sent.back().data();
        }
    std::map<int, std::vector<float>> theirs = std::move(early_[counter]);
    early_.erase(counter);
    for (const auto& [rank, values] : theirs)
        if (values.size() != count) throw Error("a partial sum from rank " + std::to_string(rank) + " does not fit this all-reduce");
    const int64_t start = net::now_ns();
    while (static_cast<int>(theirs.size()) < size_ - ranks_) {
        bool got = false;
        while (auto parts = from_.receive()) {
            take(std::move(*parts), counter, count, theirs);
            got = true;
        }
        if (auto parts = net::receive(pull_, std::chrono::milliseconds(0))) {
            take(std::move(*parts), counter, count, theirs);
            got = true;
        }
        if (got) continue;
        const int64_t waited = net::now_ns() - start;
        if (waited > std::chrono::nanoseconds(kPartialTimeout).count())
            throw Error("a tensor-parallel peer of stage " + std::to_string(stage_) + " sent no partial sum for 30 s");
        if (waited < spin_ns_) {
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
            if (auto parts = net::receive(pull_, std::chrono::milliseconds(100))) take(std::move(*parts), counter, count, theirs);
        from_.awake();
    }
    std::vector<const float*> by_rank;
    for (int r = 0; r < size_; ++r) by_rank.push_back(holds(r) ? ours[r - rank_] : theirs[r].data());
    sum_in_rank_order(by_rank, count, sum);
}

// A peer's partials: one frame for each rank it holds, from its first rank on.
void TensorParallelGroup::take(proto::Parts parts, int64_t counter, std::size_t count, std::map<int, std::vector<float>>& theirs) {
    const proto::Message m = proto::decode(std::move(parts));
    if (m.type == proto::Wake::kType) return;
    const auto p = m.as<proto::Partial>();
    if (p.run != run_) return;  // an earlier run's, still on its way
    const int held = static_cast<int>(m.frames.size());
    const bool overlaps_mine = p.rank < rank_ + ranks_ && rank_ < p.rank + held;
    if (held < 1 || p.rank < 0 || p.rank + held > size_ || overlaps_mine)
        throw Error("partial sums from ranks " + std::to_string(p.rank) + ".." + std::to_string(p.rank + held - 1) + " in a group of " +
                    std::to_string(size_) + " where this worker holds " + std::to_string(rank_) + ".." +
                    std::to_string(rank_ + ranks_ - 1));
    if (p.count < 0 || p.count > (int64_t(1) << 26)) throw Error("a partial sum of " + std::to_string(p.count) + " values: impossible");
    std::vector<float> values(static_cast<std::size_t>(p.count));
    for (int i = 0; i < held; ++i) {
        const int rank = p.rank + i;
        try {
            decode_wire(p.wire, {static_cast<const std::byte*>(m.frames[i].data()), m.frames[i].size()}, values.size(), values.data());
        } catch (const Error& e) {
            throw Error("a partial sum from rank " + std::to_string(rank) + ": " + e.what());
        }
        if (p.counter == counter) {
            if (values.size() != count) throw Error("a partial sum from rank " + std::to_string(rank) + " does not fit this all-reduce");
            theirs[rank].assign(values.begin(), values.end());
        } else if (p.counter > counter) {
            early_[p.counter][rank].assign(values.begin(), values.end());  // the next all-reduce's: checked when it comes
        }
    }
}

}  // namespace distgpt
