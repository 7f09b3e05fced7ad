#include "cli/commands.h"
#include "cli/model_options.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "train/trainer.h"
#include "util/error.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace distgpt::cli {
namespace {

struct TrainTokenizerArgs {
    std::filesystem::path text, out;
    int vocab_size = 1024;
};

int run(const TrainTokenizerArgs& a) {
    std::ifstream in(a.text, std::ios::binary);
    if (!in) throw Error("cannot open training text " + a.text.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    // Learn from the part `train` trains on, so its held-out loss is measured on text the vocabulary never saw.
    std::string text = buffer.str();
    text.resize(held_out_start(text));
    const nlohmann::json tokenizer = train_byte_level_bpe(text, a.vocab_size);
    std::filesystem::create_directories(a.out);
    std::ofstream(a.out / "tokenizer.json") << tokenizer.dump() << "\n";
    std::ofstream(a.out / "tokenizer_config.json") << byte_level_bpe_config().dump(2) << "\n";
    // Read back as any model folder's tokenizer is, and say what it does to the text.
    const auto tok = load_tokenizer(a.out);
    const std::size_t chars = utf8::char_count(text);
    const std::size_t tokens = tok->encode(text).size();
    std::cout << "learned " << tokenizer["model"]["merges"].size() << " merges: " << tok->size() << " tokens; the training part's " << chars
              << " characters are " << tokens << " tokens (" << static_cast<double>(chars) / std::max<std::size_t>(1, tokens)
              << " characters per token) -> " << (a.out / "tokenizer.json").string() << "\n";
    return 0;
}

}  // namespace

void add_train_tokenizer(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<TrainTokenizerArgs>();
    auto* c = app.add_subcommand(
        "train-tokenizer", "learn a byte-level BPE vocabulary from a text's first 90% (the part train trains on) and write tokenizer.json");
    c->add_option("--text", a->text, "UTF-8 training text")->required();
    c->add_option("--out", a->out, "folder to write tokenizer.json and tokenizer_config.json into")->required();
    c->add_option("--vocab-size", a->vocab_size, "tokens in all: 256 bytes, the merges, and <|endoftext|>")
        ->check(CLI::Range(257, 1 << 20))
        ->capture_default_str();
    c->callback([a, &exit_code] { exit_code = guarded("train-tokenizer", [&] { return run(*a); }); });
}

}  // namespace distgpt::cli
