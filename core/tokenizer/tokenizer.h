#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace distgpt {

// Text <-> token ids. Token ids are raw bytes: one token may hold part of a
// UTF-8 character, so decode() of a prefix of a stream may end mid-character.
class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Throws Error for text that is not valid UTF-8 (naming the byte offset),
    // or that holds a character the vocabulary cannot spell.
    virtual std::vector<int> encode(std::string_view text) const = 0;
    virtual const std::string& token_bytes(int id) const = 0;  // throws for an unknown id
    virtual bool has_token(int id) const = 0;
    virtual int id_limit() const = 0;  // one past the largest id
    virtual std::optional<int> eos_id() const = 0;
    // The token a prompt starts with, where the tokenizer's files say to add one (Llama 2's <s>).
    virtual std::optional<int> bos_id() const { return std::nullopt; }
    virtual std::string kind() const = 0;  // "gpt2-bpe", "char"
    virtual std::size_t size() const = 0;  // number of tokens
    // Writes this tokenizer's files into a model folder.
    virtual void save(const std::filesystem::path& dir) const = 0;

    // The text of a sequence from its start (less a space the tokenizer
    // prepends to every text, as SentencePiece-style ones do).
    virtual std::string decode(std::span<const int> ids) const;
    // A prompt as the model reads it: BOS, where the tokenizer adds one, then
    // its text. An empty prompt without BOS is the end-of-text token alone;
    // throws Error when the tokenizer has neither.
    std::vector<int> encode_prompt(std::string_view text) const;
    // A generation's text, continuing its prompt: its tokens' bytes, less a
    // final end of text that ended it.
    std::string generated_text(std::span<const int> ids, bool ended_at_end_of_text) const;
    // [begin, end) ranges of the ids below vocab_size this tokenizer cannot
    // spell (a model's vocabulary may be padded past its tokenizer's): never sampled.
    std::vector<std::pair<int, int>> unspellable_ids(int vocab_size) const;
};

// The tokenizer of a model folder: a character vocabulary (tokenizer_config.json
// says "DistgptCharTokenizer"), tokenizer.json, or vocab.json + merges.txt.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

}  // namespace distgpt
