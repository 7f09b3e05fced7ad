#include "runtime/worker/worker_service.h"

#include "engine/machine_rates.h"

#include "net/curve_keys.h"
#include "net/endpoint.h"
#include "net/key_authenticator.h"
#include "net/shm_ring.h"
#include "net/sockets.h"
#include "runtime/worker/liveness.h"
#include "runtime/worker/discovery_responder.h"
#include "runtime/worker/ownership.h"
#include "runtime/worker/peer_links.h"
#include "runtime/worker/refusal_log.h"
#include "runtime/worker/shard_runner.h"
#include "runtime/worker/shard_setup.h"
#include "runtime/worker/tensor_parallel_group.h"
#include "util/boot_id.h"
#include "util/process_memory.h"
#include "util/version.h"

#include <algorithm>
#include <deque>
#include <random>
#include <iostream>
#include <sched.h>
#include <set>
#include <thread>

namespace distgpt {

struct WorkerService::Impl {
    WorkerOptions options;
    zmq::context_t context{1};
    net::KeyPair keys;                                     // ours: a server's identity, a client's credentials
    bool curve = false;                                    // admit only authorized keys
    std::unique_ptr<net::KeyAuthenticator> authenticator;  // with --authorized-keys: who may connect
    zmq::socket_t inbox = net::make_socket(context, zmq::socket_type::router);
    std::string endpoint;
    std::unique_ptr<WorkerLiveness> liveness;

    Ownership owner;                                       // the controller this worker serves
    std::unique_ptr<DiscoveryResponder> discovery;         // answers "who is there?" on the local network
    PeerLinks links{context, keys};                        // forwards and tokens to and from peers
    std::unique_ptr<TensorParallelGroup> tensor_parallel;  // the all-reduce with this stage's other ranks
    std::unique_ptr<MachineRates> rates_here;              // this machine's speed, measured when a controller first asks
    proto::Configure cfg;
    std::unique_ptr<ShardRunner> runner;
    std::unique_ptr<ShardSetup> setup;  // what the next shard loads from
    std::vector<proto::Span> spans;
    int64_t last_message_ns = 0;
    std::unique_ptr<RefusalLog> refusals;  // once the worker's name is known
    // Messages read from the inbox while an all-reduce waited, handled next.
    struct Held {
        std::string from;
        proto::Message message;
        int64_t arrived;
    };
    std::deque<Held> held;
    std::vector<int32_t> ids_scratch;  // a small frame's values, aligned (see proto::frame_values)
    std::vector<float> hidden_scratch;

    explicit Impl(WorkerOptions o) : options(std::move(o)) {
        net::ShmRing::remove_orphans();  // rings of workers that were killed
        keys = options.keys.empty() ? net::generate_key_pair() : options.keys;
        if (options.authorized_keys) {
            authenticator = std::make_unique<net::KeyAuthenticator>(context, *options.authorized_keys);
            curve = true;
        }
        const auto secure = [this](zmq::socket_t& s) {
            if (curve) net::make_curve_server(s, keys);
        };
        inbox.set(zmq::sockopt::router_mandatory, 1);
        secure(inbox);
        inbox.bind(options.listen);
        endpoint = net::bound_endpoint(inbox);
        tensor_parallel = std::make_unique<TensorParallelGroup>(context, keys, curve, net::host_of(endpoint));
        liveness = std::make_unique<WorkerLiveness>(net::host_of(endpoint), options.liveness_ms, options.exit_with_controller, context,
                                                    secure, options.lifeline_fd);
        if (options.name.empty()) options.name = "worker@" + endpoint;
        refusals = std::make_unique<RefusalLog>(std::cerr, options.name);
        setup = std::make_unique<ShardSetup>(options.name, options.model_dir, options.memory_limit);
        start_discovery();
    }

