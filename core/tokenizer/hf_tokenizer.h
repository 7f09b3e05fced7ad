#pragma once
#include "tokenizer/bpe_merges.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace distgpt {

// A tokenizer.json as Hugging Face's `tokenizers` library writes it, for the
// BPE kinds model folders carry:
//   byte-level BPE (GPT-2, Llama 3, SmolLM, Qwen2): Split pre-tokenizers with
//     the file's regex, ByteLevel (bytes as printable characters), Digits;
//     the ByteLevel decoder;
//   SentencePiece-style BPE (Llama 2, TinyLlama, Mistral, OpenLLaMA): Prepend
//     and Replace normalizers or the Metaspace pre-tokenizer ("▁" for space),
//     byte_fallback to <0xNN> tokens; the Replace, ByteFallback, Fuse and
//     Strip decoders.
// Added tokens in the text encode to their ids. The post-processor's template
// and tokenizer_config.json's add_bos_token say whether a prompt starts with
// BOS. Anything else a file asks for is refused by name, never ignored.
class HfTokenizer : public Tokenizer {
public:
    // `tokenizer_config`: the folder's tokenizer_config.json, or null.
    HfTokenizer(nlohmann::json tokenizer, nlohmann::json tokenizer_config, const std::string& origin);
    ~HfTokenizer() override;
    // tokenizer.json and, beside it, tokenizer_config.json if there is one.
    static std::unique_ptr<HfTokenizer> from_folder(const std::filesystem::path& dir);

    std::vector<int> encode(std::string_view text) const override;
    std::string decode(std::span<const int> ids) const override;
    const std::string& token_bytes(int id) const override;
    bool has_token(int id) const override;
    int id_limit() const override { return static_cast<int>(id_bytes_.size()); }
    std::optional<int> eos_id() const override { return eos_; }
    std::optional<int> bos_id() const override { return add_bos_ ? bos_ : std::nullopt; }
    std::string kind() const override { return byte_level_ ? "byte-level BPE" : "SentencePiece BPE"; }
    std::size_t size() const override { return tokens_; }
    void save(const std::filesystem::path& dir) const override;

private:
    struct Step;  // one normalizer or pre-tokenizer step
    struct AddedToken {
        std::string content;
        int id;
    };

    std::string normalize(std::string text) const;
    std::vector<std::string> pre_tokenize(const std::string& text) const;
    void encode_word(const std::string& word, std::vector<int>& out) const;
    int id_of(const std::string& token) const;  // -1 if absent

    nlohmann::json json_, config_json_;
    std::string origin_;
    std::vector<std::unique_ptr<Step>> normalizers_, pre_tokenizers_;
    std::unordered_map<std::string, int> vocab_;
    BpeMerges merges_;
    std::vector<AddedToken> added_;  // longest first
    bool byte_level_ = false, byte_fallback_ = false, ignore_merges_ = false, fuse_unk_ = false;
    int unk_ = -1;
    std::optional<int> bos_, eos_;
    bool add_bos_ = false;
    int strip_leading_spaces_ = 0;  // the decoder's Strip: what the normalizer prepended
    std::vector<std::string> id_bytes_;
    std::vector<bool> id_known_;
    std::size_t tokens_ = 0;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace distgpt
