#include "tokenizer/hf_tokenizer.h"

#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/bytes_to_unicode.h"
#include "tokenizer/utf8.h"
#include "util/error.h"
#include "util/json_file.h"

#include <utf8proc.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>

namespace distgpt {
namespace {

using nlohmann::json;

constexpr std::size_t kCacheLimit = 200000;
constexpr const char* kMetaspace = "\xE2\x96\x81";  // ▁, SentencePiece's space

enum class StepKind { Prepend, Replace, Nfc, Split, ByteLevel, Digits, Metaspace };
enum class PrependScheme { Always, First, Never };

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

std::string type_of(const json& j) {
    return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "?";
}

// A "pattern" of tokenizer.json: {"String": "x"} or {"Regex": "x"}.
std::string string_pattern(const json& p, const std::string& where) {
    if (p.is_object() && p.contains("String") && p["String"].is_string()) return p["String"].get<std::string>();
    throw Error(where + ": only a {\"String\": …} pattern is supported here");
}

std::string as_regex(const json& p, const std::string& where) {
    if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) return p["Regex"].get<std::string>();
    if (p.is_object() && p.contains("String") && p["String"].is_string()) return "\\Q" + p["String"].get<std::string>() + "\\E";
    throw Error(where + ": its pattern is neither {\"Regex\": …} nor {\"String\": …}");
}

// A token's text as tokenizer_config.json gives it: a string or {"content": …}.
std::optional<std::string> token_text(const json& config, const char* key) {
    if (!config.is_object() || !config.contains(key)) return std::nullopt;
    const json& t = config[key];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
    return std::nullopt;
}

// "<0x0A>" -> 10.
std::optional<unsigned char> fallback_byte(const std::string& token) {
    if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
    auto digit = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    const int high = digit(token[3]), low = digit(token[4]);
    if (high < 0 || low < 0) return std::nullopt;
    return static_cast<unsigned char>(high * 16 + low);
}

std::string nfc(const std::string& text) {
    utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()));
    if (!out) throw Error("text could not be put in Unicode normal form C");
    std::string s(reinterpret_cast<char*>(out));
    std::free(out);
    return s;
}

std::vector<std::string> utf8_chars(const std::string& s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8::char_length(s, i);
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// An integer field, 0 .. `most`, or `fallback` when absent.
int small_int(const json& j, const char* key, int fallback, int most, const std::string& where) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    const json& v = j[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > most)
        throw Error(where + ": \"" + key + "\" must be an integer from 0 to " + std::to_string(most));
    return static_cast<int>(v.get<int64_t>());
}

}  // namespace

struct HfTokenizer::Step {
    StepKind kind;
    std::string text, with;                        // Prepend: text; Replace: text -> with; Metaspace: text is the replacement
    std::unique_ptr<RegexSplitter> regex;          // Split; ByteLevel with use_regex
    bool flag = false;                             // ByteLevel: add_prefix_space; Digits: individual; Metaspace: split
    PrependScheme scheme = PrependScheme::Always;  // Metaspace
};