    // Answers discovery beyond loopback. The usual port taken by another
    // program leaves the worker unlisted, not stopped; a port asked for must bind.
    void start_discovery() {
        const bool asked = options.discovery_port >= 0;
        const int port = asked ? options.discovery_port : net::is_loopback_endpoint(endpoint) ? 0 : net::kDiscoveryPort;
        if (port == 0) return;
        net::WorkerAdvert advert;
        advert.name = options.name;
        advert.version = kVersion;
        advert.endpoint = endpoint;
        if (curve) advert.public_key = keys.public_key;
        advert.threads = options.threads;
        advert.cores = static_cast<int>(std::thread::hardware_concurrency());
        advert.memory_total = total_memory_bytes();
        advert.memory_limit = options.memory_limit;
        advert.models = models_in(options.model_dir);
        advert.instance = std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
        try {
            discovery = std::make_unique<DiscoveryResponder>(port, advert);
        } catch (const Error& e) {
            if (asked) throw;
            std::cerr << options.name << ": " << e.what() << "; serving unlisted" << std::endl;
        }
    }

    // Discovery says whom this worker serves.
    void owner_changed() {
        if (discovery) discovery->set_busy_with(owner.free() ? std::string() : owner.name());
    }

    ~Impl() {
        liveness.reset();
        authenticator.reset();
    }

    void reply(const std::string& to, proto::Parts parts) {
        try {
            net::send_to(inbox, to, std::move(parts));
        } catch (const zmq::error_t& e) {
            if (e.num() != EHOSTUNREACH) throw;  // else the sender has gone: nobody to answer
        }
    }

    // The group and step being computed, for the all-reduce spans inside it.
    struct {
        int group = -1, step = -1;
    } working_on;

    void span(SpanKind kind, int64_t t0, int64_t t1, int group, int step, int64_t bytes = 0, const std::string& peer = "",
              const std::vector<int64_t>& sequences = {}, Transport transport = Transport::None,
              const std::optional<LinkTransfer>& emulated = std::nullopt) {
        proto::Span s{kind, t0, t1, group, step, cfg.layer_begin, cfg.layer_end, bytes, peer, sequences, transport};
        if (emulated) {
            s.emulated = true;
            s.queued_ns = emulated->queued_ns();
            s.wire_ns = emulated->wire_ns();
            s.latency_ns = emulated->latency_ns();
        }
        spans.push_back(std::move(s));
    }
    void sent(const net::SentMessage& how, int64_t t0, int group, int step, int64_t bytes, const std::string& peer,
              const std::vector<int64_t>& sequences = {}) {
        // Over an emulated link the span ends at the hand-off the link counts
        // from, so that it and the parts after it end where the link delivers.
        const int64_t t1 = how.emulated ? how.emulated->handed_ns : net::now_ns();
        span(SpanKind::Send, t0, t1, group, step, bytes, peer, sequences, how.how, how.emulated);
    }

    void flush_trace() {
        if (spans.empty() || owner.free()) return;
        proto::Trace t;
        t.spans = std::move(spans);
        t.rss_bytes = resident_bytes();
        spans.clear();
        reply(owner.identity(), proto::encode(t));
    }

    void serve(const std::atomic<bool>& stop) {
        while (!stop.load()) {
            if (liveness->controller_lost() && !owner.free()) {
                std::cerr << options.name << ": controller " << owner.name() << " stopped sending heartbeats; its run is dropped"
                          << std::endl;
                owner.release();
                owner_changed();
                drop_run();
            }
            if (!held.empty()) {
                Held h = std::move(held.front());
                held.pop_front();
                handle_message(h.from, h.message, h.arrived);
                continue;
            }
            // A peer on this machine writes into a shared-memory ring: look there first.
            std::optional<proto::Parts> from_ring;
            try {
                from_ring = links.rings().receive();
            } catch (const Error& e) {
                refuse("", "?", e.what(), false);
            }
            if (from_ring) {
                handle("", std::move(*from_ring), net::now_ns());
                continue;
            }
            // During a run the next message comes within microseconds to
            // milliseconds: poll without sleeping (yielding to any thread that
            // has work), since waking a sleeping thread costs this VM ~200 µs
            // per hop. After 100 ms of quiet, block again, after telling the
            // peers' rings to ring the doorbell.
            const bool hot = runner && net::now_ns() - last_message_ns < 100'000'000;
            std::optional<proto::Parts> parts;
            if (hot) {
                parts = net::receive(inbox, std::chrono::milliseconds(0));
                if (!parts) {
                    sched_yield();
                    continue;
                }
            } else {
                if (!links.rings().prepare_to_block()) continue;
                parts = net::receive(inbox, std::chrono::milliseconds(200));
                links.rings().awake();
            }
            if (!parts || parts->size() < 2) continue;
            const int64_t arrived = net::now_ns();
            const std::string from = (*parts)[0].to_string();
            parts->erase(parts->begin());
            handle(from, std::move(*parts), arrived);
        }
    }

