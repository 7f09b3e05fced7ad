#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "runtime/worker/shard_runner.h"

#include "model/stage.h"
#include "runtime/configured_shard.h"
#include "net/sockets.h"
#include "sample/context_window.h"
#include "sample/sampler.h"
#include "util/error.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <cstring>
#include <ctime>
#include <deque>
#include <thread>
#include <limits>

namespace distgpt {

namespace {

// What the last stage knows of a sequence: how to sample it and when it ends.
struct SequenceState {
    proto::Sequence spec;
    int prompt_length = 0;
    int generated = 0;
    std::vector<int> forced;  // replayed tokens still to emit
    std::size_t next_forced = 0;
    std::unique_ptr<Sampler> sampler;
    // The first stage: the sequence's last tokens (at most a context's), for
    // when its window slides.
    std::deque<int> recent;
    bool cancelled = false;  // the first stage: its next row tells the last stage to end it
};

}  // namespace

// This process's CPU time, all its threads.
static int64_t process_cpu_ns() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// A row that shifts its sequence's full window: it slides it, or, after
// the prompt, starts again from position 0 (a re-prefill).
bool shifts_window(const proto::Row& r, int step) { return r.slide > 0 || (step > 0 && r.pos == 0); }

struct ShardRunner::Impl {
    proto::Configure cfg;
    ModelConfig config;
    Stage stage;
    std::map<int64_t, SequenceState> sequences;  // by id; on the last stage (and stage 0, for slots)

    Impl(const proto::Configure& c, const ModelConfig& model, const TensorSource& weights, AllReduce all_reduce)
        : cfg(c),
          config(model),
          stage(load_stage_weights(weights, model, configured_shard(c), c.weight_format), c.slots,
                c.context > 0 ? c.context : model.n_positions, c.threads) {
        stage.split_head_by_vocabulary(c.split_head);
        if (c.tp_ranks < c.tp_size)  // peers hold the other ranks
            stage.set_all_reduce([all_reduce](std::span<const at::Tensor> partials, Stage::PartialSums kind) {
                std::vector<const float*> mine;
                for (const auto& p : partials) mine.push_back(p.data_ptr<float>());  // contiguous, from Stage
                at::Tensor sum = at::empty(partials[0].sizes());                     // [N, C]
                all_reduce(mine, static_cast<std::size_t>(sum.numel()), sum.data_ptr<float>(), kind == Stage::PartialSums::Logits);
                return sum;
            });
    }

    void introduce(const std::vector<proto::Sequence>& specs, const std::vector<proto::Row>& rows) {
        for (std::size_t i = 0; i < specs.size(); ++i) {
            auto& s = sequences[specs[i].id];
            s.spec = specs[i];
            s.prompt_length = i < rows.size() ? rows[i].len : 0;
            s.generated = 0;
            s.forced = specs[i].forced;
            s.next_forced = 0;
            s.recent.clear();
            SamplingParams p{specs[i].temperature, specs[i].top_k, specs[i].top_p, specs[i].seed};
            s.sampler = std::make_unique<Sampler>(p);
        }
    }

    // The first stage keeps a context's worth of each sequence's tokens.
    void remember(SequenceState& s, const int64_t* ids, std::size_t count) const {
        s.recent.insert(s.recent.end(), ids, ids + count);
        while (static_cast<int>(s.recent.size()) > stage.max_context()) s.recent.pop_front();
    }

