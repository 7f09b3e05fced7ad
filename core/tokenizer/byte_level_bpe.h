#pragma once
#include "tokenizer/bpe_merges.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/tokenizer.h"

#include <map>
#include <mutex>
#include <unordered_map>

namespace distgpt {

// GPT-2's byte-level BPE from vocab.json + merges.txt (a tokenizer.json is
// read by HfTokenizer): text is split by the GPT-2 pattern, each piece's bytes
// become printable characters, and merges are applied lowest rank first.
// Special tokens (e.g. <|endoftext|>) in the text encode to their own id.
// How many ids below a vocabulary's largest one may be unused: a file with
// a larger gap is refused as malformed rather than sized by it.
inline constexpr int kMostUnusedIds = 65536;

class ByteLevelBpe : public Tokenizer {
public:
    // vocab: token string (in byte-unicode form) -> id; merges in rank order.
    ByteLevelBpe(std::map<std::string, int> vocab, std::vector<std::pair<std::string, std::string>> merges,
                 std::map<std::string, int> special_tokens);

    static std::unique_ptr<ByteLevelBpe> from_vocab_and_merges(const std::filesystem::path& vocab_json,
                                                               const std::filesystem::path& merges_txt);
    // The 256 byte tokens (ids 0..255 as in GPT-2) and <|endoftext|> at eos_id,
    // no merges: any text encodes, one token per byte. For random models.
    static std::unique_ptr<ByteLevelBpe> bytes_only(int eos_id);

    std::vector<int> encode(std::string_view text) const override;
    const std::string& token_bytes(int id) const override;
    bool has_token(int id) const override;
    int id_limit() const override { return static_cast<int>(id_bytes_.size()); }
    std::optional<int> eos_id() const override;
    std::string kind() const override { return "gpt2-bpe"; }
    std::size_t size() const override { return vocab_.size(); }
    void save(const std::filesystem::path& dir) const override;

private:
    void encode_piece(std::string_view piece, std::vector<int>& out) const;

    std::map<std::string, int> vocab_;
    BpeMerges merges_;
    std::map<std::string, int> special_;
    std::vector<std::string> id_bytes_;
    std::vector<bool> id_known_;
    RegexSplitter pretokenizer_;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace distgpt
