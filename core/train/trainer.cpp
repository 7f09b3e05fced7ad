#include "train/trainer.h"

#include "model/random_model.h"
#include "model/tensor_map_source.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/char_tokenizer.h"
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

// The GPT-2 forward of nanoGPT's model.py, on the checkpoint's own tensors
// (Conv1D weights [in, out]), returning the mean cross-entropy.
at::Tensor loss_of(const Params& P, const ModelConfig& c, const at::Tensor& idx, const at::Tensor& targets) {
    const CheckpointLayout layout(c);
    using R = TensorRole;
    const int64_t B = idx.size(0), T = idx.size(1), C = c.n_embd, H = c.n_head, D = C / H;
    const double eps = c.norm_eps;
    auto p = [&](R role, int layer = -1) -> const at::Tensor& { return P.at(layout.find(role, layer)->name); };
    auto dense = [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {  // [B, T, in] -> [B, T, out]
        return at::addmm(b, x.reshape({-1, x.size(-1)}), w).view({x.size(0), x.size(1), w.size(1)});
    };
    const at::Tensor future = at::ones({T, T}, at::kBool).triu(1);  // [T, T]

    at::Tensor x =
        at::embedding(p(R::TokenEmbedding), idx) + at::embedding(p(R::PositionEmbedding), at::arange(T, at::kLong));  // [B, T, C]
    for (int l = 0; l < c.n_layer; ++l) {
        auto w = [&](R role) -> const at::Tensor& { return p(role, l); };
        at::Tensor h = at::layer_norm(x, {C}, w(R::AttnNorm), w(R::AttnNormBias), eps);      // [B, T, C]
        const auto qkv = dense(h, w(R::Qkv), w(R::QkvBias)).split(C, -1);                    // 3 × [B, T, C]
        const at::Tensor q = qkv[0].view({B, T, H, D}).transpose(1, 2);                      // [B, H, T, D]
        const at::Tensor k = qkv[1].view({B, T, H, D}).transpose(1, 2);                      // [B, H, T, D]
        const at::Tensor v = qkv[2].view({B, T, H, D}).transpose(1, 2);                      // [B, H, T, D]
        at::Tensor att = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(D)));  // [B, H, T, T]
        att = at::softmax(att.masked_fill(future, -INFINITY), -1);                           // [B, H, T, T]
        const at::Tensor y = at::matmul(att, v).transpose(1, 2).reshape({B, T, C});          // [B, T, C]
        x = x + dense(y, w(R::AttnOut), w(R::AttnOutBias));                                  // [B, T, C]
        h = at::layer_norm(x, {C}, w(R::MlpNorm), w(R::MlpNormBias), eps);                   // [B, T, C]
        const at::Tensor u = at::gelu(dense(h, w(R::Up), w(R::UpBias)), "tanh");             // [B, T, 4C]
        x = x + dense(u, w(R::Down), w(R::DownBias));                                        // [B, T, C]
    }
    x = at::layer_norm(x, {C}, p(R::FinalNorm), p(R::FinalNormBias), eps);  // [B, T, C]
    const at::Tensor logits = at::matmul(x, p(R::TokenEmbedding).t());      // [B, T, V]
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
          {"layers", c.n_layer},
          {"heads", c.n_head},
          {"embd", c.n_embd},
          {"context", c.n_positions},
          {"steps", o.steps},
          {"batch", o.batch},
          {"lr", o.lr},
          {"warmup", o.warmup},
          {"weight_decay", o.weight_decay},
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
    if (t.config.family != ModelFamily::Gpt2)
        throw Error(dir.string() + ": holds a " + t.config.model_type + " model; training continues GPT-2 family models only");
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
    else
        throw Error("unknown tokenizer '" + o.tokenizer + "' (char or gpt2)");
    ModelConfig& c = t.config;
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
};

TokenSplit split_tokens(const Tokenizer& tokenizer, const std::string& text) {
    std::vector<int64_t> tokens;
    for (int id : tokenizer.encode(text)) tokens.push_back(id);
    const std::size_t split = tokens.size() * 9 / 10;
    return {{tokens.begin(), tokens.begin() + split}, {tokens.begin() + split, tokens.end()}};
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error("cannot open training text " + file.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

}  // namespace

TrainResult train_gpt2(const TrainOptions& o, const std::function<void(const TrainProgress&)>& on_progress) {
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
        at::Tensor loss = loss_of(P, c, x, y);
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