    // `from`: the ZeroMQ identity of the sender, or "" for a shared-memory ring.
    void handle(const std::string& from, proto::Parts parts, int64_t arrived) {
        std::optional<proto::Message> m;
        try {
            m = proto::decode(std::move(parts));
        } catch (const std::exception& e) {
            refuse(from, "?", e.what(), false);
            return;
        }
        handle_message(from, *m, arrived);
    }

    void handle_message(const std::string& from, const proto::Message& m, int64_t arrived) {
        last_message_ns = arrived;
        in_run = false;
        try {
            if (from.empty() && m.type != proto::Forward::kType && m.type != proto::Tokens::kType && m.type != proto::Start::kType)
                throw Error("only start, forward and tokens messages come by shared memory");
            dispatch(from, m, arrived);
        } catch (const AllReduceInterrupted&) {
            // The owner needs this worker (a re-plan, a stop): what it sent is held, and handled next.
        } catch (const std::exception& e) {
            refuse(from, m.type, e.what(), in_run);
        }
    }

    // Set while handling a message of the owner's run: a failure then is this
    // worker's, and the owner hears of it. Anything else that fails (a
    // stranger's message, another controller's, a malformed one) is answered
    // to its sender alone and counted, and never reaches the owner's run.
    bool in_run = false;

    void refuse(const std::string& from, const std::string& type, const std::string& why, bool tell_owner) {
        refusals->refused(type, why, net::now_ns());
        proto::ErrorReply err{options.name + ": " + why, type};
        try {
            if (!from.empty()) reply(from, proto::encode(err));
            if (tell_owner && !owner.free() && !owner.is(from)) reply(owner.identity(), proto::encode(err));
        } catch (const zmq::error_t&) {
            // the sender is gone; nothing to tell
        }
    }

    // While an all-reduce waits on a peer: reads the inbox, and says whether
    // the owner needs this worker out of the step (a peer died and the owner
    // re-plans, or stops the run), or the owner itself is gone.
    bool owner_calls() {
        if (owner.free()) return true;
        while (auto parts = net::receive(inbox, std::chrono::milliseconds(0))) {
            if (parts->size() < 2) continue;
            const int64_t arrived = net::now_ns();
            const std::string from = (*parts)[0].to_string();
            parts->erase(parts->begin());
            try {
                held.push_back({from, proto::decode(std::move(*parts)), arrived});
            } catch (const std::exception& e) {
                refuse(from, "?", e.what(), false);
            }
        }
        // Held ones count too: a call that came while an earlier all-reduce
        // waited may still be queued behind a start.
        return std::any_of(held.begin(), held.end(), [this](const Held& h) {
            return owner.is(h.from) && h.message.type != proto::Start::kType && h.message.type != proto::Ping::kType;
        });
    }

    // A leader sends each data message it is about to compute on to its
    // followers, as it came; before computing, so they compute meanwhile.
    void relay(const proto::Message& m, int group, int step) {
        std::size_t bytes = m.raw_header.size();  // a tokens message is all header
        for (const auto& f : m.frames) bytes += f.size();
        for (const auto& follower : cfg.followers) {
            const int64_t t0 = net::now_ns();
            sent(links.send(follower.endpoint, m.copy()), t0, group, step, static_cast<int64_t>(bytes), follower.endpoint);
        }
    }

