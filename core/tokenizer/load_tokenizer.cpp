#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace distgpt {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir) {
    const auto config = dir / "tokenizer_config.json";
    if (std::filesystem::exists(config)) {
        std::ifstream in(config);
        const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.value("tokenizer_class", "") == "DistgptCharTokenizer")
            return CharTokenizer::from_vocab_json(dir / "vocab.json");
    }
    if (std::filesystem::exists(dir / "tokenizer.json")) return HfTokenizer::from_folder(dir);
    if (std::filesystem::exists(dir / "vocab.json") && std::filesystem::exists(dir / "merges.txt"))
        return ByteLevelBpe::from_vocab_and_merges(dir / "vocab.json", dir / "merges.txt");
    if (std::filesystem::exists(dir / "tokenizer.model"))
        throw Error(dir.string() +
                    ": has only tokenizer.model (SentencePiece's own format); distgpt reads tokenizer.json: the model's "
                    "Hugging Face page has one, or transformers' AutoTokenizer.save_pretrained writes it");
    throw Error(dir.string() + ": no tokenizer files (tokenizer.json, or vocab.json + merges.txt)");
}

}  // namespace distgpt