    StepOutput run(const at::Tensor& input, int group, int step, const std::vector<proto::Row>& rows,
                   const std::vector<proto::Sequence>& introduced) {
        std::vector<Segment> segments;
        StepOutput out;
        for (const auto& r : rows) {
            segments.push_back({r.slot, r.pos, r.len, r.slide});
            out.sequences.push_back(r.id);
            out.window_shift |= shifts_window(r, step);
        }
        out.compute_t0 = net::now_ns();
        const int64_t cpu_before = process_cpu_ns();
        at::Tensor result = stage.forward(input, segments).contiguous();  // [N, C] or [S, V]
        out.compute_t1 = net::now_ns();
        if (cfg.slowdown > 1) {
            // An emulated slower machine does `slowdown` times the work: the
            // step's own CPU time (per thread) stretched, not its wall time,
            // so a moment another process held the core is not stretched too.
            const double work_ns = double(process_cpu_ns() - cpu_before) / std::max(1, cfg.threads);
            out.compute_t1 += static_cast<int64_t>(work_ns * (cfg.slowdown - 1));
            std::this_thread::sleep_for(std::chrono::nanoseconds(out.compute_t1 - net::now_ns()));
        }
        out.empty = false;
        if (!cfg.head) {
            out.forward.run = cfg.run;
            out.forward.group = group;
            out.forward.step = step;
            out.forward.rows_of = rows;
            out.forward.sequences = introduced;
            out.forward.rows = result.size(0);
            out.forward.cols = result.size(1);
            out.hidden.assign(result.data_ptr<float>(), result.data_ptr<float>() + result.numel());
            return out;
        }
        out.is_tokens = true;
        out.sample_t0 = net::now_ns();
        out.tokens.run = cfg.run;
        out.tokens.group = group;
        out.tokens.step = step;
        const int64_t V = result.size(1);
        if (cfg.return_logits) {
            out.logits.assign(result.data_ptr<float>(), result.data_ptr<float>() + result.numel());
            out.tokens.vocab = V;
        }
        for (std::size_t i = 0; i < rows.size(); ++i) {
            auto it = sequences.find(rows[i].id);
            if (it == sequences.end())
                throw Error("tokens for sequence " + std::to_string(rows[i].id) + ", which this stage was never introduced to");
            auto& s = it->second;
            float* logits = result.data_ptr<float>() + static_cast<int64_t>(i) * V;
            for (int m = 0; m + 1 < static_cast<int>(cfg.masked_ranges.size()); m += 2)
                for (int id = cfg.masked_ranges[m]; id < cfg.masked_ranges[m + 1] && id < V; ++id)
                    logits[id] = -std::numeric_limits<float>::infinity();
            proto::Token t;
            t.id = rows[i].id;
            t.slot = rows[i].slot;
            t.pos = rows[i].pos + rows[i].len;
            t.window_shift = shifts_window(rows[i], step);
            t.token = s.sampler->sample({logits, static_cast<std::size_t>(V)});
            if (s.next_forced < s.forced.size()) {
                t.token = s.forced[s.next_forced++];
                t.forced = true;
            }
            s.generated += 1;
            const StopRule stop{cfg.end_of_text_ids, s.spec.stop_at_eos, s.spec.max_new_tokens};
            if (const auto finish = stop.after(t.token, s.generated)) {
                t.done = true;
                t.finish = *finish;
            } else if (rows[i].stop) {
                t.done = true;
                t.finish = FinishReason::Stopped;
            }
            if (t.done) sequences.erase(it);
            out.tokens.tokens.push_back(t);
        }
        out.sample_t1 = net::now_ns();
        out.tokens.sampled_ns = out.sample_t1;
        return out;
    }
};

ShardRunner::ShardRunner(const proto::Configure& configure, const ModelConfig& config, const TensorSource& weights, AllReduce all_reduce)
    : impl_(std::make_unique<Impl>(configure, config, weights, std::move(all_reduce))) {}

ShardRunner::~ShardRunner() = default;

StepOutput ShardRunner::start(const proto::Start& start, const int32_t* ids, std::size_t count) {
    if (!impl_->cfg.embedding) throw Error("start sent to a stage without the embedding (stage " + std::to_string(impl_->cfg.stage) + ")");
    if (start.lengths.size() != start.sequences.size())
        throw Error("start: " + std::to_string(start.lengths.size()) + " lengths for " + std::to_string(start.sequences.size()) +
                    " sequences");
    std::vector<int64_t> tokens(ids, ids + count);
    std::vector<proto::Row> rows;
    std::size_t total = 0;
    for (std::size_t i = 0; i < start.sequences.size(); ++i) {
        if (start.lengths[i] < 1) throw Error("start: sequence " + std::to_string(start.sequences[i].id) + " has an empty prompt");
        rows.push_back({start.sequences[i].id, start.sequences[i].slot, 0, start.lengths[i]});
        total += static_cast<std::size_t>(start.lengths[i]);
    }
    if (total != count)
        throw Error("start: lengths add up to " + std::to_string(total) + " but " + std::to_string(count) + " token ids came");
    impl_->introduce(start.sequences, rows);
    std::size_t at = 0;
    for (std::size_t i = 0; i < start.sequences.size(); ++i) {
        impl_->remember(impl_->sequences[start.sequences[i].id], tokens.data() + at, static_cast<std::size_t>(start.lengths[i]));
        at += static_cast<std::size_t>(start.lengths[i]);
    }
    const at::Tensor input = at::from_blob(tokens.data(), {static_cast<int64_t>(count)}, at::TensorOptions().dtype(at::kLong));
    return impl_->run(input, start.group, 0, rows, start.sequences);
}

StepOutput ShardRunner::forward(const proto::Forward& f, const float* hidden, std::size_t count) {
    const int64_t C = impl_->config.n_embd;
    if (f.cols != C || f.rows < 1 || static_cast<std::size_t>(f.rows * f.cols) != count)
        throw Error("forward: hidden states of [" + std::to_string(f.rows) + ", " + std::to_string(f.cols) + "] with " +
                    std::to_string(count) + " values; this model is " + std::to_string(C) + " wide");
    // Only the last stage keeps a state per sequence past stage 0 (its sampler).
    if (f.step == 0 && impl_->cfg.head) impl_->introduce(f.sequences, f.rows_of);
    std::vector<float> copy(hidden, hidden + count);  // the frame's bytes may not be aligned for fp32
    const at::Tensor input = at::from_blob(copy.data(), {f.rows, f.cols}, at::TensorOptions().dtype(at::kFloat));
    return impl_->run(input, f.group, f.step, f.rows_of, f.step == 0 ? f.sequences : std::vector<proto::Sequence>{});
}

StepOutput ShardRunner::next_step(const proto::Tokens& tokens) {
    std::vector<int64_t> ids;
    std::vector<proto::Row> rows;
    for (const auto& t : tokens.tokens) {
        if (t.done) {
            impl_->sequences.erase(t.id);
            continue;
        }
        const auto it = impl_->sequences.find(t.id);
        if (it == impl_->sequences.end())
            throw Error("a token for sequence " + std::to_string(t.id) + ", which this stage was never introduced to");
        auto& s = it->second;
        const int64_t token = t.token;
        impl_->remember(s, &token, 1);
        // A full window shifts to the sequence's last `keep` tokens.
        const ContextWindow window{impl_->stage.max_context(), s.spec.keep};
        if (window.full(t.pos)) {
            if (s.spec.keep < 1 || s.spec.keep >= window.context || static_cast<int>(s.recent.size()) < s.spec.keep)
                throw Error("sequence " + std::to_string(t.id) + " fills its context but keeps " + std::to_string(s.spec.keep) +
                            " tokens of a " + std::to_string(window.context) + "-token context");
            if (window_shift_for(impl_->config.positions()) == WindowShift::Slide) {
                ids.push_back(t.token);
                rows.push_back({t.id, t.slot, s.spec.keep - 1, 1, window.slide_from(t.pos)});
            } else {
                ids.insert(ids.end(), s.recent.end() - s.spec.keep, s.recent.end());
                rows.push_back({t.id, t.slot, 0, s.spec.keep});
            }
        } else {
            ids.push_back(t.token);
            rows.push_back({t.id, t.slot, t.pos, 1});
        }
        rows.back().stop = s.cancelled;
    }
    if (ids.empty()) return {};
    const at::Tensor input = at::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, at::TensorOptions().dtype(at::kLong));
    return impl_->run(input, tokens.group, tokens.step + 1, rows, {});
}

void ShardRunner::cancel(const std::vector<int64_t>& ids) {
    if (!impl_->cfg.embedding) throw Error("cancel sent to a stage without the embedding (stage " + std::to_string(impl_->cfg.stage) + ")");
    for (const int64_t id : ids)
        if (auto it = impl_->sequences.find(id); it != impl_->sequences.end()) it->second.cancelled = true;
}

int64_t ShardRunner::weight_bytes() const { return impl_->stage.weight_bytes(); }
int64_t ShardRunner::kv_cache_bytes() const { return impl_->stage.kv_cache_bytes(); }
std::string ShardRunner::describe() const { return impl_->stage.shard().describe(); }

}  // namespace distgpt
