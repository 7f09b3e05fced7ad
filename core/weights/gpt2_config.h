#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace distgpt {

enum class Activation { GeluTanh, GeluErf, Relu };

// The shape of a GPT-2 family model, as Hugging Face's config.json gives it.
// What a model's config may say, at most (the largest published models use
// 126 layers, width 16384, 128 heads, 256k tokens, 1M positions).
inline constexpr int kMaxLayers = 1024;
inline constexpr int kMaxHeads = 1024;
inline constexpr int kMaxWidth = 65536;
inline constexpr int kMaxPositions = 1 << 22;
inline constexpr int kMaxVocab = 1 << 22;

struct Gpt2Config {
    int n_layer = 12;
    int n_head = 12;
    int n_embd = 768;
    int n_positions = 1024;
    int vocab_size = 50257;
    double layer_norm_epsilon = 1e-5;
    Activation activation = Activation::GeluTanh;
    int eos_token_id = 50256;

    int head_dim() const { return n_embd / n_head; }
    int64_t params_per_layer() const;  // weights + biases of one block
    int64_t parameter_count() const;   // the whole model, head tied to wte

    // Throws Error naming `origin` when a field is out of range.
    void validate(const std::string& origin) const;
};

// Reads config.json of a Hugging Face folder. A LLaMA or other family gets a
// clear "not supported yet" rather than a wrong model.
Gpt2Config read_gpt2_config(const std::filesystem::path& model_dir);
// The same from config.json's text (a worker sent its shard gets it this way).
Gpt2Config parse_gpt2_config(const std::string& json_text, const std::string& origin);
// config.json's text for `config`, in Hugging Face's GPT-2 layout.
std::string gpt2_config_json(const Gpt2Config& config);
void write_gpt2_config(const std::filesystem::path& model_dir, const Gpt2Config& config);

std::string activation_name(Activation a);  // as Hugging Face spells it

// Named shapes: the Hugging Face GPT-2 family and a tiny one for tests.
// Throws Error listing the known names.
Gpt2Config gpt2_preset(const std::string& name);

}  // namespace distgpt
