#pragma once
#include "weights/model_config.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace distgpt {

struct TrainOptions {
    std::filesystem::path text;            // UTF-8 training text
    std::filesystem::path out;             // the model folder to write (and checkpoint into)
    std::string tokenizer = "char";        // "char", "gpt2" with vocab_dir, or a folder with tokenizer files
    std::filesystem::path vocab_dir;       // vocab.json + merges.txt for "gpt2"
    ModelFamily arch = ModelFamily::Gpt2;  // GPT-2's block or LLaMA's
    int layers = 8, heads = 4, embd = 128, context = 128;
    int kv_heads = 0;  // LLaMA: key/value heads (0: one per head)
    int hidden = 0;    // the MLP's width (0: 4·embd for GPT-2, about 8/3·embd for LLaMA)
    int steps = 3000, batch = 32;
    int stop_after = 0;  // stop after this step (0 = at `steps`); the schedule still spans `steps`
    double lr = 2e-3, min_lr_ratio = 0.1, weight_decay = 0.1, grad_clip = 1.0;
    double beta1 = 0.9, beta2 = 0.99;
    double dropout = 0;  // probability, in training steps only (nanoGPT's regularizer for small texts)
    int warmup = 100;
    int eval_every = 250, eval_batches = 16;
    std::filesystem::path resume;  // a folder written by an earlier run
    int threads = 2;
    uint64_t seed = 1337;
};

struct TrainProgress {
    int step = 0;  // steps done
    int steps = 0;
    double loss = 0;                 // this step's training loss, nats/token
    std::optional<double> val_loss;  // on the held-out last 10%, at eval steps
    double lr = 0;
    double tokens_per_second = 0;
    double elapsed_s = 0, eta_s = 0;
};

struct TrainResult {
    int steps = 0;
    double train_loss = 0;         // mean over the last eval interval
    double val_loss = 0;           // nats per token
    double val_loss_per_char = 0;  // the same per character of the held-out text, to compare vocabularies
    double seconds = 0;
    int64_t parameters = 0;
};

// Byte offset where a training text's held-out part begins: its last 10% of
// characters, whatever the tokenizer, so models with different vocabularies
// are judged on the same text (and a vocabulary learned from the text before
// it never saw that part). Throws, naming the byte, on invalid UTF-8.
std::size_t held_out_start(const std::string& text);

// nanoGPT-style training of a GPT-2- or LLaMA-family model on libtorch: AdamW, linear warm-up
// then cosine decay to lr·min_lr_ratio, gradient clipping, the last 10% of the
// text held out and evaluated every eval_every steps, a checkpoint at each.
// The batch of step s depends only on (seed, s), so a resumed run continues
// exactly as an uninterrupted one. Writes a Hugging Face folder plus
// optimizer.safetensors and trainer_state.json for resuming.
TrainResult train_model(const TrainOptions& options, const std::function<void(const TrainProgress&)>& on_progress = {});

}  // namespace distgpt
