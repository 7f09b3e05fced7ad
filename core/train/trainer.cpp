#include "train/trainer.h"

#include "model/random_model.h"
#include "model/rotary.h"
#include "model/tensor_map_source.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/hf_model_writer.h"
#include "weights/safetensors.h"
#include "weights/safetensors_writer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

namespace distgpt {
namespace {

using Clock = std::chrono::steady_clock;
using Params = std::map<std::string, at::Tensor>;

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// B windows of T+1 tokens from `tokens`, at offsets drawn from `key` alone.
std::pair<at::Tensor, at::Tensor> batch_at(const std::vector<int64_t>& tokens, int B, int T, uint64_t key) {
    at::Tensor x = at::empty({B, T}, at::kLong), y = at::empty({B, T}, at::kLong);  // [B, T]
    auto* xp = x.data_ptr<int64_t>();
    auto* yp = y.data_ptr<int64_t>();
    const uint64_t span = tokens.size() - T - 1;
    for (int b = 0; b < B; ++b) {
        const std::size_t start = splitmix64(key + static_cast<uint64_t>(b)) % span;
        std::copy_n(tokens.begin() + start, T, xp + b * T);
        std::copy_n(tokens.begin() + start + 1, T, yp + b * T);
    }
    return {x, y};
}

// Turns q or k [B, H, T, D] by their positions (rotate-half, as the Stage).
at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    const int64_t half = x.size(-1) / 2;
    const at::Tensor a = x.narrow(-1, 0, half), b = x.narrow(-1, half, half);  // [B, H, T, D/2]
    return at::cat({a * cos - b * sin, b * cos + a * sin}, -1);                // [B, H, T, D]
}

// The forward of nanoGPT's model.py, for either family's block, on the
// checkpoint's own tensors (GPT-2's Conv1D [in, out], nn.Linear [out, in]),
// returning the mean cross-entropy.
at::Tensor loss_of(const Params& P, const ModelConfig& c, const at::Tensor& idx, const at::Tensor& targets, double dropout = 0) {
    const CheckpointLayout layout(c);
    // Where nanoGPT drops: the embedding, and each branch before it joins the residual (not the attention weights here).
    auto drop = [&](const at::Tensor& t) { return dropout > 0 ? at::dropout(t, dropout, true) : t; };
    using R = TensorRole;
    const int64_t B = idx.size(0), T = idx.size(1), C = c.n_embd, H = c.n_head, KV = c.kv_heads(), D = c.head_dim();
    auto has = [&](R role, int layer = -1) { return layout.find(role, layer) != nullptr; };
    auto p = [&](R role, int layer = -1) -> const at::Tensor& { return P.at(layout.find(role, layer)->name); };
    // [B, T, in] -> [B, T, out], the weight stored as the layout says, the bias if the family has one.
    auto dense = [&](const at::Tensor& x, R weight, R bias, int layer) {
        const CheckpointTensor* w = layout.find(weight, layer);
        const at::Tensor W = w->in_out ? P.at(w->name) : P.at(w->name).t();  // [in, out]
        at::Tensor y = at::matmul(x, W);
        return has(bias, layer) ? y + p(bias, layer) : y;
    };
    auto norm = [&](const at::Tensor& x, R weight, R bias, int layer) {
        if (c.norm() == NormKind::LayerNorm) return at::layer_norm(x, {C}, p(weight, layer), p(bias, layer), c.norm_eps);
        return x * at::rsqrt(x.pow(2).mean(-1, true) + c.norm_eps) * p(weight, layer);  // RMSNorm
    };
    auto activate = [&](const at::Tensor& u) {
        switch (c.activation) {
            case Activation::GeluTanh: return at::gelu(u, "tanh");
            case Activation::GeluErf: return at::gelu(u);
            case Activation::Relu: return at::relu(u);
            case Activation::Silu: return at::silu(u);
        }
        return u;
    };
    const at::Tensor future = at::ones({T, T}, at::kBool).triu(1);  // [T, T]
    at::Tensor cos, sin;                                            // [T, D/2]
    if (c.positions() == Positions::Rotary) {
        const auto inv = RotaryTable::inverse_frequencies(c);
        const at::Tensor angles = at::outer(at::arange(T, at::kFloat), at::tensor(inv));  // [T, D/2]
        cos = angles.cos();
        sin = angles.sin();
    }

    at::Tensor x = at::embedding(p(R::TokenEmbedding), idx);  // [B, T, C]
    if (c.positions() == Positions::Learned) x = x + at::embedding(p(R::PositionEmbedding), at::arange(T, at::kLong));
    x = drop(x);  // [B, T, C]
    for (int l = 0; l < c.n_layer; ++l) {
        at::Tensor h = norm(x, R::AttnNorm, R::AttnNormBias, l);  // [B, T, C]
        at::Tensor q, k, v;
        if (has(R::Qkv, l)) {
            const auto qkv = dense(h, R::Qkv, R::QkvBias, l).split(C, -1);  // 3 × [B, T, C]
            q = qkv[0];
            k = qkv[1];
            v = qkv[2];
        } else {
            q = dense(h, R::Q, R::QBias, l);  // [B, T, H·D]
            k = dense(h, R::K, R::KBias, l);  // [B, T, KV·D]
            v = dense(h, R::V, R::VBias, l);  // [B, T, KV·D]
        }
        q = q.view({B, T, H, D}).transpose(1, 2);   // [B, H, T, D]
        k = k.view({B, T, KV, D}).transpose(1, 2);  // [B, KV, T, D]
        v = v.view({B, T, KV, D}).transpose(1, 2);  // [B, KV, T, D]
        if (c.positions() == Positions::Rotary) {
            q = rotate(q, cos, sin);
            k = rotate(k, cos, sin);
        }
        if (KV != H) {                           // each key/value head serves its group of query heads
            k = k.repeat_interleave(H / KV, 1);  // [B, H, T, D]
            v = v.repeat_interleave(H / KV, 1);  // [B, H, T, D]
        }
        at::Tensor att = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(D)));  // [B, H, T, T]
        att = at::softmax(att.masked_fill(future, -INFINITY), -1);                           // [B, H, T, T]
        const at::Tensor y = at::matmul(att, v).transpose(1, 2).reshape({B, T, H * D});      // [B, T, H·D]
        x = x + drop(dense(y, R::AttnOut, R::AttnOutBias, l));                               // [B, T, C]
        h = norm(x, R::MlpNorm, R::MlpNormBias, l);                                          // [B, T, C]
        const at::Tensor u = c.gated_mlp() ? activate(dense(h, R::Gate, R::GateBias, l)) * dense(h, R::Up, R::UpBias, l)
                                           : activate(dense(h, R::Up, R::UpBias, l));  // [B, T, F]
        x = x + drop(dense(u, R::Down, R::DownBias, l));                               // [B, T, C]
    }
    x = norm(x, R::FinalNorm, R::FinalNormBias, -1);                                             // [B, T, C]
    const at::Tensor logits = at::matmul(x, p(has(R::Head) ? R::Head : R::TokenEmbedding).t());  // [B, T, V]
    return at::cross_entropy_loss(logits.view({B * T, c.vocab_size}), targets.view({B * T}));
}

