#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace distgpt {

// The two families of decoder-only transformers distgpt runs. Everything
// downstream asks the config what a block is made of (its norm, positions,
// MLP, biases), never which family it is: the family decides only how
// config.json and the checkpoint's tensors are named.
enum class ModelFamily {
    Gpt2,   // model_type gpt2: LayerNorm, learned positions, GELU MLP, biases everywhere, head tied to wte
    Llama,  // model_type llama, mistral, qwen2: RMSNorm, rotary positions, grouped-query attention, SwiGLU MLP
};

enum class Activation { GeluTanh, GeluErf, Relu, Silu };
enum class NormKind { LayerNorm, RmsNorm };
enum class Positions { Learned, Rotary };
enum class RopeScaling { None, Linear, Llama3 };

// Rotary position embedding as Hugging Face's config.json gives it.
struct RopeSettings {
    double theta = 10000.0;
    RopeScaling scaling = RopeScaling::None;
    double factor = 1.0;                // linear and llama3
    double low_freq_factor = 1.0;       // llama3
    double high_freq_factor = 4.0;      // llama3
    int original_max_positions = 8192;  // llama3
    bool operator==(const RopeSettings&) const = default;
};

// What a model's config may say, at most (the largest published models use
// 126 layers, width 16384, 128 heads, 256k tokens, 1M positions).
inline constexpr int kMaxLayers = 1024;
inline constexpr int kMaxHeads = 1024;
inline constexpr int kMaxWidth = 65536;
inline constexpr int kMaxPositions = 1 << 22;
inline constexpr int kMaxVocab = 1 << 22;

// The shape of a model, as Hugging Face's config.json gives it, in GPT-2's
// field names (n_layer, n_embd, ...) for both families.
struct ModelConfig {
    ModelFamily family = ModelFamily::Gpt2;
    std::string model_type = "gpt2";  // as config.json names it: gpt2, llama, mistral, qwen2
    int n_layer = 12;
    int n_head = 12;
    int n_kv_head = 0;  // 0: n_head (no grouped-query attention)
    int n_embd = 768;
    int head_size = 0;  // 0: n_embd / n_head
    int n_inner = 0;    // the MLP's hidden width; 0: 4·n_embd
    int n_positions = 1024;
    int vocab_size = 50257;
    double norm_eps = 1e-5;
    Activation activation = Activation::GeluTanh;
    bool qkv_bias = true;  // q, k and v projections
    bool out_bias = true;  // the attention's output projection
    bool mlp_bias = true;
    bool tied_head = true;  // the head is the embedding (no lm_head.weight)
    RopeSettings rope;      // Positions::Rotary only
    int bos_token_id = -1;  // -1: none
    int eos_token_id = 50256;
    std::vector<int> more_eos_token_ids;  // config.json may list several; the first is eos_token_id
    std::string torch_dtype = "float32";  // the checkpoint's dtype as config.json names it

    NormKind norm() const { return family == ModelFamily::Gpt2 ? NormKind::LayerNorm : NormKind::RmsNorm; }
    Positions positions() const { return family == ModelFamily::Gpt2 ? Positions::Learned : Positions::Rotary; }
    bool gated_mlp() const { return family == ModelFamily::Llama; }  // down(act(gate(x)) * up(x))

    int head_dim() const { return head_size > 0 ? head_size : n_embd / n_head; }
    int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
    int hidden() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
    int q_width() const { return n_head * head_dim(); }
    int kv_width() const { return kv_heads() * head_dim(); }
    int64_t params_per_layer() const;    // weights + biases of one block
    int64_t parameter_count() const;     // the whole model
    int64_t embedding_params() const;    // token (and position) embeddings
    int64_t head_params() const;         // final norm and, untied, lm_head
    int64_t kv_bytes_per_token() const;  // fp32 K and V of every layer
    int64_t decode_params_read() const;  // what one decode step reads: every layer, the final norm, the head matrix
    std::string summary() const;         // "30 layers · 9 heads (3 key/value, groups of 3) · width 576 · …"

    // Throws Error naming `origin` when a field is out of range.
    void validate(const std::string& origin) const;
    bool operator==(const ModelConfig&) const = default;
};

std::string family_name(ModelFamily family);  // "gpt2", "llama"

// Reads config.json of a Hugging Face folder (model_type gpt2, llama, mistral
// or qwen2); any other family gets a clear "not supported" naming those.
ModelConfig read_model_config(const std::filesystem::path& model_dir);
// The same from a config.json file anywhere (a shape to draw a random model of).
ModelConfig read_config_file(const std::filesystem::path& config_json);
// The same from config.json's text (a worker sent its shard gets it this way).
ModelConfig parse_model_config(const std::string& json_text, const std::string& origin);
// config.json's text for `config`, in Hugging Face's layout for its family.
std::string model_config_json(const ModelConfig& config);
void write_model_config(const std::filesystem::path& model_dir, const ModelConfig& config);

std::string activation_name(Activation a);  // as Hugging Face spells it

// Named shapes: the Hugging Face GPT-2 family, the LLaMA-family models users
// have, and tiny ones for tests. Throws Error listing the known names.
ModelConfig model_preset(const std::string& name);
std::vector<std::string> model_preset_names();

}  // namespace distgpt