    void require_owner(const std::string& from, const std::string& type) {
        if (!owner.is(from))
            throw Error(type + " from a controller that does not own this worker (" +
                        (owner.free() ? std::string("it is free: say hello first") : owner.busy()) + ")");
    }

    void dispatch(const std::string& from, const proto::Message& m, int64_t arrived) {
        if (m.type == proto::Hello::kType) {
            const auto hello = m.as<proto::Hello>();
            owner.claim(from, hello.controller);
            owner_changed();
            liveness->watch();
            proto::HelloReply r;
            r.name = options.name;
            r.host = net::host_of(endpoint);
            r.version = std::string("distgpt ") + kVersion;
            r.cores = static_cast<int>(std::thread::hardware_concurrency());
            r.threads = options.threads;
            r.memory_total = total_memory_bytes();
            r.memory_limit = options.memory_limit;
            r.model_dir = options.model_dir;
            r.collective_endpoint = tensor_parallel->endpoint();
            r.heartbeat_endpoint = liveness->endpoint();
            r.public_key = keys.public_key;
            r.curve = curve;
            r.boot_id = boot_id();
            r.refused_messages = refusals->total();
            reply(from, proto::encode(r));
        } else if (m.type == proto::Ping::kType) {
            reply(from, proto::encode(proto::Pong{m.as<proto::Ping>().controller_ns, net::now_ns()}));
        } else if (m.type == proto::WeightChunk::kType) {
            require_owner(from, m.type);
            receive_weights(m);
        } else if (m.type == proto::Admit::kType) {
            require_owner(from, m.type);
            const auto admit = m.as<proto::Admit>();
            if (authenticator) authenticator->admit_run(std::set<std::string>(admit.keys.begin(), admit.keys.end()));
            reply(from, proto::encode(proto::Ok{"admitted"}));
        } else if (m.type == proto::Configure::kType) {
            require_owner(from, m.type);
            configure(m.as<proto::Configure>());
        } else if (m.type == proto::Calibrate::kType) {
            require_owner(from, m.type);
            reply(from, proto::encode(calibrate(m.as<proto::Calibrate>())));
        } else if (m.type == proto::Start::kType) {
            if (cfg.tp_rank == 0) require_owner(from, m.type);  // a follower's starts come from its leader
            const auto start = m.as<proto::Start>();
            const auto& ids = frame(m, 0, sizeof(int32_t));
            if (!of_this_run(start.run)) return;
            relay(m, start.group, -1);
            working_on = {start.group, 0};
            const auto values = proto::frame_values(ids, ids_scratch);
            emit(shard().start(start, values.data(), values.size()));
        } else if (m.type == proto::Forward::kType) {
            const auto f = m.as<proto::Forward>();
            const auto& hidden = frame(m, 0, 1);
            if (!of_this_run(f.run)) return;
            span(SpanKind::Receive, arrived, net::now_ns(), f.group, f.step, static_cast<int64_t>(hidden.size()));
            relay(m, f.group, f.step);
            working_on = {f.group, f.step};
            if (f.rows < 0 || f.cols < 0 || f.rows > (int64_t(1) << 24) || f.cols > (int64_t(1) << 24))
                throw Error("forward of " + std::to_string(f.rows) + " × " + std::to_string(f.cols) + " values: impossible");
            hidden_scratch.resize(static_cast<std::size_t>(f.rows * f.cols));
            decode_wire(f.wire, {static_cast<const std::byte*>(hidden.data()), hidden.size()}, hidden_scratch.size(),
                        hidden_scratch.data());
            emit(shard().forward(f, hidden_scratch.data(), hidden_scratch.size()));
        } else if (m.type == proto::Tokens::kType) {
            const auto t = m.as<proto::Tokens>();
            if (!of_this_run(t.run)) return;
            span(SpanKind::Receive, arrived, net::now_ns(), t.group, t.step, static_cast<int64_t>(t.tokens.size() * sizeof(int32_t)));
            relay(m, t.group, t.step);
            working_on = {t.group, t.step + 1};  // the step these tokens feed
            emit(shard().next_step(t));
        } else if (m.type == proto::Cancel::kType) {
            require_owner(from, m.type);
            const auto c = m.as<proto::Cancel>();
            if (of_this_run(c.run)) shard().cancel(c.ids);
        } else if (m.type == proto::Wake::kType) {
            // Its message is in a ring; the loop reads it next.
        } else if (m.type == proto::Stop::kType) {
            // The owner is done with this worker; a stop when free is one it already had.
            if (!owner.free()) require_owner(from, m.type);
            drop_run();
            owner.release();
            owner_changed();
            liveness->stop_watching();
            reply(from, proto::encode(proto::Ok{"stopped"}));
        } else {
            throw Error("unknown message type '" + m.type + "'");
        }
    }