double learning_rate(const TrainOptions& o, int step) {
    if (step < o.warmup) return o.lr * (step + 1) / o.warmup;
    const double progress = std::min(1.0, double(step - o.warmup) / std::max(1, o.steps - o.warmup));
    const double min_lr = o.lr * o.min_lr_ratio;
    return min_lr + 0.5 * (1 + std::cos(M_PI * progress)) * (o.lr - min_lr);
}

Params copy_of(const TensorSource& source, const ModelConfig& c) {
    Params P;
    const auto in = CheckpointLayout(c, source).tensors();
    const auto out = CheckpointLayout(c).tensors();
    for (std::size_t i = 0; i < in.size(); ++i) {
        const TensorView v = source.get(in[i].name);
        if (v.dtype != DType::F32 || v.shape != in[i].shape) throw Error(source.describe() + ": '" + v.name + "' is not F32 " + in[i].name);
        P[out[i].name] = at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::kFloat).clone();
        source.release(v);
    }
    return P;
}

struct Optimizer {
    Params m, v;
};

void save_checkpoint(const TrainOptions& o, const ModelConfig& c, const Params& P, const Optimizer& opt, const Tokenizer& tokenizer,
                     int step, double train_loss, double val_loss, double seconds) {
    write_hf_model_folder(o.out, c, TensorMapSource(P, "the model in training"), tokenizer);
    std::vector<TensorToWrite> state;
    std::vector<at::Tensor> keep;
    for (const auto* which : {&opt.m, &opt.v})
        for (const auto& [name, t] : *which) {
            keep.push_back(t.contiguous());
            state.push_back({{(which == &opt.m ? "m." : "v.") + name, DType::F32, t.sizes().vec()}, keep.back().data_ptr()});
        }
    write_safetensors(o.out / "optimizer.safetensors", state);
    const nlohmann::json j = {
        {"step", step},
        {"train_loss", train_loss},
        {"val_loss", val_loss},
        {"seconds", seconds},
        {"options",
         {{"text", o.text.string()},
          {"tokenizer", o.tokenizer},
          {"arch", family_name(c.family)},
          {"layers", c.n_layer},
          {"heads", c.n_head},
          {"kv_heads", c.kv_heads()},
          {"hidden", c.hidden()},
          {"embd", c.n_embd},
          {"context", c.n_positions},
          {"steps", o.steps},
          {"batch", o.batch},
          {"lr", o.lr},
          {"warmup", o.warmup},
          {"weight_decay", o.weight_decay},
          {"dropout", o.dropout},
          {"grad_clip", o.grad_clip},
          {"seed", o.seed},
          {"threads", o.threads}}},
    };
    std::ofstream(o.out / "trainer_state.json") << j.dump(2) << "\n";
}

