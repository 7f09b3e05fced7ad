#include "cli/commands.h"
#include "cli/model_options.h"
#include "weights/quantized_tensors.h"
#include "weights/checkpoint_layout.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

namespace distgpt::cli {
namespace {

struct InspectArgs {
    ModelOptions model;
    bool json = false;
};

nlohmann::json rope_json(const ModelConfig& c) {
    if (c.positions() != Positions::Rotary) return nullptr;
    nlohmann::json j = {{"theta", c.rope.theta}};
    if (c.rope.scaling == RopeScaling::Linear) j["scaling"] = {{"type", "linear"}, {"factor", c.rope.factor}};
    if (c.rope.scaling == RopeScaling::Llama3)
        j["scaling"] = {{"type", "llama3"},
                        {"factor", c.rope.factor},
                        {"low_freq_factor", c.rope.low_freq_factor},
                        {"high_freq_factor", c.rope.high_freq_factor},
                        {"original_max_position_embeddings", c.rope.original_max_positions}};
    return j;
}

int run(const InspectArgs& a) {
    const OpenedModel m = open_model(a.model.source());
    const auto& c = m.config;
    const CheckpointLayout layout(c, *m.weights);
    // Stored bytes per layer, in the checkpoint's own dtypes; in memory, in the format the nodes hold.
    std::map<std::string, int64_t> stored_dtypes;
    int64_t stored_layer0 = 0;
    const auto* quantized = dynamic_cast<const QuantizedTensors*>(m.weights.get());
    for (const auto& t : layout.tensors()) {
        const TensorView v = m.weights->header(t.name);
        const auto blocks = quantized ? quantized->block_format_of(t.name) : std::nullopt;  // read as F32, stored as blocks
        stored_dtypes[blocks ? weight_format_name(*blocks) : std::string(dtype_name(v.dtype))] += v.numel();
        if (t.layer == 0) stored_layer0 += blocks ? bytes_of_weights(v.numel(), *blocks) : static_cast<int64_t>(v.nbytes);
    }
    const int64_t held_layer = bytes_of_weights(c.params_per_layer(), m.weight_format);
    const int64_t held_total = bytes_of_weights(c.parameter_count(), m.weight_format);
    const std::string format = weight_format_name(m.weight_format);
    nlohmann::json j = {
        {"model", m.description},
        {"family", family_name(c.family)},
        {"model_type", c.model_type},
        {"config",
         {{"n_layer", c.n_layer},
          {"n_head", c.n_head},
          {"n_kv_head", c.kv_heads()},
          {"head_dim", c.head_dim()},
          {"n_embd", c.n_embd},
          {"n_inner", c.hidden()},
          {"n_positions", c.n_positions},
          {"vocab_size", c.vocab_size},
          {"norm", c.norm() == NormKind::LayerNorm ? "layernorm" : "rmsnorm"},
          {"norm_eps", c.norm_eps},
          {"activation_function", activation_name(c.activation)},
          {"gated_mlp", c.gated_mlp()},
          {"qkv_bias", c.qkv_bias},
          {"tied_head", c.tied_head},
          {"torch_dtype", c.torch_dtype}}},
        {"gqa_ratio", c.n_head / c.kv_heads()},
        {"rope", rope_json(c)},
        {"parameters", c.parameter_count()},
        {"parameters_per_layer", c.params_per_layer()},
        {"stored_dtypes", stored_dtypes},
        {"stored_bytes_per_layer", stored_layer0},
        {"weights_dtype", format},
        {"memory_bytes_per_layer", held_layer},
        {"memory_bytes_total", held_total},
        {"kv_cache_bytes_per_token", c.kv_bytes_per_token()},
        {"tokenizer",
         {{"kind", m.tokenizer->kind()},
          {"tokens", m.tokenizer->size()},
          {"eos_id", m.tokenizer->eos_id() ? nlohmann::json(*m.tokenizer->eos_id()) : nlohmann::json()}}},
        {"tensor_prefix", layout.prefix()},
    };
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    auto mib = [](int64_t b) {
        if (b < (1 << 20)) return std::to_string(b >> 10) + "." + std::to_string((b % 1024) * 10 / 1024) + " KiB";
        return std::to_string(b / (1 << 20)) + "." + std::to_string((b % (1 << 20)) * 10 / (1 << 20)) + " MiB";
    };
    std::cout << "model       " << m.description << "\n"
              << "family      " << family_name(c.family) << " (model_type " << c.model_type << "): " << c.summary() << ", "
              << activation_name(c.activation) << "\n"
              << "parameters  " << c.parameter_count() << " (" << c.params_per_layer() << " per layer)\n"
              << "stored      ";
    for (const auto& [dtype, n] : stored_dtypes) std::cout << dtype << " " << n << "  ";
    std::cout << "\nper layer   " << mib(stored_layer0) << " stored, " << mib(held_layer) << " in memory (" << format << ")\n"
              << "in memory   " << mib(held_total) << " " << format << ", + " << mib(c.kv_bytes_per_token())
              << " KV cache per token of context per sequence\n"
              << "tokenizer   " << m.tokenizer->kind() << ", " << m.tokenizer->size() << " tokens"
              << (m.tokenizer->eos_id() ? ", end of text = " + std::to_string(*m.tokenizer->eos_id()) : std::string()) << "\n";
    return 0;
}

}  // namespace

void add_inspect(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<InspectArgs>();
    auto* c = app.add_subcommand("inspect", "family, config, parameters, bytes per layer and tokenizer of a model");
    args->model.add_to(*c);
    args->model.add_weights_dtype_to(*c);
    c->add_flag("--json", args->json, "print one JSON object");
    c->callback([args, &exit_code] { exit_code = guarded("inspect", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