    // How fast this machine computes a shard of the asked shape: measured
    // once (seconds; heartbeats go on answering meanwhile), then from this
    // worker's own cache of its machine's rates.
    proto::Calibration calibrate(const proto::Calibrate& c) {
        const ModelConfig config = parse_model_config(c.config_json, "calibrate");
        const auto formats = weight_formats();
        if (std::find(formats.begin(), formats.end(), c.weight_format) == formats.end())
            throw Error("calibrate: unknown weight format " + std::to_string(static_cast<int>(c.weight_format)));
        if (c.threads < 1 || c.threads > 1024 || c.tp_size < 1 || c.tp_size > config.n_head)
            throw Error("calibrate: " + std::to_string(c.threads) + " threads, tensor-parallel " + std::to_string(c.tp_size) +
                        ": out of range");
        if (!rates_here) rates_here = std::make_unique<MachineRates>();
        const int before = rates_here->measured();
        const NodeRates r = rates_here->rates(config, c.weight_format, {c.threads, c.tp_size, c.split_head});
        return {r.layer_ms, r.layer_row_ms, r.head_ms, r.head_row_ms, r.sample_ms, rates_here->measured() > before};
    }

    // Forgets the run: its shard, weights received for it, its links.
    void drop_run() {
        runner.reset();
        setup->clear();
        links.clear();
        tensor_parallel->clear();
    }

    // Whether a data message belongs to the run this worker has loaded. One
    // of a run it has left (the controller re-planned after a failure) is
    // dropped: that run's state is gone. Without a loaded run, refused.
    bool of_this_run(const std::string& run) {
        if (!runner) throw Error("not configured: no run is loaded here");
        if (run != cfg.run) return false;
        in_run = true;
        return true;
    }

    ShardRunner& shard() {
        if (!runner) throw Error("not configured: send configure first");
        return *runner;
    }

    static const zmq::message_t& frame(const proto::Message& m, std::size_t i, std::size_t element) {
        if (m.frames.size() <= i) throw Error(m.type + " message is missing its data frame");
        if (m.frames[i].size() % element)
            throw Error(m.type + " data frame of " + std::to_string(m.frames[i].size()) + " bytes is not whole elements");
        return m.frames[i];
    }

    void receive_weights(const proto::Message& m) {
        const auto& bytes = frame(m, 0, 1);
        reply(owner.identity(), proto::encode(setup->receive(m.as<proto::WeightChunk>(), bytes.data(), bytes.size())));
    }

