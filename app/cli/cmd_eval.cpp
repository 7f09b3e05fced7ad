#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/local_engine.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

namespace distgpt::cli {
namespace {

struct EvalArgs {
    ModelOptions model;
    std::string text_file;
    int context = 0;
    int threads = default_threads();
    double from = 0;
    bool json = false;
};

int run(const EvalArgs& a) {
    const OpenedModel model = open_model(a.model.source());
    std::ifstream in(a.text_file, std::ios::binary);
    if (!in) throw Error("cannot open text file " + a.text_file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    if (a.from < 0 || a.from >= 1) throw Error("--from must be in [0, 1)");
    if (auto bad = utf8::first_invalid(text)) throw Error(a.text_file + " is not valid UTF-8 at byte " + std::to_string(*bad));
    if (a.from > 0)  // by characters, as train holds out its last 10%
        text.erase(0, utf8::char_offset(text, static_cast<std::size_t>(static_cast<double>(utf8::char_count(text)) * a.from)));
    const auto ids = model.tokenizer->encode_prompt(text);
    // Every token but the first is predicted: the loss per character covers the characters they spell,
    // so models with different vocabularies compare.
    const std::size_t predicted_chars = utf8::char_count(text) - utf8::char_count(model.tokenizer->decode(std::span(ids).first(1)));
    const int context = a.context > 0 ? a.context : model.config.n_positions;
    LocalEngine engine(model, a.threads, 1, context);
    const auto t0 = std::chrono::steady_clock::now();
    const EvalResult r = engine.evaluate(ids, context);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (a.json) {
        std::cout << nlohmann::json{{"model", model.description},
                                    {"file", a.text_file},
                                    {"from", a.from},
                                    {"context", context},
                                    {"tokens", r.tokens},
                                    {"windows", r.windows},
                                    {"mean_cross_entropy", r.mean_cross_entropy},
                                    {"perplexity", r.perplexity},
                                    {"characters", predicted_chars},
                                    {"nats_per_character", r.mean_cross_entropy * static_cast<double>(r.tokens) / predicted_chars},
                                    {"seconds", seconds}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::cout << "mean cross-entropy " << r.mean_cross_entropy << " nats/token, perplexity " << r.perplexity << " over " << r.tokens
              << " tokens (" << r.windows << " windows of " << context << ", " << seconds << " s); "
              << r.mean_cross_entropy * static_cast<double>(r.tokens) / predicted_chars << " nats/character over " << predicted_chars
              << " characters\n";
    return 0;
}

}  // namespace

void add_eval(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<EvalArgs>();
    auto* c = app.add_subcommand("eval", "mean cross-entropy and perplexity of a model on a text file");
    args->model.add_to(*c);
    args->model.add_weights_dtype_to(*c);
    c->add_option("--text", args->text_file, "UTF-8 text file")->required();
    c->add_option("--context", args->context, "window length in tokens (default: the model's context)");
    c->add_option("--from", args->from, "evaluate from this fraction of the file on (0.9 = its last 10%)")->capture_default_str();
    c->add_option("--threads", args->threads, "compute threads")->capture_default_str();
    c->add_flag("--json", args->json, "print one JSON object");
    c->callback([args, &exit_code] { exit_code = guarded("eval", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
