#include "tokenizer/char_tokenizer.h"

#include "tokenizer/utf8.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace distgpt {

CharTokenizer::CharTokenizer(std::vector<std::string> chars) : chars_(std::move(chars)) {
    for (std::size_t i = 0; i < chars_.size(); ++i) {
        const auto& c = chars_[i];
        if (c.empty() || utf8::first_invalid(c) || utf8::char_length(c, 0) != c.size())
            throw Error("character vocabulary entry " + std::to_string(i) + " is not exactly one UTF-8 character");
        if (!ids_.emplace(c, static_cast<int>(i)).second) throw Error("character vocabulary lists '" + c + "' twice");
    }
}

std::unique_ptr<CharTokenizer> CharTokenizer::from_text(std::string_view text) {
    if (auto bad = utf8::first_invalid(text)) throw Error("training text is not valid UTF-8 at byte " + std::to_string(*bad));
    std::set<std::string> set;
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = utf8::char_length(text, i);
        set.emplace(text.substr(i, n));
        i += n;
    }
    return std::make_unique<CharTokenizer>(std::vector<std::string>(set.begin(), set.end()));
}

std::unique_ptr<CharTokenizer> CharTokenizer::from_vocab_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error("cannot open " + path.string());
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(path.string() + ": must be an object of character -> id");
    std::vector<std::string> chars(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_number_integer()) throw Error(path.string() + ": id of '" + it.key() + "' is not an integer");
        const auto id = it.value().get<int64_t>();
        if (id < 0 || id >= static_cast<int64_t>(chars.size()) || !chars[id].empty())
            throw Error(path.string() + ": ids must be 0.." + std::to_string(chars.size() - 1) + ", each once; '" + it.key() + "' has " +
                        std::to_string(id));
        chars[id] = it.key();
    }
    return std::make_unique<CharTokenizer>(std::move(chars));
}

std::vector<int> CharTokenizer::encode(std::string_view text) const {
    if (auto bad = utf8::first_invalid(text))
        throw Error("text is not valid UTF-8 at byte " + std::to_string(*bad) + "; convert it to UTF-8 first");
    std::vector<int> out;
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = utf8::char_length(text, i);
        auto it = ids_.find(text.substr(i, n));
        if (it == ids_.end())
            throw Error("character '" + std::string(text.substr(i, n)) + "' at byte " + std::to_string(i) +
                        " is not in this model's character vocabulary");
        out.push_back(it->second);
        i += n;
    }
    return out;
}

const std::string& CharTokenizer::token_bytes(int id) const {
    if (!has_token(id)) throw Error("token id " + std::to_string(id) + " is not in the character vocabulary");
    return chars_[id];
}

void CharTokenizer::save(const std::filesystem::path& dir) const {
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < chars_.size(); ++i) vocab[chars_[i]] = i;
    std::ofstream(dir / "vocab.json") << vocab.dump() << "\n";
    nlohmann::json config = {{"tokenizer_class", "DistgptCharTokenizer"}};
    std::ofstream(dir / "tokenizer_config.json") << config.dump(2) << "\n";
}

}  // namespace distgpt