// The model, tokenizer and optimizer being trained, and how far they are.
struct Training {
    ModelConfig config;
    std::unique_ptr<Tokenizer> tokenizer;
    Params params;
    Optimizer optimizer;
    int start_step = 0;
    double seconds_before = 0;  // spent in earlier sessions
};

// As a checkpoint left them: weights, optimizer moments, step and time.
Training resume(const std::filesystem::path& dir) {
    Training t;
    t.config = read_model_config(dir);
    t.tokenizer = load_tokenizer(dir);
    SafetensorsCheckpoint weights(dir);
    t.params = copy_of(weights, t.config);
    SafetensorsFile state(dir / "optimizer.safetensors");
    for (const auto& [name, p] : t.params) {
        for (auto [prefix, target] : {std::pair{"m.", &t.optimizer.m}, {"v.", &t.optimizer.v}}) {
            const TensorView* view = state.find(prefix + name);
            if (!view) throw Error(state.path().string() + ": no optimizer state for '" + name + "'");
            (*target)[name] = at::from_blob(const_cast<std::byte*>(view->data), view->shape, at::kFloat).clone();
        }
    }
    std::ifstream sj(dir / "trainer_state.json");
    const auto j = nlohmann::json::parse(sj, nullptr, false);
    if (!j.is_object() || !j.contains("step")) throw Error((dir / "trainer_state.json").string() + ": missing or unreadable");
    t.start_step = j["step"].get<int>();
    t.seconds_before = j.value("seconds", 0.0);
    return t;
}

