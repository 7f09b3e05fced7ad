#include "tokenizer/byte_level_bpe.h"

#include "tokenizer/bytes_to_unicode.h"
#include "tokenizer/utf8.h"
#include "util/error.h"
#include "util/json_file.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <fstream>
#include <sstream>

namespace distgpt {
namespace {

using nlohmann::json;

constexpr const char* kEndOfText = "<|endoftext|>";
constexpr std::size_t kCacheLimit = 200000;

std::map<std::string, int> parse_vocab(const json& j, const std::string& origin) {
    if (!j.is_object()) throw Error(origin + ": vocabulary must be a JSON object of token -> id");
    std::map<std::string, int> vocab;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT_MAX / 2)
            throw Error(origin + ": id of token '" + it.key() + "' is not a non-negative integer");
        vocab[it.key()] = it.value().get<int>();
    }
    return vocab;
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& origin, std::size_t n) {
    const auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size())
        throw Error(origin + ": merge " + std::to_string(n + 1) + " '" + line + "' is not two tokens separated by a space");
    return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

ByteLevelBpe::ByteLevelBpe(std::map<std::string, int> vocab, std::vector<std::pair<std::string, std::string>> merges,
                           std::map<std::string, int> special_tokens)
    : vocab_(std::move(vocab)),
      merges_(std::move(merges)),
      special_(std::move(special_tokens)),
      pretokenizer_(kGpt2SplitPattern, "GPT-2's pre-tokenizer") {
    int limit = 0;
    std::map<int, const std::string*> owner;
    for (const auto& [token, id] : vocab_) {
        limit = std::max(limit, id + 1);
        if (auto [it, fresh] = owner.emplace(id, &token); !fresh)
            throw Error("vocabulary gives id " + std::to_string(id) + " to both '" + *it->second + "' and '" + token +
                        "'; every token needs its own id");
    }
    for (const auto& [token, id] : special_) limit = std::max(limit, id + 1);
    // Ids index a table: a vocabulary's are dense, with room for a few gaps.
    // One huge id must not make it gigabytes (found by the fuzzer).
    const std::size_t most = vocab_.size() + special_.size() + kMostUnusedIds;
    for (const auto* ids : {&vocab_, &special_})
        for (const auto& [token, id] : *ids)
            if (id < 0 || static_cast<std::size_t>(id) >= most)
                throw Error("vocabulary gives '" + token + "' the id " + std::to_string(id) + ", out of range for " +
                            std::to_string(vocab_.size()) + " tokens (ids run from 0, with at most " + std::to_string(kMostUnusedIds) +
                            " unused)");
    id_bytes_.assign(limit, {});
    id_known_.assign(limit, false);
    const auto& map = byte_unicode_map();
    for (const auto& [token, id] : vocab_) {
        if (special_.count(token)) continue;
        std::string bytes;
        for (std::size_t i = 0; i < token.size();) {
            const std::size_t n = utf8::char_length(token, i);
            const char32_t cp = utf8::code_point(token, i);
            const int byte = map.byte_of(cp);
            if (byte < 0) throw Error("vocabulary token '" + token + "' (id " + std::to_string(id) + ") is not in GPT-2 byte-level form");
            bytes += static_cast<char>(byte);
            i += n;
        }
        id_bytes_[id] = std::move(bytes);
        id_known_[id] = true;
    }
    for (const auto& [token, id] : special_) {
        id_bytes_[id] = token;
        id_known_[id] = true;
    }
}

std::unique_ptr<ByteLevelBpe> ByteLevelBpe::from_vocab_and_merges(const std::filesystem::path& vocab_json,
                                                                  const std::filesystem::path& merges_txt) {
    auto vocab = parse_vocab(read_json_file(vocab_json), vocab_json.string());
    std::ifstream in(merges_txt);
    if (!in) throw Error("cannot open " + merges_txt.string());
    std::vector<std::pair<std::string, std::string>> merges;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.starts_with("#version")) continue;
        merges.push_back(split_merge(line, merges_txt.string(), merges.size()));
    }
    std::map<std::string, int> special;
    if (auto it = vocab.find(kEndOfText); it != vocab.end()) special[kEndOfText] = it->second;
    return std::make_unique<ByteLevelBpe>(std::move(vocab), std::move(merges), std::move(special));
}

