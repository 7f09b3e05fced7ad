#include "weights/model_config.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>

namespace distgpt {
namespace {

using nlohmann::json;

int read_int(const json& j, const char* key, int fallback, bool required, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) {
        if (required) throw Error(origin + ": missing \"" + key + "\"");
        return fallback;
    }
    if (!j[key].is_number_integer()) throw Error(origin + ": \"" + key + "\" must be an integer");
    const int64_t v = j[key].get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) throw Error(origin + ": \"" + key + "\" is " + std::to_string(v) + ", far beyond any model");
    return static_cast<int>(v);
}

double read_number(const json& j, const char* key, double fallback, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) throw Error(origin + ": \"" + key + "\" must be a number");
    return j[key].get<double>();
}

bool read_bool(const json& j, const char* key, bool fallback, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) throw Error(origin + ": \"" + key + "\" must be true or false");
    return j[key].get<bool>();
}

Activation parse_activation(const std::string& name, const std::string& origin) {
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
    if (name == "gelu") return Activation::GeluErf;
    if (name == "relu") return Activation::Relu;
    if (name == "silu" || name == "swish") return Activation::Silu;
    throw Error(origin + ": activation '" + name + "' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu, silu)");
}

// eos_token_id is a number, a list of numbers (Llama 3), or absent.
void read_eos(const json& j, ModelConfig& c, int fallback, const std::string& origin) {
    c.more_eos_token_ids.clear();
    if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) {
        c.eos_token_id = fallback;
        return;
    }
    const json& e = j["eos_token_id"];
    if (e.is_array()) {
        if (e.empty()) throw Error(origin + ": \"eos_token_id\" is an empty list");
        for (std::size_t i = 0; i < e.size(); ++i) {
            const int id = read_int(json{{"eos_token_id", e[i]}}, "eos_token_id", 0, true, origin);
            if (i == 0)
                c.eos_token_id = id;
            else
                c.more_eos_token_ids.push_back(id);
        }
        return;
    }
    c.eos_token_id = read_int(j, "eos_token_id", fallback, false, origin);
}

RopeSettings read_rope(const json& j, const std::string& origin) {
    RopeSettings r;
    r.theta = read_number(j, "rope_theta", 10000.0, origin);
    if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return r;
    const json& s = j["rope_scaling"];
    if (!s.is_object()) throw Error(origin + ": \"rope_scaling\" must be an object or null");
    // Older files say "type", newer ones "rope_type".
    const std::string type = s.contains("rope_type") ? s.value("rope_type", "") : s.value("type", "");
    r.factor = read_number(s, "factor", 1.0, origin + " rope_scaling");
    if (type == "linear") {
        r.scaling = RopeScaling::Linear;
    } else if (type == "llama3") {
        r.scaling = RopeScaling::Llama3;
        r.low_freq_factor = read_number(s, "low_freq_factor", 1.0, origin + " rope_scaling");
        r.high_freq_factor = read_number(s, "high_freq_factor", 4.0, origin + " rope_scaling");
        r.original_max_positions = read_int(s, "original_max_position_embeddings", 8192, false, origin + " rope_scaling");
    } else if (type == "default" || type.empty()) {
        r.scaling = RopeScaling::None;
    } else {
        throw Error(origin + ": rope_scaling of type '" + type + "' is not supported (linear, llama3)");
    }
    return r;
}

ModelConfig parse_gpt2(const json& j, const std::string& origin) {
    ModelConfig c;
    c.n_layer = read_int(j, "n_layer", 0, true, origin);
    c.n_head = read_int(j, "n_head", 0, true, origin);
    c.n_embd = read_int(j, "n_embd", 0, true, origin);
    c.n_inner = read_int(j, "n_inner", 0, false, origin);
    c.n_positions = read_int(j, "n_positions", read_int(j, "n_ctx", 1024, false, origin), false, origin);
    c.vocab_size = read_int(j, "vocab_size", 0, true, origin);
    c.bos_token_id = read_int(j, "bos_token_id", -1, false, origin);
    read_eos(j, c, c.vocab_size - 1, origin);
    c.norm_eps = read_number(j, "layer_norm_epsilon", 1e-5, origin);
    c.activation = parse_activation(j.value("activation_function", "gelu_new"), origin);
    c.torch_dtype = j.value("torch_dtype", "float32");
    return c;
}

// LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM: the same block,
// told apart by their biases, and Mistral's sliding window.
ModelConfig parse_llama(const json& j, const std::string& type, const std::string& origin) {
    ModelConfig c;
    c.family = ModelFamily::Llama;
    c.model_type = type;
    c.n_layer = read_int(j, "num_hidden_layers", 0, true, origin);
    c.n_head = read_int(j, "num_attention_heads", 0, true, origin);
    c.n_kv_head = read_int(j, "num_key_value_heads", c.n_head, false, origin);
    c.n_embd = read_int(j, "hidden_size", 0, true, origin);
    c.head_size = read_int(j, "head_dim", 0, false, origin);
    c.n_inner = read_int(j, "intermediate_size", 0, true, origin);
    c.n_positions = read_int(j, "max_position_embeddings", 2048, false, origin);
    c.vocab_size = read_int(j, "vocab_size", 0, true, origin);
    c.norm_eps = read_number(j, "rms_norm_eps", 1e-6, origin);
    c.activation = parse_activation(j.value("hidden_act", "silu"), origin);
    c.rope = read_rope(j, origin);
    c.tied_head = read_bool(j, "tie_word_embeddings", false, origin);
    if (type == "qwen2") {
        c.qkv_bias = true;  // Qwen2 always has q, k and v biases, and no others
        c.out_bias = c.mlp_bias = false;
    } else {
        c.qkv_bias = c.out_bias = read_bool(j, "attention_bias", false, origin);
        c.mlp_bias = read_bool(j, "mlp_bias", false, origin);
    }
    // A sliding window bounds what a position sees; within it, attention is
    // full, so the context is held to the window and stays exact.
    const bool window = type == "mistral" || read_bool(j, "use_sliding_window", false, origin);
    const int sliding_window = read_int(j, "sliding_window", 0, false, origin);
    if (window && sliding_window > 0 && sliding_window < c.n_positions) c.n_positions = sliding_window;
    c.bos_token_id = read_int(j, "bos_token_id", -1, false, origin);
    read_eos(j, c, -1, origin);
    c.torch_dtype = j.value("torch_dtype", "float32");
    return c;
}

// In the order users are offered them: GPT-2 by size, then the LLaMA family by size.
const std::vector<std::pair<std::string, std::function<ModelConfig()>>>& presets() {
    static const std::vector<std::pair<std::string, std::function<ModelConfig()>>> table = [] {
        struct Table : std::vector<std::pair<std::string, std::function<ModelConfig()>>> {
            std::function<ModelConfig()>& operator[](const std::string& name) { return emplace_back(name, nullptr).second; }
        } t;
        t["gpt2"] = [] { return ModelConfig{}; };  // 124M
        t["tiny"] = [] {
            ModelConfig c;
            c.n_layer = 4;
            c.n_head = 4;
            c.n_embd = 64;
            c.n_positions = 128;
            c.vocab_size = 257;
            c.eos_token_id = 256;
            return c;
        };
        t["distilgpt2"] = [] {
            ModelConfig c;
            c.n_layer = 6;
            return c;
        };
        t["gpt2-medium"] = [] {
            ModelConfig c;
            c.n_layer = 24;
            c.n_head = 16;
            c.n_embd = 1024;
            return c;
        };
        t["gpt2-large"] = [] {
            ModelConfig c;
            c.n_layer = 36;
            c.n_head = 20;
            c.n_embd = 1280;
            return c;
        };
        t["gpt2-xl"] = [] {
            ModelConfig c;
            c.n_layer = 48;
            c.n_head = 25;
            c.n_embd = 1600;
            return c;
        };
        // The LLaMA family, as their published config.json files give them.
        auto llama = [](const std::string& type, int layers, int heads, int kv_heads, int width, int hidden, int positions, int vocab,
                        double theta, bool tied, int bos, int eos) {
            ModelConfig c;
            c.family = ModelFamily::Llama;
            c.model_type = type;
            c.n_layer = layers;
            c.n_head = heads;
            c.n_kv_head = kv_heads;
            c.n_embd = width;
            c.n_inner = hidden;
            c.n_positions = positions;
            c.vocab_size = vocab;
            c.rope.theta = theta;
            c.tied_head = tied;
            c.norm_eps = 1e-5;
            c.activation = Activation::Silu;
            c.qkv_bias = c.out_bias = c.mlp_bias = false;
            c.bos_token_id = bos;
            c.eos_token_id = eos;
            return c;
        };
        // A LLaMA block at GPT-2 small's sizes (768 wide, 12 layers of 12
        // heads, MLP 3072, vocabulary 50304, a separate head): the shape peers
        // publish decode numbers for.
        t["llama-124m"] = [=] { return llama("llama", 12, 12, 12, 768, 3072, 1024, 50304, 10000.0, false, 1, 2); };
        t["llama-tiny"] = [=] {  // for tests: GQA 8:2, a separate head, bytes as tokens
            return llama("llama", 4, 8, 2, 64, 176, 128, 257, 10000.0, false, -1, 256);
        };
        t["qwen-tiny"] = [=] {  // for tests: q/k/v biases, a tied head
            ModelConfig c = llama("qwen2", 3, 4, 2, 64, 160, 128, 257, 1000000.0, true, -1, 256);
            c.qkv_bias = true;
            c.norm_eps = 1e-6;
            return c;
        };
        t["tinyllama-1.1b"] = [=] { return llama("llama", 22, 32, 4, 2048, 5632, 2048, 32000, 10000.0, false, 1, 2); };
        t["smollm2-135m"] = [=] { return llama("llama", 30, 9, 3, 576, 1536, 8192, 49152, 100000.0, true, 1, 2); };
        t["smollm2-360m"] = [=] { return llama("llama", 32, 15, 5, 960, 2560, 8192, 49152, 100000.0, true, 1, 2); };
        t["llama-3.2-1b"] = [=] {
            ModelConfig c = llama("llama", 16, 32, 8, 2048, 8192, 131072, 128256, 500000.0, true, 128000, 128001);
            c.head_size = 64;
            c.rope.scaling = RopeScaling::Llama3;
            c.rope.factor = 32.0;
            c.rope.low_freq_factor = 1.0;
            c.rope.high_freq_factor = 4.0;
            c.rope.original_max_positions = 8192;
            c.more_eos_token_ids = {128008, 128009};
            c.torch_dtype = "bfloat16";
            return c;
        };
        t["qwen2.5-0.5b"] = [=] {
            ModelConfig c = llama("qwen2", 24, 14, 2, 896, 4864, 32768, 151936, 1000000.0, true, 151643, 151643);
            c.qkv_bias = true;
            c.norm_eps = 1e-6;
            c.torch_dtype = "bfloat16";
            return c;
        };
        t["openllama-3b"] = [=] {
            ModelConfig c = llama("llama", 26, 32, 32, 3200, 8640, 2048, 32000, 10000.0, false, 1, 2);
            c.norm_eps = 1e-6;
            return c;
        };
        return t;
    }();
    return table;
}

}  // namespace

