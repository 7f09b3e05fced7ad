#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "engine/local_engine.h"

#include "model/stage.h"
#include "sample/context_window.h"
#include "util/error.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/log_softmax.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace distgpt {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

at::Tensor ids_tensor(std::vector<int64_t>& ids) {
    return at::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, at::TensorOptions().dtype(at::kLong));
}

}  // namespace

struct LocalEngine::Impl {
    ModelConfig config;
    const Tokenizer& tokenizer;
    Stage stage;
    std::vector<std::pair<int, int>> unspellable;  // ids the model has and the tokenizer cannot spell
    std::vector<int> end_of_text;

    Impl(const OpenedModel& m, int threads, int slots, int context)
        : config(m.config),
          tokenizer(*m.tokenizer),
          stage(load_stage_weights(*m.weights, m.config, ShardSpec::whole(m.config), m.weight_format), slots,
                context > 0 ? context : m.config.n_positions, threads) {
        unspellable = tokenizer.unspellable_ids(config.vocab_size);
        end_of_text = end_of_text_ids(m);
    }

    int sample(Sampler& sampler, float* logits, SequenceResult& seq, bool keep) {
        for (auto [begin, end] : unspellable) std::fill(logits + begin, logits + end, -std::numeric_limits<float>::infinity());
        if (keep) seq.logits.emplace_back(logits, logits + config.vocab_size);
        return sampler.sample({logits, static_cast<std::size_t>(config.vocab_size)});
    }
};

LocalEngine::LocalEngine(const OpenedModel& model, int threads, int slots, int context)
    : impl_(std::make_unique<Impl>(model, threads, slots, context)) {}

LocalEngine::~LocalEngine() = default;

int64_t LocalEngine::weight_bytes() const { return impl_->stage.weight_bytes(); }
int LocalEngine::context() const { return impl_->stage.max_context(); }