// A new model of the options' shape, drawn from their seed; zero moments.
Training start_fresh(const TrainOptions& o, const std::string& text) {
    Training t;
    if (o.tokenizer == "char")
        t.tokenizer = CharTokenizer::from_text(text);
    else if (o.tokenizer == "gpt2")
        t.tokenizer =
            load_tokenizer(o.vocab_dir.empty() ? throw Error("--tokenizer gpt2 needs --vocab DIR (vocab.json + merges.txt)") : o.vocab_dir);
    else if (std::filesystem::is_directory(o.tokenizer))
        t.tokenizer = load_tokenizer(o.tokenizer);  // e.g. what train-tokenizer wrote
    else
        throw Error("unknown tokenizer '" + o.tokenizer + "' (char, gpt2, or a folder with tokenizer.json)");
    ModelConfig& c = t.config;
    if (o.arch == ModelFamily::Llama) {
        // A LLaMA block: RMSNorm, rotary positions, grouped-query attention,
        // SwiGLU of about 8/3 the width (as LLaMA sizes it), a tied head.
        c.family = ModelFamily::Llama;
        c.model_type = "llama";
        c.activation = Activation::Silu;
        c.qkv_bias = c.out_bias = c.mlp_bias = false;
        c.n_kv_head = o.kv_heads > 0 ? o.kv_heads : o.heads;
        c.n_inner = o.hidden > 0 ? o.hidden : (8 * o.embd / 3 + 31) / 32 * 32;
        c.tied_head = true;
    } else {
        c.n_inner = o.hidden;
    }
    c.n_layer = o.layers;
    c.n_head = o.heads;
    c.n_embd = o.embd;
    c.n_positions = o.context;
    c.vocab_size = t.tokenizer->id_limit();
    c.eos_token_id = t.tokenizer->eos_id().value_or(c.vocab_size - 1);
    c.validate("training options");
    t.params = copy_of(RandomModelSource(c, o.seed), c);
    for (const auto& [name, p] : t.params) {
        t.optimizer.m[name] = at::zeros_like(p);
        t.optimizer.v[name] = at::zeros_like(p);
    }
    return t;
}

// One AdamW update from the gradients, clipped to the options' global norm;
// the gradients are zeroed after.
void adamw_step(Params& P, Optimizer& opt, const TrainOptions& o, int step, double lr) {
    at::NoGradGuard no_grad;
    double norm2 = 0;
    for (auto& [name, t] : P) norm2 += t.grad().pow(2).sum().item<double>();
    const double norm = std::sqrt(norm2), clip = norm > o.grad_clip ? o.grad_clip / (norm + 1e-6) : 1.0;
    const int t_ = step + 1;
    const double bias1 = 1 - std::pow(o.beta1, t_), bias2 = 1 - std::pow(o.beta2, t_);
    for (auto& [name, p] : P) {
        at::Tensor g = p.mutable_grad();
        if (clip < 1) g.mul_(clip);
        opt.m[name].mul_(o.beta1).add_(g, 1 - o.beta1);
        opt.v[name].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
        if (p.dim() >= 2) p.mul_(1 - lr * o.weight_decay);  // decoupled decay, matrices only
        const at::Tensor denom = (opt.v[name] / bias2).sqrt_().add_(1e-8);
        p.addcdiv_(opt.m[name], denom, -lr / bias1);
        g.zero_();
    }
}

// The text's tokens: the first 90% to train on, the last 10% to validate.
struct TokenSplit {
    std::vector<int64_t> train, val;
    std::size_t val_chars = 0;  // characters the held-out tokens spell
};

}  // namespace

std::size_t held_out_start(const std::string& text) {
    if (auto bad = utf8::first_invalid(text))
        throw Error("the training text is not valid UTF-8 at byte " + std::to_string(*bad) + "; convert it to UTF-8 first");
    return utf8::char_offset(text, utf8::char_count(text) * 9 / 10);
}

