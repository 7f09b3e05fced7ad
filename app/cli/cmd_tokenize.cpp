#include "cli/commands.h"
#include "cli/model_options.h"
#include "tokenizer/utf8.h"

#include <nlohmann/json.hpp>

#include <iostream>

namespace distgpt::cli {
namespace {

struct TokenizeArgs {
    ModelOptions model;
    std::string text;
    bool json = false;
};

int run(const TokenizeArgs& a) {
    const OpenedModel model = open_model(a.model.source());
    const auto ids = model.tokenizer->encode_prompt(a.text);
    if (a.json) {
        nlohmann::json tokens = nlohmann::json::array();
        for (int id : ids) tokens.push_back(utf8::escape_invalid(model.tokenizer->token_bytes(id)));
        std::cout << nlohmann::json{{"ids", ids}, {"tokens", tokens}, {"count", ids.size()}}.dump() << "\n";
        return 0;
    }
    for (int id : ids) std::cout << id << "\t" << nlohmann::json(utf8::escape_invalid(model.tokenizer->token_bytes(id))).dump() << "\n";
    std::cerr << ids.size() << " tokens (" << model.tokenizer->kind() << ")\n";
    return 0;
}

}  // namespace

void add_tokenize(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TokenizeArgs>();
    auto* c = app.add_subcommand("tokenize", "show the token ids and strings of a text");
    args->model.add_to(*c);
    c->add_option("--text", args->text, "the text")->required();
    c->add_flag("--json", args->json, "print {ids, tokens, count}");
    c->callback([args, &exit_code] { exit_code = guarded("tokenize", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
