#include "cli/commands.h"
#include "cli/model_options.h"
#include "train/trainer.h"

#include <cstdio>
#include <iostream>
#include <string>

namespace distgpt::cli {
namespace {

std::string duration(double s) {
    char buf[32];
    const int total = static_cast<int>(s);
    if (total >= 3600)
        std::snprintf(buf, sizeof buf, "%dh%02dm", total / 3600, total / 60 % 60);
    else
        std::snprintf(buf, sizeof buf, "%dm%02ds", total / 60, total % 60);
    return buf;
}

// One line, redrawn in place; each evaluation leaves its line behind.
void draw(const TrainProgress& p) {
    constexpr int kWidth = 24;
    const int filled = p.steps ? kWidth * p.step / p.steps : 0;
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] step %d/%d  loss %.4f", bar.c_str(), p.step, p.steps, p.loss);
    if (p.val_loss) std::fprintf(stderr, "  val %.4f", *p.val_loss);
    std::fprintf(stderr, "  lr %.2e  %.0f tok/s  %s elapsed  ETA %s   ", p.lr, p.tokens_per_second, duration(p.elapsed_s).c_str(),
                 duration(p.eta_s).c_str());
    if (p.val_loss || p.step == p.steps) std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

}  // namespace

void add_train(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<TrainOptions>();
    auto* c =
        app.add_subcommand("train", "train a GPT-2- or LLaMA-family model on a text file (nanoGPT-style) and write a Hugging Face folder");
    c->add_option("--text", o->text, "UTF-8 training text; its last 10% is held out")->required();
    c->add_option("--out", o->out, "model folder to write; checkpoints go there too")->required();
    c->add_option("--tokenizer", o->tokenizer, "char, gpt2 (with --vocab), or a folder with tokenizer.json (see train-tokenizer)")
        ->capture_default_str();
    c->add_option("--vocab", o->vocab_dir, "folder with vocab.json and merges.txt for --tokenizer gpt2");
    c->add_option_function<std::string>(
         "--arch", [o](const std::string& arch) { o->arch = arch == "llama" ? ModelFamily::Llama : ModelFamily::Gpt2; },
         "the block: gpt2 (LayerNorm, learned positions, GELU) or llama (RMSNorm, rotary positions, grouped-query attention, SwiGLU)")
        ->check(CLI::IsMember({"gpt2", "llama"}))
        ->default_str("gpt2");
    c->add_option("--layers", o->layers)->capture_default_str();
    c->add_option("--kv-heads", o->kv_heads, "key/value heads, dividing --heads (llama; default: one per head)")
        ->check(CLI::Range(0, 1024));
    c->add_option("--hidden", o->hidden, "the MLP's width (default: 4 x embd for gpt2, about 8/3 x embd for llama)")
        ->check(CLI::Range(0, 1 << 19));
    c->add_option("--heads", o->heads)->capture_default_str();
    c->add_option("--embd", o->embd, "width")->capture_default_str();
    c->add_option("--context", o->context, "tokens per window")->capture_default_str();
    c->add_option("--steps", o->steps)->capture_default_str();
    c->add_option("--batch", o->batch, "windows per step")->capture_default_str();
    c->add_option("--stop-after", o->stop_after, "stop after this step, on the schedule of --steps (0 = run them all)")
        ->capture_default_str();
    c->add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
    c->add_option("--warmup", o->warmup, "steps of linear warm-up")->capture_default_str();
    c->add_option("--weight-decay", o->weight_decay)->capture_default_str();
    c->add_option("--dropout", o->dropout,
                  "drop this fraction of activations while training (0.1-0.2 keeps a model from learning a small text by heart)")
        ->check(CLI::Range(0.0, 0.9))
        ->capture_default_str();
    c->add_option("--grad-clip", o->grad_clip, "clip the gradient's global norm")->capture_default_str();
    c->add_option("--eval-every", o->eval_every, "steps between validation and checkpoint")->capture_default_str();
    c->add_option("--eval-batches", o->eval_batches)->capture_default_str();
    c->add_option("--resume", o->resume, "continue from a folder an earlier run wrote");
    c->add_option("--threads", o->threads)->capture_default_str();
    c->add_option("--seed", o->seed)->capture_default_str();
    c->callback([o, &exit_code] {
        exit_code = guarded("train", [&] {
            const TrainResult r = train_model(*o, draw);
            std::cout << "trained " << r.parameters << " parameters for " << r.steps << " steps in " << duration(r.seconds)
                      << ": train loss " << r.train_loss << ", validation loss " << r.val_loss << " nats/token (" << r.val_loss_per_char
                      << " nats/character) -> " << o->out.string() << "\n";
            return 0;
        });
    });
}

}  // namespace distgpt::cli