std::unique_ptr<ByteLevelBpe> ByteLevelBpe::bytes_only(int eos_id) {
    const auto& map = byte_unicode_map();
    std::map<std::string, int> vocab;
    for (int id = 0; id < 256; ++id) vocab[map.utf8[map.order[id]]] = id;
    vocab[kEndOfText] = eos_id;
    return std::make_unique<ByteLevelBpe>(std::move(vocab), std::vector<std::pair<std::string, std::string>>{},
                                          std::map<std::string, int>{{kEndOfText, eos_id}});
}

void ByteLevelBpe::encode_piece(std::string_view piece, std::vector<int>& out) const {
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = cache_.find(std::string(piece)); it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const auto& map = byte_unicode_map();
    std::vector<std::string> symbols;
    for (unsigned char c : piece) symbols.push_back(map.utf8[c]);
    symbols = merges_.apply(std::move(symbols));
    std::vector<int> ids;
    for (const auto& s : symbols) {
        auto it = vocab_.find(s);
        if (it == vocab_.end())
            throw Error("BPE produced symbol '" + s + "' that is not in the vocabulary (vocab.json and merges.txt do not match)");
        ids.push_back(it->second);
    }
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() > kCacheLimit) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
}

std::vector<int> ByteLevelBpe::encode(std::string_view text) const {
    if (auto bad = utf8::first_invalid(text))
        throw Error("text is not valid UTF-8 at byte " + std::to_string(*bad) + "; convert it to UTF-8 first");
    std::vector<int> out;
    while (!text.empty()) {
        // The earliest special token splits the text; ordinary text goes through BPE.
        std::size_t at = std::string_view::npos;
        const std::pair<const std::string, int>* found = nullptr;
        for (const auto& entry : special_) {
            const auto pos = text.find(entry.first);
            if (pos < at || (pos == at && found && entry.first.size() > found->first.size())) {
                at = pos;
                found = &entry;
            }
        }
        const auto plain = text.substr(0, at);
        for (auto piece : pretokenizer_.split(plain)) encode_piece(piece, out);
        if (!found) break;
        out.push_back(found->second);
        text.remove_prefix(at + found->first.size());
    }
    return out;
}

const std::string& ByteLevelBpe::token_bytes(int id) const {
    if (!has_token(id)) throw Error("token id " + std::to_string(id) + " is not in the vocabulary");
    return id_bytes_[id];
}

bool ByteLevelBpe::has_token(int id) const { return id >= 0 && id < static_cast<int>(id_known_.size()) && id_known_[id]; }

std::optional<int> ByteLevelBpe::eos_id() const {
    if (auto it = special_.find(kEndOfText); it != special_.end()) return it->second;
    return std::nullopt;
}

void ByteLevelBpe::save(const std::filesystem::path& dir) const {
    std::vector<const std::string*> by_id(id_limit(), nullptr);
    for (const auto& [token, id] : vocab_) by_id[id] = &token;
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (int id = 0; id < id_limit(); ++id)
        if (by_id[id]) vocab[*by_id[id]] = id;
    std::ofstream(dir / "vocab.json") << vocab.dump() << "\n";
    std::ofstream merges(dir / "merges.txt");
    merges << "#version: 0.2\n";
    for (const auto& [a, b] : merges_.pairs()) merges << a << ' ' << b << '\n';
    const std::string eos = eos_id() ? kEndOfText : "";
    json config = {
        {"tokenizer_class", "GPT2Tokenizer"}, {"bos_token", eos}, {"eos_token", eos}, {"unk_token", eos}, {"add_prefix_space", false}};
    std::ofstream(dir / "tokenizer_config.json") << config.dump(2) << "\n";
}

}  // namespace distgpt
