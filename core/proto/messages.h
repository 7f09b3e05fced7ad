#pragma once
// The messages between controller and workers, and between workers. Each is
// a multipart ZeroMQ message: a msgpack header {v, type, body}, then raw
// tensor frames (fp32 or int32, little-endian, row-major). docs/protocol.md
// describes who sends each one and when.
#include "net/transport.h"
#include "plan/partial_sum_wait.h"
#include "sample/stop_rule.h"
#include "trace/span_kind.h"
#include "proto/wire_format.h"
#include "weights/weight_format.h"

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Span kinds travel as their numbers; a receiver checks the range.
MSGPACK_ADD_ENUM(distgpt::SpanKind);
MSGPACK_ADD_ENUM(distgpt::FinishReason);
MSGPACK_ADD_ENUM(distgpt::Transport);
MSGPACK_ADD_ENUM(distgpt::WireFormat);
MSGPACK_ADD_ENUM(distgpt::PartialSumWait);

namespace distgpt::proto {

constexpr int kProtocolVersion = 2;  // 2: span kinds as enums; no hop delay

struct Hello {
    static constexpr const char* kType = "hello";
    std::string controller;  // who asks: shown to a second controller as the owner
    MSGPACK_DEFINE_MAP(controller);
};

struct HelloReply {
    static constexpr const char* kType = "hello_reply";
    std::string name, host, version;
    int cores = 0, threads = 0;
    int64_t memory_total = 0, memory_limit = 0;  // bytes; limit 0 = none
    std::string model_dir;                       // "" when the worker has no model on disk
    std::string collective_endpoint;             // where tensor-parallel peers push partial sums
    std::string heartbeat_endpoint;              // answered by its own thread, even mid-compute
    std::string public_key;                      // CURVE, Z85: peers connect to a secured worker with it
    bool curve = false;                          // the worker admits only authorized keys
    std::string boot_id;                         // same as the controller's: same machine, same monotonic clock
    int64_t refused_messages = 0;                // malformed or unwelcome messages refused since it started
    MSGPACK_DEFINE_MAP(name, host, version, cores, threads, memory_total, memory_limit, model_dir, collective_endpoint, heartbeat_endpoint,
                       public_key, curve, boot_id, refused_messages);
};

// Controller <-> worker, every 500 ms each way on the heartbeat sockets.
struct Heartbeat {
    static constexpr const char* kType = "heartbeat";
    std::string controller;
    int64_t sent_ns = 0;
    MSGPACK_DEFINE_MAP(controller, sent_ns);
};

struct Ping {
    static constexpr const char* kType = "ping";
    int64_t controller_ns = 0;
    MSGPACK_DEFINE_MAP(controller_ns);
};

struct Pong {
    static constexpr const char* kType = "pong";
    int64_t controller_ns = 0, worker_ns = 0;
    MSGPACK_DEFINE_MAP(controller_ns, worker_ns);
};

// One tensor of a shard, sent by a controller to a worker that lacks the
// model; large tensors come in several chunks. Frame 1: the chunk's bytes.
struct WeightChunk {
    static constexpr const char* kType = "weight_chunk";
    std::string name, dtype;  // dtype as safetensors spells it
    std::vector<int64_t> shape;
    uint64_t offset = 0, total = 0;  // of this chunk within the tensor's bytes
    uint64_t shard_bytes_sent = 0, shard_bytes_total = 0;
    MSGPACK_DEFINE_MAP(name, dtype, shape, offset, total, shard_bytes_sent, shard_bytes_total);
};

struct WeightAck {
    static constexpr const char* kType = "weight_ack";
    uint64_t received = 0, total = 0;
    MSGPACK_DEFINE_MAP(received, total);
};

// Where a worker takes its shard's weights from, as the controller decided.
enum class ShardWeights : std::uint8_t {
    Disk,      // its own --model-dir, or model_dir
    Random,    // drawn from random_shape and random_seed
    Streamed,  // the weight chunks the controller sent before
};

// Another worker this one sends to: its endpoint, and its CURVE server key
// ("" when it does not authenticate; its own key was admitted by `admit`).
struct Peer {
    std::string endpoint, key;
    // The link to it, emulated by the sender (topology networks and links); all 0: as it is.
    double bandwidth_mbps = 0, latency_ms = 0, jitter_ms = 0;
    uint64_t seed = 0;  // of the link's jitter
    MSGPACK_DEFINE_MAP(endpoint, key, bandwidth_mbps, latency_ms, jitter_ms, seed);
};

struct Configure {
    static constexpr const char* kType = "configure";
    std::string run;
    ShardWeights weights = ShardWeights::Disk;
    std::string model_dir, random_shape, config_json;  // config_json: the model's config.json, for "streamed"
    uint64_t random_seed = 0;
    int layer_begin = 0, layer_end = 0;
    bool embedding = false, head = false;
    int tp_rank = 0, tp_size = 1;
    int tp_ranks = 1;  // ranks tp_rank .. tp_rank + tp_ranks - 1 (several after a re-plan)
    int stage = 0, stages = 1;
    int slots = 1, context = 0, threads = 1;
    // A tensor-parallel stage is led by its rank 0: it alone receives the
    // stage's starts, forwards and tokens, and relays each to its followers
    // before computing, so every rank takes them in the same order.
    std::optional<Peer> next;          // the next stage's rank 0 (none on the last stage)
    std::optional<Peer> first;         // stage 0's rank 0, where the last stage sends tokens (the last stage only)
    std::vector<Peer> followers;       // rank 0 only: the other nodes of this stage
    std::vector<Peer> tp_peers;        // the collective endpoint of each rank of this stage, in rank order (a node once per rank it holds)
    bool return_logits = false;        // the last stage sends each sampled row's logits (tests, debugging)
    std::vector<int> end_of_text_ids;  // the ids that end a text (none for a character model)
    std::vector<int> masked_ranges;    // [begin, end) pairs of ids never sampled: ids the tokenizer cannot spell
    // Shared memory between workers on one machine: `inbox` is this worker's
    // endpoint as its peers name it, `prev` those of the workers that send it
    // forwards or tokens; it makes a ring for each (docs/protocol.md).
    bool shared_memory = false;
    std::string inbox;
    std::vector<std::string> prev;
    WeightFormat weight_format = WeightFormat::F32;  // how the stage holds its matrices (the same on every node of a run)
    WireFormat wire = WireFormat::F32;               // how it sends activations and partial sums
    bool split_head = false;                         // the head by the vocabulary across its group (one machine, shared memory)
    // > 1: an emulated slower machine: each step takes this many times the
    // CPU work it took here (a local node declared slower than this machine).
    double slowdown = 1;
    // Block rather than spin for partial sums: the run's workers on this
    // worker's machine have more threads than it has cores (partial_sum_wait).
    PartialSumWait partial_sum_wait = PartialSumWait::Spin;
    MSGPACK_DEFINE_MAP(run, weights, model_dir, random_shape, config_json, random_seed, layer_begin, layer_end, embedding, head, tp_rank,
                       tp_size, stage, stages, slots, context, threads, next, first, tp_peers, return_logits, end_of_text_ids,
                       masked_ranges, shared_memory, inbox, prev, followers, tp_ranks, weight_format, wire, split_head, slowdown,
                       partial_sum_wait);
};

// Controller -> worker, on first contact when a prediction is asked: how
// fast does this machine compute a shard of this model? The worker measures
// once per shape (kept in its own cache) and answers with its rates.
struct Calibrate {
    static constexpr const char* kType = "calibrate";
    std::string config_json;  // the model's config.json
    WeightFormat weight_format = WeightFormat::F32;
    int threads = 1, tp_size = 1;
    bool split_head = false;
    MSGPACK_DEFINE_MAP(config_json, weight_format, threads, tp_size, split_head);
};

struct Calibration {
    static constexpr const char* kType = "calibration";
    double layer_ms = 0, layer_row_ms = 0, head_ms = 0, head_row_ms = 0, sample_ms = 0;
    bool measured = false;  // measured now, not found in the worker's cache
    MSGPACK_DEFINE_MAP(layer_ms, layer_row_ms, head_ms, head_row_ms, sample_ms, measured);
};

struct Configured {
    static constexpr const char* kType = "configured";
    int64_t weight_bytes = 0, kv_cache_bytes = 0, rss_bytes = 0;
    double load_ms = 0;
    std::string shard;  // "layers 0-3, embedding"
    MSGPACK_DEFINE_MAP(weight_bytes, kv_cache_bytes, rss_bytes, load_ms, shard);
};

// A sequence as every stage needs to know it.
struct Sequence {
    int64_t id = 0;
    int slot = 0;
    float temperature = 1, top_p = 1;
    int top_k = 0;
    uint64_t seed = 0;
    int max_new_tokens = 1;
    bool stop_at_eos = true;
    // Tokens already generated before a recovery: the last stage emits these
    // instead of its samples (still drawing, so its random stream stays in step).
    std::vector<int> forced;
    // Tokens the first stage keeps when the context fills and the window slides (1 .. context-1).
    int keep = 1;
    MSGPACK_DEFINE_MAP(id, slot, temperature, top_p, top_k, seed, max_new_tokens, stop_at_eos, forced, keep);
};

// Controller -> stage 0: start a micro-batch. Frame 1: the prompts' token
// ids, int32, concatenated; `lengths` splits them.
struct Start {
    static constexpr const char* kType = "start";
    std::string run;
    int group = 0;
    std::vector<Sequence> sequences;
    std::vector<int> lengths;
    MSGPACK_DEFINE_MAP(run, group, sequences, lengths);
};

struct Row {
    int64_t id = 0;
    int slot = 0, pos = 0, len = 1;
    int slide = 0;      // > 0: the sequence's full window slides first (model::Segment)
    bool stop = false;  // the controller cancelled the sequence: the last stage ends it at this row (finish Stopped)
    MSGPACK_DEFINE_MAP(id, slot, pos, len, slide, stop);
};

// Stage -> next stage: hidden states of a micro-batch. Frame 1: [rows,
// cols] in `wire`. At step 0 (prefill) `sequences` introduces the sequences.
struct Forward {
    static constexpr const char* kType = "forward";
    std::string run;
    int group = 0, step = 0;
    std::vector<Row> rows_of;
    std::vector<Sequence> sequences;
    int64_t rows = 0, cols = 0;
    WireFormat wire = WireFormat::F32;
    MSGPACK_DEFINE_MAP(run, group, step, rows_of, sequences, rows, cols, wire);
};

struct Token {
    int64_t id = 0;
    int slot = 0, pos = 0;  // pos: where the token goes in the sequence's window
    int token = 0;
    bool done = false;
    bool forced = false;                         // replayed after a recovery, not new
    FinishReason finish = FinishReason::Length;  // when done
    bool window_shift = false;                   // sampled after its full context shifted
    MSGPACK_DEFINE_MAP(id, slot, pos, token, done, forced, finish, window_shift);
};

// Last stage -> stage 0 and controller: one sampled token per sequence of a
// micro-batch; only ids travel back, never logits (unless return_logits:
// then frame 1 is fp32 [tokens, vocab]).
struct Tokens {
    static constexpr const char* kType = "tokens";
    std::string run;
    int group = 0, step = 0;
    std::vector<Token> tokens;
    int64_t sampled_ns = 0;
    int64_t vocab = 0;
    MSGPACK_DEFINE_MAP(run, group, step, tokens, sampled_ns, vocab);
};

// One timed span on a worker's own monotonic clock.
struct Span {
    SpanKind kind = SpanKind::Compute;
    int64_t t0 = 0, t1 = 0;
    int group = -1, step = -1;
    int layer_begin = 0, layer_end = 0;
    int64_t bytes = 0;
    std::string peer;  // for send and receive: the other end
    std::vector<int64_t> sequences;
    Transport transport = Transport::None;  // for a send: how it went
    // Over an emulated link, after the span (a send's) or inside it (an
    // all-reduce's slowest partial): time queued behind earlier bytes, on the
    // wire, and in latency. Not emulated: all zero and `emulated` false.
    bool emulated = false;
    int64_t queued_ns = 0, wire_ns = 0, latency_ns = 0;
    MSGPACK_DEFINE_MAP(kind, t0, t1, group, step, layer_begin, layer_end, bytes, peer, sequences, transport, emulated, queued_ns, wire_ns,
                       latency_ns);
};

struct Trace {
    static constexpr const char* kType = "trace";
    std::vector<Span> spans;
    int64_t rss_bytes = 0;
    MSGPACK_DEFINE_MAP(spans, rss_bytes);
};

// Tensor-parallel partial sum, pushed to each peer of the group: a frame of
// `count` values in `wire` for each rank the sender holds.
struct Partial {
    static constexpr const char* kType = "partial";
    int64_t counter = 0;
    int rank = 0;
    std::string run;
    int64_t count = 0;
    WireFormat wire = WireFormat::F32;
    MSGPACK_DEFINE_MAP(counter, rank, run, count, wire);
};

// Controller -> every worker of a run, before configure: the public keys of
// the run's workers, which a secured worker then admits as peers. Answered by ok.
struct Admit {
    static constexpr const char* kType = "admit";
    std::vector<std::string> keys;
    MSGPACK_DEFINE_MAP(keys);
};

// Worker -> worker: a forward or tokens message waits in the shared-memory
// ring from the sender, whose reader said it was about to block on ZeroMQ.
struct Wake {
    static constexpr const char* kType = "wake";
    std::string run;
    MSGPACK_DEFINE_MAP(run);
};

// Controller -> stage 0's leader: end these sequences (a client went away,
// or its text reached a stop string). Stage 0 marks each one's next row, so
// the last stage, every rank of it, ends the sequence at the same step and
// its slot comes back with a done token. Ids no longer running are ignored.
struct Cancel {
    static constexpr const char* kType = "cancel";
    std::string run;
    std::vector<int64_t> ids;
    MSGPACK_DEFINE_MAP(run, ids);
};

struct Stop {
    static constexpr const char* kType = "stop";
    std::string run;
    MSGPACK_DEFINE_MAP(run);
};

struct Ok {
    static constexpr const char* kType = "ok";
    std::string what;
    MSGPACK_DEFINE_MAP(what);
};

struct ErrorReply {
    static constexpr const char* kType = "error";
    std::string message;
    std::string in_reply_to;
    MSGPACK_DEFINE_MAP(message, in_reply_to);
};

}  // namespace distgpt::proto

MSGPACK_ADD_ENUM(distgpt::proto::ShardWeights);
MSGPACK_ADD_ENUM(distgpt::WeightFormat);