std::string family_name(ModelFamily family) { return family == ModelFamily::Gpt2 ? "gpt2" : "llama"; }

int64_t ModelConfig::params_per_layer() const {
    const int64_t C = n_embd, Q = q_width(), KV = kv_width(), F = hidden();
    const int64_t norm_params = norm() == NormKind::LayerNorm ? 2 * C : C;  // weight (and bias)
    const int64_t up = gated_mlp() ? 2 * F : F;                             // gate and up, or fc
    return 2 * norm_params                                                  // before attention, before the MLP
           + C * (Q + 2 * KV) + (qkv_bias ? Q + 2 * KV : 0)                 // q, k, v
           + Q * C + (out_bias ? C : 0)                                     // attention output
           + C * up + (mlp_bias ? up : 0)                                   // fc, or gate and up
           + F * C + (mlp_bias ? C : 0);                                    // the MLP's output
}

int64_t ModelConfig::embedding_params() const {
    return int64_t(vocab_size) * n_embd + (positions() == Positions::Learned ? int64_t(n_positions) * n_embd : 0);
}

int64_t ModelConfig::head_params() const {
    return (norm() == NormKind::LayerNorm ? 2 : 1) * int64_t(n_embd) + (tied_head ? 0 : int64_t(vocab_size) * n_embd);
}

int64_t ModelConfig::parameter_count() const { return embedding_params() + n_layer * params_per_layer() + head_params(); }

int64_t ModelConfig::decode_params_read() const {
    return n_layer * params_per_layer() + int64_t(vocab_size) * n_embd + head_params() - (tied_head ? 0 : int64_t(vocab_size) * n_embd);
}

std::string ModelConfig::summary() const {
    std::ostringstream s;
    s << n_layer << " layers · " << n_head << " heads";
    if (kv_heads() != n_head) s << " (" << kv_heads() << " key/value, groups of " << n_head / kv_heads() << ")";
    s << " · width " << n_embd << " · MLP " << hidden() << (gated_mlp() ? " gated" : "") << " · context " << n_positions;
    if (positions() == Positions::Rotary) {
        s << " · rope θ " << rope.theta;
        if (rope.scaling == RopeScaling::Linear) s << " linear ×" << rope.factor;
        if (rope.scaling == RopeScaling::Llama3) s << " llama3 ×" << rope.factor << " from " << rope.original_max_positions;
    }
    s << " · vocabulary " << vocab_size;
    if (positions() == Positions::Rotary) s << (tied_head ? " · tied head" : " · separate head");
    return s.str();
}