GenerationResult LocalEngine::generate(const std::vector<std::vector<int>>& prompts, const GenerateOptions& options,
                                       const std::function<void(const TokenEvent&)>& on_token) {
    auto& stage = impl_->stage;
    const int n = static_cast<int>(prompts.size());
    if (n == 0) throw Error("nothing to generate: no prompts");
    if (n > stage.slots())
        throw Error(std::to_string(n) + " prompts but the engine has " + std::to_string(stage.slots()) + " sequence slots");
    if (options.max_new_tokens < 1) throw Error("max-new-tokens must be at least 1");
    for (int i = 0; i < n; ++i) {
        if (prompts[i].empty()) throw Error("prompt " + std::to_string(i + 1) + " is empty");
        if (static_cast<int>(prompts[i].size()) >= stage.max_context())
            throw Error("prompt " + std::to_string(i + 1) + " has " + std::to_string(prompts[i].size()) + " tokens; the context holds " +
                        std::to_string(stage.max_context()) + ", and at least one must be left to generate. Shorten the prompt.");
    }

    GenerationResult result;
    std::vector<Sampler> samplers;
    for (int i = 0; i < n; ++i) {
        SamplingParams p = options.sampling;
        p.seed += static_cast<uint64_t>(i);
        samplers.emplace_back(p);
        result.sequences.push_back({prompts[i], {}, FinishReason::Length, {}});
    }
    const auto start = Clock::now();
    std::vector<bool> done(n, false);
    const StopRule stop{impl_->end_of_text, options.stop_at_eos, options.max_new_tokens};
    const ContextWindow window = ContextWindow::of(stage.max_context(), options.keep);
    const WindowShift shift_by = window_shift_for(impl_->config.positions());
    std::vector<int> last(n);
    std::vector<int> dropped(n, 0);  // per sequence: tokens before its window

    auto accept = [&](int i, int token, int step, double latency, bool shifted = false) {
        auto& seq = result.sequences[i];
        seq.generated_ids.push_back(token);
        if (on_token) on_token({i, step, token, ms_between(start, Clock::now()), latency, shifted});
        if (const auto finish = stop.after(token, static_cast<int>(seq.generated_ids.size()))) {
            done[i] = true;
            seq.finish = *finish;
        }
        last[i] = token;
    };

    // Prefill: each prompt is one segment of one pass.
    {
        const auto t0 = Clock::now();
        std::vector<int64_t> ids;
        std::vector<Segment> segments;
        for (int i = 0; i < n; ++i) {
            ids.insert(ids.end(), prompts[i].begin(), prompts[i].end());
            segments.push_back({i, 0, static_cast<int>(prompts[i].size())});
        }
        at::Tensor logits = stage.forward(ids_tensor(ids), segments).contiguous();  // [n, V]
        result.prefill_ms = ms_between(t0, Clock::now());
        for (int i = 0; i < n; ++i)
            accept(i, impl_->sample(samplers[i], logits[i].data_ptr<float>(), result.sequences[i], options.keep_logits), 0,
                   result.prefill_ms);
    }

    // Decode: every unfinished sequence advances one token per pass; one
    // whose window is full first shifts it to its last `keep` tokens.
    for (int step = 1;; ++step) {
        std::vector<int64_t> ids;
        std::vector<Segment> segments;
        std::vector<int> who;
        std::vector<bool> shifted;  // by entry of `who`
        for (int i = 0; i < n; ++i) {
            if (done[i]) continue;
            const auto& seq = result.sequences[i];
            const int length = static_cast<int>(seq.prompt_ids.size() + seq.generated_ids.size());
            const int pos = length - 1 - dropped[i];  // where the last token goes in the window
            const bool full = window.full(pos);
            if (full) dropped[i] = length - window.keep;
            if (full && shift_by == WindowShift::Reprefill) {
                for (int t = dropped[i]; t < length; ++t)
                    ids.push_back(t < static_cast<int>(seq.prompt_ids.size()) ? seq.prompt_ids[t]
                                                                              : seq.generated_ids[t - seq.prompt_ids.size()]);
                segments.push_back({i, 0, window.keep});
            } else if (full) {
                ids.push_back(last[i]);
                segments.push_back({i, window.keep - 1, 1, window.slide_from(pos)});
            } else {
                ids.push_back(last[i]);
                segments.push_back({i, pos, 1});
            }
            shifted.push_back(full);
            who.push_back(i);
        }
        if (who.empty()) break;
        const auto t0 = Clock::now();
        at::Tensor logits = stage.forward(ids_tensor(ids), segments).contiguous();  // [active, V]
        std::vector<int> tokens;
        for (std::size_t j = 0; j < who.size(); ++j)
            tokens.push_back(impl_->sample(samplers[who[j]], logits[static_cast<int64_t>(j)].data_ptr<float>(), result.sequences[who[j]],
                                           options.keep_logits));
        const double latency = ms_between(t0, Clock::now());
        result.decode_ms += latency;
        result.decode_steps += 1;
        result.decode_tokens += static_cast<int>(who.size());
        const auto shifts = std::count(shifted.begin(), shifted.end(), true);
        result.window_shifts += static_cast<int>(shifts);
        if (shifts) result.window_shift_ms += latency;
        for (std::size_t j = 0; j < who.size(); ++j) accept(who[j], tokens[j], step, latency, shifted[j]);
    }
    return result;
}

EvalResult LocalEngine::evaluate(const std::vector<int>& ids, int context) {
    auto& stage = impl_->stage;
    if (context < 2 || context > stage.max_context())
        throw Error("eval context must be 2.." + std::to_string(stage.max_context()) + ", got " + std::to_string(context));
    if (ids.size() < 2) throw Error("eval needs a text of at least two tokens");
    EvalResult r;
    double total = 0;
    // Window w covers tokens [start, start + len); it predicts tokens start+1 .. start+len-1,
    // and the next window starts at its last token, so every token but the first is predicted once.
    for (std::size_t start = 0; start + 1 < ids.size(); start += context - 1) {
        const int len = static_cast<int>(std::min<std::size_t>(context, ids.size() - start));
        std::vector<int64_t> window(ids.begin() + start, ids.begin() + start + len);
        const Segment segment{0, 0, len};
        at::Tensor logits = stage.forward(ids_tensor(window), {&segment, 1}, LogitRows::All);  // [len, V]
        const at::Tensor logp = at::log_softmax(logits, -1).contiguous();                      // [len, V]
        const float* lp = logp.data_ptr<float>();
        for (int t = 0; t + 1 < len; ++t) total -= lp[static_cast<int64_t>(t) * impl_->config.vocab_size + window[t + 1]];
        r.tokens += len - 1;
        r.windows += 1;
    }
    r.mean_cross_entropy = total / static_cast<double>(r.tokens);
    r.perplexity = std::exp(r.mean_cross_entropy);
    return r;
}

}  // namespace distgpt
