#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/local_engine.h"
#include "plan/run_setup.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

namespace distgpt::cli {
namespace {

struct GenerateArgs {
    ModelOptions model;
    std::vector<std::string> prompts;
    int max_new_tokens = 64;
    float temperature = 1.0f;
    int top_k = 0;
    float top_p = 1.0f;
    uint64_t seed = 0;
    int threads = default_threads();
    bool json = false;
    bool ignore_eos = false;
    int keep = 0;
};

std::string text_of(const Tokenizer& tokenizer, const SequenceResult& seq) {
    return tokenizer.generated_text(seq.generated_ids, seq.finish == FinishReason::EndOfText);
}

int run(const GenerateArgs& a) {
    const OpenedModel model = open_model(a.model.source());
    if (a.prompts.empty()) throw Error("give at least one --prompt");
    std::vector<std::vector<int>> prompts;
    for (const auto& p : a.prompts) prompts.push_back(model.tokenizer->encode_prompt(p));

    GenerateOptions options;
    options.max_new_tokens = a.max_new_tokens;
    options.sampling = {a.temperature, a.top_k, a.top_p, a.seed};
    options.stop_at_eos = !a.ignore_eos;
    options.keep = a.keep;
    Sampler check(options.sampling);  // rejects bad sampling flags before the weights load

    LocalEngine engine(model, a.threads, static_cast<int>(prompts.size()));
    const bool stream = !a.json && prompts.size() == 1;
    utf8::CharacterStream printer;
    if (stream) std::cout << a.prompts[0] << std::flush;
    const std::vector<int> ends = end_of_text_ids(model);
    auto on_token = [&](const TokenEvent& e) {
        if (!stream || (!a.ignore_eos && std::find(ends.begin(), ends.end(), e.token) != ends.end())) return;
        std::cout << printer.push(model.tokenizer->token_bytes(e.token)) << std::flush;
    };
    const GenerationResult r = engine.generate(prompts, options, on_token);

    auto sequence_json = [&](std::size_t i) {
        const auto& s = r.sequences[i];
        return nlohmann::json{{"prompt", a.prompts[i]},
                              {"prompt_ids", s.prompt_ids},
                              {"generated_ids", s.generated_ids},
                              {"text", text_of(*model.tokenizer, s)},
                              {"finish", finish_reason_name(s.finish)}};
    };
    if (a.json) {
        nlohmann::json j = prompts.size() == 1 ? sequence_json(0) : nlohmann::json{{"sequences", nlohmann::json::array()}};
        if (prompts.size() > 1)
            for (std::size_t i = 0; i < prompts.size(); ++i) j["sequences"].push_back(sequence_json(i));
        j["model"] = model.description;
        j["threads"] = a.threads;
        j["prefill_ms"] = r.prefill_ms;
        j["ms_per_decode_token"] = r.ms_per_decode_step();
        j["tokens_per_second"] = r.tokens_per_second();
        j["window_shifts"] = {{"count", r.window_shifts}, {"ms", r.window_shift_ms}};
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    if (stream) {
        std::cout << utf8::escape_invalid(printer.rest()) << "\n";
    } else {
        for (std::size_t i = 0; i < prompts.size(); ++i)
            std::cout << "--- sequence " << i + 1 << " ---\n"
                      << a.prompts[i] << utf8::escape_invalid(text_of(*model.tokenizer, r.sequences[i])) << "\n";
    }
    std::cerr << "[" << model.description << "] prefill " << r.prefill_ms << " ms, " << r.ms_per_decode_step() << " ms per decode step, "
              << r.tokens_per_second() << " tokens/s, " << a.threads << " threads";
    if (r.window_shifts > 0) std::cerr << "; the context slid " << r.window_shifts << " time(s), its steps " << r.window_shift_ms << " ms";
    std::cerr << "\n";
    return 0;
}

}  // namespace

void add_generate(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<GenerateArgs>();
    auto* c = app.add_subcommand("generate", "generate text from a prompt, streaming it as it is made");
    args->model.add_to(*c);
    args->model.add_weights_dtype_to(*c);
    c->add_option("--prompt", args->prompts, "prompt text; repeat for several sequences generated together");
    c->add_option("--max-new-tokens", args->max_new_tokens, "tokens to generate per sequence")
        ->capture_default_str()
        ->check(CLI::Range(1, kMaxPositions));
    c->add_option("--temperature", args->temperature, "0 = greedy")->capture_default_str();
    c->add_option("--top-k", args->top_k, "keep the k most likely tokens (0 = off)")->capture_default_str();
    c->add_option("--top-p", args->top_p, "keep the most likely tokens holding p of the mass (1 = off)")->capture_default_str();
    c->add_option("--seed", args->seed, "sampling seed (sequence i uses seed + i)")->capture_default_str();
    c->add_option("--threads", args->threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 4096));
    c->add_flag("--ignore-eos", args->ignore_eos, "keep going past <|endoftext|>");
    c->add_option("--keep", args->keep,
                  "tokens a sequence keeps when its context fills: they are fed again from position 0 and generation goes on "
                  "(default: half the context)")
        ->check(CLI::NonNegativeNumber);
    c->add_flag("--json", args->json, "print one JSON object: ids, text, timings");
    c->callback([args, &exit_code] { exit_code = guarded("generate", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
