#pragma once
#include "tokenizer/tokenizer.h"

#include <map>

namespace distgpt {

// One token per Unicode character, for small models trained on one text.
// Stored as vocab.json (character -> id) with tokenizer_config.json naming
// "DistgptCharTokenizer".
class CharTokenizer : public Tokenizer {
public:
    explicit CharTokenizer(std::vector<std::string> chars);                  // id = index
    static std::unique_ptr<CharTokenizer> from_text(std::string_view text);  // the sorted set of its characters
    static std::unique_ptr<CharTokenizer> from_vocab_json(const std::filesystem::path& vocab_json);

    std::vector<int> encode(std::string_view text) const override;
    const std::string& token_bytes(int id) const override;
    bool has_token(int id) const override { return id >= 0 && id < static_cast<int>(chars_.size()); }
    int id_limit() const override { return static_cast<int>(chars_.size()); }
    std::optional<int> eos_id() const override { return std::nullopt; }
    std::string kind() const override { return "char"; }
    std::size_t size() const override { return chars_.size(); }
    void save(const std::filesystem::path& dir) const override;

private:
    std::vector<std::string> chars_;
    std::map<std::string, int, std::less<>> ids_;
};

}  // namespace distgpt
