#include "cli/commands.h"
#include "cli/model_options.h"
#include "weights/gpt2_checkpoint_layout.h"
#include "weights/gpt2_names.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

namespace distgpt::cli {
namespace {

struct InspectArgs {
    ModelOptions model;
    bool json = false;
};

int run(const InspectArgs& a) {
    const OpenedModel m = open_model(a.model.source());
    const auto& c = m.config;
    const Gpt2Names names(*m.weights);
    // Stored bytes per layer, in the checkpoint's own dtypes; fp32 once loaded.
    std::map<std::string, int64_t> stored_dtypes;
    int64_t stored_layer0 = 0;
    for (const auto& t : gpt2_checkpoint_layout(c, names.prefix())) {
        const TensorView v = m.weights->header(t.name);
        stored_dtypes[std::string(dtype_name(v.dtype))] += v.numel();
        if (t.name.find(names.layer(0, "")) == 0) stored_layer0 += static_cast<int64_t>(v.nbytes);
    }
    const int64_t fp32_layer = c.params_per_layer() * 4;
    nlohmann::json j = {
        {"model", m.description},
        {"family", "gpt2"},
        {"config",
         {{"n_layer", c.n_layer},
          {"n_head", c.n_head},
          {"n_embd", c.n_embd},
          {"n_positions", c.n_positions},
          {"vocab_size", c.vocab_size},
          {"layer_norm_epsilon", c.layer_norm_epsilon},
          {"activation_function", activation_name(c.activation)}}},
        {"parameters", c.parameter_count()},
        {"parameters_per_layer", c.params_per_layer()},
        {"stored_dtypes", stored_dtypes},
        {"stored_bytes_per_layer", stored_layer0},
        {"fp32_bytes_per_layer", fp32_layer},
        {"fp32_bytes_total", c.parameter_count() * 4},
        {"kv_cache_bytes_per_token", int64_t(2) * c.n_layer * c.n_embd * 4},
        {"tokenizer",
         {{"kind", m.tokenizer->kind()},
          {"tokens", m.tokenizer->size()},
          {"eos_id", m.tokenizer->eos_id() ? nlohmann::json(*m.tokenizer->eos_id()) : nlohmann::json()}}},
        {"tensor_prefix", names.prefix()},
    };
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    auto mib = [](int64_t b) { return std::to_string(b / (1 << 20)) + "." + std::to_string((b % (1 << 20)) * 10 / (1 << 20)) + " MiB"; };
    std::cout << "model       " << m.description << "\n"
              << "family      gpt2 (" << c.n_layer << " layers, " << c.n_head << " heads, " << c.n_embd << " wide, context "
              << c.n_positions << ", vocabulary " << c.vocab_size << ", " << activation_name(c.activation) << ")\n"
              << "parameters  " << c.parameter_count() << " (" << c.params_per_layer() << " per layer)\n"
              << "stored      ";
    for (const auto& [dtype, n] : stored_dtypes) std::cout << dtype << " " << n << "  ";
    std::cout << "\nper layer   " << mib(stored_layer0) << " stored, " << mib(fp32_layer) << " in memory (fp32)\n"
              << "in memory   " << mib(c.parameter_count() * 4) << " fp32, + " << mib(int64_t(2) * c.n_layer * c.n_embd * 4)
              << " KV cache per token of context per sequence\n"
              << "tokenizer   " << m.tokenizer->kind() << ", " << m.tokenizer->size() << " tokens"
              << (m.tokenizer->eos_id() ? ", <|endoftext|> = " + std::to_string(*m.tokenizer->eos_id()) : std::string()) << "\n";
    return 0;
}

}  // namespace

void add_inspect(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<InspectArgs>();
    auto* c = app.add_subcommand("inspect", "family, config, parameters, bytes per layer and tokenizer of a model");
    args->model.add_to(*c);
    c->add_flag("--json", args->json, "print one JSON object");
    c->callback([args, &exit_code] { exit_code = guarded("inspect", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