HfTokenizer::HfTokenizer(json tokenizer, json tokenizer_config, const std::string& origin) try
    : json_(std::move(tokenizer)), config_json_(std::move(tokenizer_config)), origin_(origin) {
    if (!json_.is_object() || !json_.contains("model") || !json_["model"].is_object()) throw Error(origin + ": has no \"model\" object");
    const json& model = json_["model"];
    if (type_of(model) != "BPE" && !(model.contains("merges") && !model.contains("type")))
        throw Error(origin + ": model type '" + type_of(model) + "' is not supported (BPE: byte-level or SentencePiece-style)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
            throw Error(origin + ": BPE with a " + key + " is not supported");

    // Normalizer.
    auto normalizer = [&](const json& n, auto& self) -> void {
        if (n.is_null()) return;
        const std::string type = type_of(n);
        const std::string where = origin + ": normalizer " + type;
        if (type == "Sequence") {
            for (const json& each : n.value("normalizers", json::array())) self(each, self);
        } else if (type == "Prepend") {
            normalizers_.push_back(std::make_unique<Step>(Step{StepKind::Prepend, n.value("prepend", ""), ""}));
        } else if (type == "Replace") {
            normalizers_.push_back(
                std::make_unique<Step>(Step{StepKind::Replace, string_pattern(n.value("pattern", json()), where), n.value("content", "")}));
        } else if (type == "NFC") {
            normalizers_.push_back(std::make_unique<Step>(Step{StepKind::Nfc}));
        } else {
            throw Error(where + " is not supported (Sequence, Prepend, Replace, NFC)");
        }
    };
    normalizer(json_.value("normalizer", json()), normalizer);

    // Pre-tokenizer.
    auto pre_tokenizer = [&](const json& p, auto& self) -> void {
        if (p.is_null()) return;
        const std::string type = type_of(p);
        const std::string where = origin + ": pre_tokenizer " + type;
        if (type == "Sequence") {
            for (const json& each : p.value("pretokenizers", json::array())) self(each, self);
        } else if (type == "Split") {
            if (p.value("behavior", "Isolated") != "Isolated" || p.value("invert", false))
                throw Error(where + " with behavior '" + p.value("behavior", "?") + "' is not supported (Isolated)");
            auto step = std::make_unique<Step>(Step{StepKind::Split});
            step->regex = std::make_unique<RegexSplitter>(as_regex(p.value("pattern", json()), where), where);
            pre_tokenizers_.push_back(std::move(step));
        } else if (type == "ByteLevel") {
            byte_level_ = true;
            auto step = std::make_unique<Step>(Step{StepKind::ByteLevel});
            step->flag = p.value("add_prefix_space", false);
            if (p.value("use_regex", true)) step->regex = std::make_unique<RegexSplitter>(kGpt2SplitPattern, where);
            pre_tokenizers_.push_back(std::move(step));
        } else if (type == "Digits") {
            auto step = std::make_unique<Step>(Step{StepKind::Digits});
            step->flag = p.value("individual_digits", false);
            pre_tokenizers_.push_back(std::move(step));
        } else if (type == "Metaspace") {
            auto step = std::make_unique<Step>(Step{StepKind::Metaspace, p.value("replacement", std::string(kMetaspace))});
            step->flag = p.value("split", true);
            const std::string scheme = p.contains("prepend_scheme") ? p.value("prepend_scheme", "always")
                                                                    : (p.value("add_prefix_space", true) ? "always" : "never");
            step->scheme = scheme == "first" ? PrependScheme::First : scheme == "never" ? PrependScheme::Never : PrependScheme::Always;
            pre_tokenizers_.push_back(std::move(step));
        } else {
            throw Error(where + " is not supported (Sequence, Split, ByteLevel, Digits, Metaspace)");
        }
    };
    pre_tokenizer(json_.value("pre_tokenizer", json()), pre_tokenizer);

    // Vocabulary, merges and added tokens.
    const json& vocab = model.value("vocab", json::object());
    if (!vocab.is_object()) throw Error(origin + ": model.vocab must be an object of token -> id");
    int limit = 0;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT_MAX / 2)
            throw Error(origin + ": id of token '" + it.key() + "' is not a non-negative integer");
        const int id = it.value().get<int>();
        vocab_[it.key()] = id;
        limit = std::max(limit, id + 1);
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const json& m : model.value("merges", json::array())) {
        if (m.is_string()) {
            const std::string line = m.get<std::string>();
            const auto space = line.find(' ');
            if (space == std::string::npos) throw Error(origin + ": merge '" + line + "' is not two tokens separated by a space");
            merges.emplace_back(line.substr(0, space), line.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            throw Error(origin + ": merge " + std::to_string(merges.size() + 1) + " is neither \"a b\" nor [\"a\", \"b\"]");
        }
    }
    merges_ = BpeMerges(std::move(merges));
    byte_fallback_ = model.value("byte_fallback", false);
    ignore_merges_ = model.value("ignore_merges", false);
    fuse_unk_ = model.value("fuse_unk", false);
    for (const json& t : json_.value("added_tokens", json::array())) {
        if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id") || !t["id"].is_number_integer())
            throw Error(origin + ": an added token needs a string \"content\" and an integer \"id\"");
        const int id = small_int(t, "id", 0, INT_MAX / 2, origin + ": added token '" + t["content"].get<std::string>() + "'");
        added_.push_back({t["content"].get<std::string>(), id});
        limit = std::max(limit, id + 1);
    }
    std::stable_sort(added_.begin(), added_.end(), [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
    // Ids index a table: a vocabulary's are dense, with room for a few gaps.
    if (static_cast<std::size_t>(limit) > vocab_.size() + added_.size() + kMostUnusedIds)
        throw Error(origin + ": ids run to " + std::to_string(limit - 1) + " for " + std::to_string(vocab_.size() + added_.size()) +
                    " tokens (at most " + std::to_string(kMostUnusedIds) + " unused ids are accepted)");
    if (model.contains("unk_token") && model["unk_token"].is_string()) unk_ = id_of(model["unk_token"].get<std::string>());

    // Decoder: what each token adds to a text.
    bool decode_bytes = false, decode_fallback = false;
    std::vector<std::pair<std::string, std::string>> replacements;
    auto decoder = [&](const json& d, auto& self) -> void {
        if (d.is_null()) return;
        const std::string type = type_of(d);
        const std::string where = origin + ": decoder " + type;
        if (type == "Sequence") {
            for (const json& each : d.value("decoders", json::array())) self(each, self);
        } else if (type == "ByteLevel") {
            decode_bytes = true;
        } else if (type == "Replace") {
            replacements.emplace_back(string_pattern(d.value("pattern", json()), where), d.value("content", ""));
        } else if (type == "ByteFallback") {
            decode_fallback = true;
        } else if (type == "Fuse") {
        } else if (type == "Strip") {
            if (d.value("content", " ") != " " || small_int(d, "stop", 0, 64, where) != 0)
                throw Error(where + " is supported for leading spaces only (content \" \", stop 0)");
            strip_leading_spaces_ = small_int(d, "start", 0, 64, where);
        } else if (type == "Metaspace") {
            replacements.emplace_back(d.value("replacement", std::string(kMetaspace)), " ");
            const std::string scheme = d.contains("prepend_scheme") ? d.value("prepend_scheme", "always")
                                                                    : (d.value("add_prefix_space", true) ? "always" : "never");
            if (scheme != "never") strip_leading_spaces_ = 1;
        } else {
            throw Error(where + " is not supported (Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)");
        }
    };
    decoder(json_.value("decoder", json()), decoder);
    if (!json_.contains("decoder") || json_["decoder"].is_null()) decode_bytes = byte_level_;

    id_bytes_.assign(limit, {});
    id_known_.assign(limit, false);
    const auto& map = byte_unicode_map();
    for (const auto& [token, id] : vocab_) {
        std::string bytes;
        if (decode_fallback && fallback_byte(token)) {
            bytes = std::string(1, static_cast<char>(*fallback_byte(token)));
        } else if (decode_bytes) {
            for (const auto& ch : utf8_chars(token)) {
                const int byte = map.byte_of(utf8::code_point(ch, 0));
                bytes += byte >= 0 ? std::string(1, static_cast<char>(byte)) : ch;
            }
        } else {
            bytes = token;
            for (const auto& [from, to] : replacements) bytes = replace_all(bytes, from, to);
        }
        id_bytes_[id] = std::move(bytes);
        id_known_[id] = true;
    }
    for (const auto& t : added_) {
        id_bytes_[t.id] = t.content;
        id_known_[t.id] = true;
    }
    tokens_ = static_cast<std::size_t>(std::count(id_known_.begin(), id_known_.end(), true));

    // BOS: the post-processor's template, unless tokenizer_config.json says otherwise.
    auto template_bos = [&](const json& p, auto& self) -> std::optional<int> {
        if (p.is_null()) return std::nullopt;
        const std::string type = type_of(p);
        if (type == "Sequence") {
            for (const json& each : p.value("processors", json::array()))
                if (auto id = self(each, self)) return id;
            return std::nullopt;
        }
        if (type == "ByteLevel") return std::nullopt;
        if (type != "TemplateProcessing")
            throw Error(origin + ": post_processor " + type + " is not supported (TemplateProcessing, ByteLevel, Sequence)");
        const json single = p.value("single", json::array());
        const json specials = p.value("special_tokens", json::object());
        if (!single.is_array()) throw Error(origin + ": post_processor's \"single\" must be a list");
        for (const json& piece : single) {
            if (!piece.is_object() || piece.contains("Sequence")) return std::nullopt;  // nothing before the text
            const json special = piece.value("SpecialToken", json::object());
            if (!special.is_object() || !special.contains("id") || !special["id"].is_string()) continue;
            const std::string name = special["id"].get<std::string>();
            const json entry = specials.is_object() ? specials.value(name, json::object()) : json::object();
            const json ids = entry.is_object() ? entry.value("ids", json::array()) : json::array();
            if (ids.is_array() && !ids.empty()) return small_int(json{{"id", ids[0]}}, "id", 0, INT_MAX / 2, origin + ": post_processor");
            if (const int id = id_of(name); id >= 0) return id;
            throw Error(origin + ": post_processor names special token '" + name + "', which is not in the vocabulary");
        }
        return std::nullopt;
    };
    const std::optional<int> template_start = template_bos(json_.value("post_processor", json()), template_bos);
    if (auto name = token_text(config_json_, "bos_token"); name && id_of(*name) >= 0) bos_ = id_of(*name);
    if (!bos_) bos_ = template_start;
    add_bos_ = template_start.has_value();
    if (config_json_.is_object() && config_json_.contains("add_bos_token") && config_json_["add_bos_token"].is_boolean())
        add_bos_ = config_json_["add_bos_token"].get<bool>() && bos_.has_value();
    if (auto name = token_text(config_json_, "eos_token"); name && id_of(*name) >= 0) eos_ = id_of(*name);
    for (const char* name : {"</s>", "<|endoftext|>", "<|end_of_text|>"})
        if (!eos_ && id_of(name) >= 0) eos_ = id_of(name);
} catch (const json::exception& e) {
    // A field of the wrong type (an id that is a string, say).
    throw Error(origin + ": a field has the wrong type: " + e.what());
}

HfTokenizer::~HfTokenizer() = default;

std::unique_ptr<HfTokenizer> HfTokenizer::from_folder(const std::filesystem::path& dir) {
    const auto config = dir / "tokenizer_config.json";
    return std::make_unique<HfTokenizer>(read_json_file(dir / "tokenizer.json"),
                                         std::filesystem::exists(config) ? read_json_file(config) : json(),
                                         (dir / "tokenizer.json").string());
}

int HfTokenizer::id_of(const std::string& token) const {
    for (const auto& t : added_)
        if (t.content == token) return t.id;
    const auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
}

std::string HfTokenizer::normalize(std::string text) const {
    for (const auto& step : normalizers_) {
        switch (step->kind) {
            case StepKind::Prepend:
                if (!text.empty()) text = step->text + text;
                break;
            case StepKind::Replace: text = replace_all(std::move(text), step->text, step->with); break;
            case StepKind::Nfc: text = nfc(text); break;
            default: break;
        }
    }
    return text;
}

std::vector<std::string> HfTokenizer::pre_tokenize(const std::string& text) const {
    std::vector<std::string> pieces = {text};
    for (const auto& step : pre_tokenizers_) {
        std::vector<std::string> next;
        for (std::size_t p = 0; p < pieces.size(); ++p) {
            const std::string& piece = pieces[p];
            switch (step->kind) {
                case StepKind::Split:
                    for (auto s : step->regex->split(piece)) next.emplace_back(s);
                    break;
                case StepKind::ByteLevel: {
                    const std::string spaced = step->flag && !piece.starts_with(' ') ? " " + piece : piece;
                    if (!step->regex) {
                        next.push_back(spaced);
                        break;
                    }
                    for (auto s : step->regex->split(spaced)) next.emplace_back(s);
                    break;
                }
                case StepKind::Digits: {
                    // Runs of digits (or each digit) apart from the rest.
                    std::string run;
                    bool run_digits = false;
                    for (char c : piece) {
                        const bool digit = c >= '0' && c <= '9';
                        if (!run.empty() && (digit != run_digits || (digit && step->flag))) next.push_back(std::exchange(run, {}));
                        run += c;
                        run_digits = digit;
                    }
                    if (!run.empty()) next.push_back(run);
                    break;
                }
                case StepKind::Metaspace: {
                    std::string s = replace_all(piece, " ", step->text);
                    const bool prepend = step->scheme == PrependScheme::Always || (step->scheme == PrependScheme::First && p == 0);
                    if (prepend && !s.starts_with(step->text)) s = step->text + s;
                    if (!step->flag) {
                        next.push_back(s);
                        break;
                    }
                    // Each replacement starts a new word.
                    std::size_t start = 0;
                    for (std::size_t at = s.find(step->text, 1); at != std::string::npos; at = s.find(step->text, at + 1)) {
                        next.push_back(s.substr(start, at - start));
                        start = at;
                    }
                    next.push_back(s.substr(start));
                    break;
                }
                default: next.push_back(piece);
            }
        }
        std::erase_if(next, [](const std::string& s) { return s.empty(); });
        pieces = std::move(next);
    }
    return pieces;
}

void HfTokenizer::encode_word(const std::string& word, std::vector<int>& out) const {
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = cache_.find(word); it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<std::string> symbols;
    if (byte_level_) {
        const auto& map = byte_unicode_map();
        for (unsigned char c : word) symbols.push_back(map.utf8[c]);
    } else {
        symbols = utf8_chars(word);
    }
    std::vector<int> ids;
    std::string whole;
    for (const auto& s : symbols) whole += s;
    if (const auto as_one = vocab_.find(whole); ignore_merges_ && as_one != vocab_.end()) {
        ids.push_back(as_one->second);
    } else {
        // A character the vocabulary lacks becomes its UTF-8 bytes' <0xNN> tokens.
        std::vector<std::string> known;
        for (auto& s : symbols) {
            if (vocab_.count(s) || !byte_fallback_) {
                known.push_back(std::move(s));
                continue;
            }
            for (unsigned char b : s) {
                static const char* hex = "0123456789ABCDEF";
                known.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
            }
        }
        for (const auto& s : merges_.apply(std::move(known))) {
            if (const auto it = vocab_.find(s); it != vocab_.end()) {
                ids.push_back(it->second);
            } else if (unk_ >= 0) {
                if (!(fuse_unk_ && !ids.empty() && ids.back() == unk_)) ids.push_back(unk_);
            } else {
                throw Error(origin_ + ": '" + s +
                            "' is not in the vocabulary, and the tokenizer has neither byte fallback nor an unknown token");
            }
        }
    }
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() > kCacheLimit) cache_.clear();
    cache_.emplace(word, std::move(ids));
}

std::vector<int> HfTokenizer::encode(std::string_view text) const {
    if (auto bad = utf8::first_invalid(text))
        throw Error("text is not valid UTF-8 at byte " + std::to_string(*bad) + "; convert it to UTF-8 first");
    std::vector<int> out;
    while (!text.empty()) {
        // The earliest added token splits the text (the longest of those starting there).
        std::size_t at = std::string_view::npos;
        const AddedToken* found = nullptr;
        for (const auto& t : added_) {
            const auto pos = text.find(t.content);
            if (pos < at) {
                at = pos;
                found = &t;
            }
        }
        const std::string plain(text.substr(0, at));
        if (!plain.empty())
            for (const auto& word : pre_tokenize(normalize(plain))) encode_word(word, out);
        if (!found) break;
        out.push_back(found->id);
        text.remove_prefix(at + found->content.size());
    }
    return out;
}

std::string HfTokenizer::decode(std::span<const int> ids) const {
    std::string text = Tokenizer::decode(ids);
    for (int i = 0; i < strip_leading_spaces_ && !text.empty() && text.front() == ' '; ++i) text.erase(0, 1);
    return text;
}

const std::string& HfTokenizer::token_bytes(int id) const {
    if (!has_token(id)) throw Error("token id " + std::to_string(id) + " is not in the vocabulary");
    return id_bytes_[id];
}

bool HfTokenizer::has_token(int id) const { return id >= 0 && id < static_cast<int>(id_known_.size()) && id_known_[id]; }

void HfTokenizer::save(const std::filesystem::path& dir) const {
    std::ofstream(dir / "tokenizer.json") << json_.dump(2) << "\n";
    if (!config_json_.is_null()) std::ofstream(dir / "tokenizer_config.json") << config_json_.dump(2) << "\n";
}

}  // namespace distgpt
