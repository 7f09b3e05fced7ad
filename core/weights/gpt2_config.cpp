#include "weights/gpt2_config.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>

namespace distgpt {
namespace {

using nlohmann::json;

int read_int(const json& j, const char* key, int fallback, bool required, const std::string& origin) {
    if (!j.contains(key)) {
        if (required) throw Error(origin + ": missing \"" + key + "\"");
        return fallback;
    }
    if (!j[key].is_number_integer()) throw Error(origin + ": \"" + key + "\" must be an integer");
    const int64_t v = j[key].get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) throw Error(origin + ": \"" + key + "\" is " + std::to_string(v) + ", far beyond any model");
    return static_cast<int>(v);
}

Activation parse_activation(const std::string& name, const std::string& origin) {
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
    if (name == "gelu") return Activation::GeluErf;
    if (name == "relu") return Activation::Relu;
    throw Error(origin + ": activation_function '" + name + "' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu)");
}

}  // namespace

int64_t Gpt2Config::params_per_layer() const {
    const int64_t C = n_embd;
    return 2 * C                // ln_1
           + C * 3 * C + 3 * C  // attn.c_attn
           + C * C + C          // attn.c_proj
           + 2 * C              // ln_2
           + C * 4 * C + 4 * C  // mlp.c_fc
           + 4 * C * C + C;     // mlp.c_proj
}

int64_t Gpt2Config::parameter_count() const {
    const int64_t C = n_embd;
    return int64_t(vocab_size) * C + int64_t(n_positions) * C + n_layer * params_per_layer() + 2 * C;
}

void Gpt2Config::validate(const std::string& origin) const {
    // Bounds well past the largest published models, so a typo or a hostile
    // file is refused before anything is sized by it.
    auto in_range = [&](int v, int most, const char* name) {
        if (v <= 0) throw Error(origin + ": " + name + " must be positive, got " + std::to_string(v));
        if (v > most) throw Error(origin + ": " + name + " is " + std::to_string(v) + "; at most " + std::to_string(most) + " is accepted");
    };
    in_range(n_layer, kMaxLayers, "n_layer");
    in_range(n_head, kMaxHeads, "n_head");
    in_range(n_embd, kMaxWidth, "n_embd");
    in_range(n_positions, kMaxPositions, "n_positions");
    in_range(vocab_size, kMaxVocab, "vocab_size");
    if (n_embd % n_head != 0)
        throw Error(origin + ": n_embd " + std::to_string(n_embd) + " is not divisible by n_head " + std::to_string(n_head));
    if (!(layer_norm_epsilon > 0)) throw Error(origin + ": layer_norm_epsilon must be positive");
}

Gpt2Config read_gpt2_config(const std::filesystem::path& model_dir) {
    const auto path = model_dir / "config.json";
    const std::string origin = path.string();
    if (!std::filesystem::is_directory(model_dir))
        throw Error(model_dir.string() + ": no such model folder (give a Hugging Face folder with config.json and model.safetensors)");
    std::ifstream in(path);
    if (!in) throw Error(origin + ": missing (a Hugging Face model folder has config.json beside its weights)");
    std::stringstream text;
    text << in.rdbuf();
    return parse_gpt2_config(text.str(), origin);
}

Gpt2Config parse_gpt2_config(const std::string& json_text, const std::string& origin) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        throw Error(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(origin + ": must be a JSON object");
    const std::string type = j.value("model_type", "");
    if (type != "gpt2") {
        if (type.empty()) throw Error(origin + ": no \"model_type\"; expected \"gpt2\"");
        throw Error(origin + ": model_type '" + type + "' is not supported yet (supported: gpt2)");
    }
    Gpt2Config c;
    c.n_layer = read_int(j, "n_layer", 0, true, origin);
    c.n_head = read_int(j, "n_head", 0, true, origin);
    c.n_embd = read_int(j, "n_embd", 0, true, origin);
    c.n_positions = read_int(j, "n_positions", read_int(j, "n_ctx", 1024, false, origin), false, origin);
    c.vocab_size = read_int(j, "vocab_size", 0, true, origin);
    c.eos_token_id = read_int(j, "eos_token_id", c.vocab_size - 1, false, origin);
    if (j.contains("layer_norm_epsilon")) {
        if (!j["layer_norm_epsilon"].is_number()) throw Error(origin + ": layer_norm_epsilon must be a number");
        c.layer_norm_epsilon = j["layer_norm_epsilon"].get<double>();
    }
    c.activation = parse_activation(j.value("activation_function", "gelu_new"), origin);
    c.validate(origin);
    return c;
}

std::string activation_name(Activation a) {
    switch (a) {
        case Activation::GeluTanh: return "gelu_new";
        case Activation::GeluErf: return "gelu";
        case Activation::Relu: return "relu";
    }
    return "gelu_new";
}

std::string gpt2_config_json(const Gpt2Config& c) {
    const json j = {
        {"architectures", {"GPT2LMHeadModel"}},
        {"model_type", "gpt2"},
        {"n_layer", c.n_layer},
        {"n_head", c.n_head},
        {"n_embd", c.n_embd},
        {"n_positions", c.n_positions},
        {"n_ctx", c.n_positions},
        {"n_inner", nullptr},
        {"vocab_size", c.vocab_size},
        {"layer_norm_epsilon", c.layer_norm_epsilon},
        {"activation_function", activation_name(c.activation)},
        {"bos_token_id", c.eos_token_id},
        {"eos_token_id", c.eos_token_id},
        {"resid_pdrop", 0.1},
        {"embd_pdrop", 0.1},
        {"attn_pdrop", 0.1},
        {"initializer_range", 0.02},
        {"tie_word_embeddings", true},
        {"torch_dtype", "float32"},
    };
    return j.dump(2);
}

void write_gpt2_config(const std::filesystem::path& model_dir, const Gpt2Config& c) {
    std::ofstream out(model_dir / "config.json");
    if (!out) throw Error("cannot write " + (model_dir / "config.json").string());
    out << gpt2_config_json(c) << "\n";
}

Gpt2Config gpt2_preset(const std::string& name) {
    Gpt2Config c;  // gpt2 (124M)
    if (name == "gpt2") return c;
    if (name == "tiny") {
        c.n_layer = 4;
        c.n_head = 4;
        c.n_embd = 64;
        c.n_positions = 128;
        c.vocab_size = 257;
        c.eos_token_id = 256;
        return c;
    }
    if (name == "distilgpt2") {
        c.n_layer = 6;
        return c;
    }
    if (name == "gpt2-medium") {
        c.n_layer = 24;
        c.n_head = 16;
        c.n_embd = 1024;
        return c;
    }
    if (name == "gpt2-large") {
        c.n_layer = 36;
        c.n_head = 20;
        c.n_embd = 1280;
        return c;
    }
    if (name == "gpt2-xl") {
        c.n_layer = 48;
        c.n_head = 25;
        c.n_embd = 1600;
        return c;
    }
    throw Error("unknown model shape '" + name + "' (known: tiny, distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl)");
}

}  // namespace distgpt