namespace {

TokenSplit split_tokens(const Tokenizer& tokenizer, const std::string& text) {
    const std::size_t split_byte = held_out_start(text);
    TokenSplit s;
    for (int id : tokenizer.encode(std::string_view(text).substr(0, split_byte))) s.train.push_back(id);
    for (int id : tokenizer.encode(std::string_view(text).substr(split_byte))) s.val.push_back(id);
    s.val_chars = utf8::char_count(std::string_view(text).substr(split_byte));
    return s;
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error("cannot open training text " + file.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

}  // namespace

TrainResult train_model(const TrainOptions& o, const std::function<void(const TrainProgress&)>& on_progress) {
    if (o.arch == ModelFamily::Gpt2 && o.kv_heads > 0 && o.kv_heads != o.heads)
        throw Error("--kv-heads needs --arch llama (GPT-2 has one key/value head per head)");
    at::set_num_threads(std::max(1, o.threads));
    const std::string text = read_text(o.text);
    Training training = o.resume.empty() ? start_fresh(o, text) : resume(o.resume);
    const ModelConfig& c = training.config;
    Params& P = training.params;
    for (auto& [name, t] : P) t.requires_grad_(true);

    const TokenSplit tokens = split_tokens(*training.tokenizer, text);
    const int T = c.n_positions;
    if (tokens.val.size() < static_cast<std::size_t>(T) + 2)
        throw Error(o.text.string() + ": too short: its last 10% must hold more than one context of " + std::to_string(T) + " tokens");
    std::filesystem::create_directories(o.out);

    auto evaluate = [&] {
        at::NoGradGuard no_grad;
        double total = 0;
        for (int i = 0; i < o.eval_batches; ++i) {
            auto [x, y] = batch_at(tokens.val, o.batch, T, splitmix64(o.seed ^ 0xE7A1) + uint64_t(i) * o.batch);
            total += loss_of(P, c, x, y).item<double>();
        }
        return total / o.eval_batches;
    };

    TrainResult result;
    result.parameters = c.parameter_count();
    const auto t0 = Clock::now();
    double interval_loss = 0;
    int interval_steps = 0;
    const int start_step = training.start_step;
    const int last_step = o.stop_after > 0 ? std::min(o.steps, o.stop_after) : o.steps;
    for (int step = start_step; step < last_step; ++step) {
        const auto step_start = Clock::now();
        auto [x, y] = batch_at(tokens.train, o.batch, T, splitmix64(o.seed) + uint64_t(step) * 0x10001ull);
        at::manual_seed(splitmix64(o.seed ^ 0xD209) + uint64_t(step));  // the dropout masks, too, depend only on (seed, step)
        at::Tensor loss = loss_of(P, c, x, y, o.dropout);
        loss.backward();
        const double lr = learning_rate(o, step);
        adamw_step(P, training.optimizer, o, step, lr);
        const double loss_value = loss.item<double>();
        interval_loss += loss_value;
        ++interval_steps;
        const double step_s = std::chrono::duration<double>(Clock::now() - step_start).count();
        const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
        TrainProgress progress{step + 1,
                               last_step,
                               loss_value,
                               std::nullopt,
                               lr,
                               o.batch * T / step_s,
                               training.seconds_before + elapsed,
                               elapsed / (step + 1 - start_step) * (last_step - step - 1)};
        if ((step + 1) % o.eval_every == 0 || step + 1 == last_step) {
            progress.val_loss = result.val_loss = evaluate();
            result.val_loss_per_char =
                result.val_loss * static_cast<double>(tokens.val.size()) / std::max<std::size_t>(1, tokens.val_chars);
            result.train_loss = interval_loss / interval_steps;
            interval_loss = 0;
            interval_steps = 0;
            save_checkpoint(o, c, P, training.optimizer, *training.tokenizer, step + 1, result.train_loss, result.val_loss,
                            training.seconds_before + elapsed);
        }
        if (on_progress) on_progress(progress);
    }
    if (start_step >= last_step)
        throw Error(o.resume.string() + " has already trained " + std::to_string(start_step) + " steps; give more --steps");
    result.steps = last_step;
    result.seconds = training.seconds_before + std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
}

}  // namespace distgpt