int64_t ModelConfig::kv_bytes_per_token() const { return int64_t(2) * n_layer * kv_width() * 4; }

void ModelConfig::validate(const std::string& origin) const {
    // Bounds well past the largest published models, so a typo or a hostile
    // file is refused before anything is sized by it.
    auto in_range = [&](int v, int most, const char* name) {
        if (v <= 0) throw Error(origin + ": " + name + " must be positive, got " + std::to_string(v));
        if (v > most) throw Error(origin + ": " + name + " is " + std::to_string(v) + "; at most " + std::to_string(most) + " is accepted");
    };
    in_range(n_layer, kMaxLayers, "n_layer");
    in_range(n_head, kMaxHeads, "n_head");
    in_range(kv_heads(), kMaxHeads, "num_key_value_heads");
    in_range(n_embd, kMaxWidth, "n_embd");
    in_range(head_dim(), kMaxWidth, "head_dim");
    in_range(hidden(), 8 * kMaxWidth, "intermediate_size");
    in_range(n_positions, kMaxPositions, "n_positions");
    in_range(vocab_size, kMaxVocab, "vocab_size");
    if (head_size == 0 && n_embd % n_head != 0)
        throw Error(origin + ": n_embd " + std::to_string(n_embd) + " is not divisible by n_head " + std::to_string(n_head));
    if (n_head % kv_heads() != 0)
        throw Error(origin + ": " + std::to_string(n_head) + " attention heads do not divide into groups of the " +
                    std::to_string(kv_heads()) + " key/value heads");
    if (family == ModelFamily::Gpt2 && (kv_heads() != n_head || head_dim() * n_head != n_embd))
        throw Error(origin + ": a GPT-2 model has one key/value head per head and n_embd = n_head · head_dim");
    if (gated_mlp() && activation != Activation::Silu)
        throw Error(origin + ": a gated MLP needs hidden_act silu, got " + activation_name(activation));
    if (positions() == Positions::Rotary && head_dim() % 2 != 0)
        throw Error(origin + ": rotary positions need an even head_dim, got " + std::to_string(head_dim()));
    if (!(norm_eps > 0)) throw Error(origin + ": the norm's epsilon must be positive");
    if (positions() == Positions::Rotary) {
        if (!(rope.theta > 0)) throw Error(origin + ": rope_theta must be positive");
        if (rope.scaling != RopeScaling::None && !(rope.factor >= 1.0)) throw Error(origin + ": rope_scaling factor must be at least 1");
        if (rope.scaling == RopeScaling::Llama3 && (!(rope.high_freq_factor > rope.low_freq_factor) || rope.original_max_positions < 1))
            throw Error(origin + ": llama3 rope_scaling needs high_freq_factor > low_freq_factor and original_max_position_embeddings > 0");
    }
}

ModelConfig read_model_config(const std::filesystem::path& model_dir) {
    if (!std::filesystem::is_directory(model_dir))
        throw Error(model_dir.string() + ": no such model folder (give a Hugging Face folder with config.json and model.safetensors)");
    if (!std::filesystem::exists(model_dir / "config.json"))
        throw Error((model_dir / "config.json").string() + ": missing (a Hugging Face model folder has config.json beside its weights)");
    return read_config_file(model_dir / "config.json");
}

ModelConfig read_config_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error(path.string() + ": cannot be read (give the config.json of a Hugging Face model)");
    std::stringstream text;
    text << in.rdbuf();
    return parse_model_config(text.str(), path.string());
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& origin) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        throw Error(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(origin + ": must be a JSON object");
    if (j.contains("model_type") && !j["model_type"].is_string()) throw Error(origin + ": \"model_type\" must be a string");
    const std::string type = j.value("model_type", "");
    ModelConfig c;
    if (type == "gpt2")
        c = parse_gpt2(j, origin);
    else if (type == "llama" || type == "mistral" || type == "qwen2")
        c = parse_llama(j, type, origin);
    else if (type.empty())
        throw Error(origin + ": no \"model_type\"; expected one of gpt2, llama, mistral, qwen2");
    else
        throw Error(origin + ": model_type '" + type + "' is not supported (supported: gpt2, llama, mistral, qwen2)");
    c.validate(origin);
    return c;
}