    void configure(const proto::Configure& c) {
        const int64_t t0 = net::now_ns();
        runner.reset();  // a new run replaces the old shard
        ShardModel model = setup->open(c);
        cfg = c;
        for (const auto& warning : links.configure(c)) std::cerr << options.name << ": " << warning << std::endl;
        for (const auto& warning : tensor_parallel->configure(c)) std::cerr << options.name << ": " << warning << std::endl;
        runner = std::make_unique<ShardRunner>(
            c, model.config, *model.weights,
            [this](std::span<const float* const> mine, std::size_t n, float* sum, bool exact) { all_reduce(mine, n, sum, exact); });
        model = {};
        setup->clear();
        auto link_to = [](const proto::Peer& p) { return LinkModel{p.bandwidth_mbps, p.latency_ms, p.jitter_ms}; };
        if (c.next) links.connect(c.next->endpoint, c.next->key, link_to(*c.next), c.next->seed);
        if (c.first) links.connect(c.first->endpoint, c.first->key, link_to(*c.first), c.first->seed);
        for (const auto& follower : c.followers) links.connect(follower.endpoint, follower.key, link_to(follower), follower.seed);
        const int64_t t1 = net::now_ns();
        span(SpanKind::Load, t0, t1, -1, -1, runner->weight_bytes());
        proto::Configured done{runner->weight_bytes(), runner->kv_cache_bytes(), resident_bytes(), (t1 - t0) / 1e6, runner->describe()};
        reply(owner.identity(), proto::encode(done));
        flush_trace();
    }

    void all_reduce(std::span<const float* const> mine, std::size_t count, float* sum, bool exact) {
        const int64_t t0 = net::now_ns();
        const WireFormat wire = exact ? WireFormat::F32 : cfg.wire;
        tensor_parallel->all_reduce(mine, count, sum, wire, [this] { return owner_calls(); });
        // Bytes received: the partials of the ranks held elsewhere.
        span(SpanKind::AllReduce, t0, net::now_ns(), working_on.group, working_on.step,
             static_cast<int64_t>(wire_bytes(wire, count) * (cfg.tp_size - cfg.tp_ranks)), "", {}, Transport::None,
             tensor_parallel->last_emulated());
    }

    void emit(StepOutput out) {
        if (out.empty) return;
        const int group = out.is_tokens ? out.tokens.group : out.forward.group;
        const int step = out.is_tokens ? out.tokens.step : out.forward.step;
        span(out.window_shift ? SpanKind::WindowShift : SpanKind::Compute, out.compute_t0, out.compute_t1, group, step, 0, "",
             out.sequences);
        if (cfg.tp_rank == 0) {
            if (!out.is_tokens) {
                if (cfg.next) {
                    const int64_t t0 = net::now_ns();
                    out.forward.wire = cfg.wire;  // the encoding is part of the send's time
                    const std::vector<std::byte> encoded = encode_wire(cfg.wire, out.hidden.data(), out.hidden.size());
                    const std::size_t bytes = encoded.size();
                    proto::Parts frames;
                    frames.push_back(proto::frame_of(encoded.data(), bytes));
                    sent(links.send(cfg.next->endpoint, proto::encode(out.forward, std::move(frames))), t0, group, step,
                         static_cast<int64_t>(bytes), cfg.next->endpoint, out.sequences);
                }
            } else {
                span(SpanKind::Sample, out.sample_t0, out.sample_t1, group, step, 0, "", out.sequences);
                if (cfg.first) {
                    const int64_t t0 = net::now_ns();
                    sent(links.send(cfg.first->endpoint, proto::encode(out.tokens)), t0, group, step,
                         static_cast<int64_t>(out.tokens.tokens.size() * sizeof(int32_t)), cfg.first->endpoint, out.sequences);
                }
                proto::Parts frames;
                if (!out.logits.empty()) frames.push_back(proto::frame_of(out.logits.data(), out.logits.size() * sizeof(float)));
                reply(owner.identity(), proto::encode(out.tokens, std::move(frames)));
            }
        }
        flush_trace();
    }
};

WorkerService::WorkerService(WorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
WorkerService::~WorkerService() = default;
const std::string& WorkerService::endpoint() const { return impl_->endpoint; }
void WorkerService::serve(const std::atomic<bool>& stop) { impl_->serve(stop); }

}  // namespace distgpt