std::string activation_name(Activation a) {
    switch (a) {
        case Activation::GeluTanh: return "gelu_new";
        case Activation::GeluErf: return "gelu";
        case Activation::Relu: return "relu";
        case Activation::Silu: return "silu";
    }
    return "gelu_new";
}

namespace {

json eos_json(const ModelConfig& c) {
    if (c.eos_token_id < 0) return nullptr;
    if (c.more_eos_token_ids.empty()) return c.eos_token_id;
    json list = json::array({c.eos_token_id});
    for (int id : c.more_eos_token_ids) list.push_back(id);
    return list;
}

json gpt2_json(const ModelConfig& c) {
    return {
        {"architectures", {"GPT2LMHeadModel"}},
        {"model_type", "gpt2"},
        {"n_layer", c.n_layer},
        {"n_head", c.n_head},
        {"n_embd", c.n_embd},
        {"n_positions", c.n_positions},
        {"n_ctx", c.n_positions},
        {"n_inner", c.n_inner > 0 ? json(c.n_inner) : json(nullptr)},
        {"vocab_size", c.vocab_size},
        {"layer_norm_epsilon", c.norm_eps},
        {"activation_function", activation_name(c.activation)},
        {"bos_token_id", c.bos_token_id >= 0 ? c.bos_token_id : c.eos_token_id},
        {"eos_token_id", eos_json(c)},
        {"resid_pdrop", 0.1},
        {"embd_pdrop", 0.1},
        {"attn_pdrop", 0.1},
        {"initializer_range", 0.02},
        {"tie_word_embeddings", true},
        {"torch_dtype", c.torch_dtype},
    };
}

json llama_json(const ModelConfig& c) {
    const std::string architecture = c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                                     : c.model_type == "mistral" ? "MistralForCausalLM"
                                                                 : "LlamaForCausalLM";
    json rope_scaling = nullptr;
    if (c.rope.scaling == RopeScaling::Linear) rope_scaling = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
    if (c.rope.scaling == RopeScaling::Llama3)
        rope_scaling = {{"rope_type", "llama3"},
                        {"factor", c.rope.factor},
                        {"low_freq_factor", c.rope.low_freq_factor},
                        {"high_freq_factor", c.rope.high_freq_factor},
                        {"original_max_position_embeddings", c.rope.original_max_positions}};
    json j = {
        {"architectures", {architecture}},
        {"model_type", c.model_type},
        {"num_hidden_layers", c.n_layer},
        {"num_attention_heads", c.n_head},
        {"num_key_value_heads", c.kv_heads()},
        {"hidden_size", c.n_embd},
        {"intermediate_size", c.hidden()},
        {"max_position_embeddings", c.n_positions},
        {"vocab_size", c.vocab_size},
        {"rms_norm_eps", c.norm_eps},
        {"hidden_act", activation_name(c.activation)},
        {"rope_theta", c.rope.theta},
        {"rope_scaling", rope_scaling},
        {"tie_word_embeddings", c.tied_head},
        {"bos_token_id", c.bos_token_id >= 0 ? json(c.bos_token_id) : json(nullptr)},
        {"eos_token_id", eos_json(c)},
        {"initializer_range", 0.02},
        {"attention_dropout", 0.0},
        {"torch_dtype", c.torch_dtype},
    };
    if (c.head_size > 0) j["head_dim"] = c.head_size;
    if (c.model_type == "llama") {
        j["attention_bias"] = c.qkv_bias;
        j["mlp_bias"] = c.mlp_bias;
    }
    if (c.model_type == "mistral") j["sliding_window"] = nullptr;  // folded into max_position_embeddings
    if (c.model_type == "qwen2") j["use_sliding_window"] = false;
    return j;
}

}  // namespace

std::string model_config_json(const ModelConfig& c) { return (c.family == ModelFamily::Gpt2 ? gpt2_json(c) : llama_json(c)).dump(2); }

void write_model_config(const std::filesystem::path& model_dir, const ModelConfig& c) {
    std::ofstream out(model_dir / "config.json");
    if (!out) throw Error("cannot write " + (model_dir / "config.json").string());
    out << model_config_json(c) << "\n";
}

std::vector<std::string> model_preset_names() {
    std::vector<std::string> names;
    for (const auto& [name, make] : presets()) names.push_back(name);
    return names;
}

ModelConfig model_preset(const std::string& name) {
    const auto& table = presets();
    for (const auto& [n, make] : table)
        if (n == name) return make();
    std::string known;
    for (const auto& [n, make] : table) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model shape '" + name + "' (known: " + known + ")");
}

}  // namespace distgpt
