#include "cli/commands.h"
#include "cli/model_options.h"
#include "weights/hf_model_writer.h"

#include <iostream>

namespace distgpt::cli {
namespace {

struct SaveArgs {
    ModelOptions model;
    std::string out;
};

int run(const SaveArgs& a) {
    const OpenedModel m = open_model(a.model.source());
    write_hf_model_folder(a.out, m.config, *m.weights, *m.tokenizer);
    std::cout << "wrote " << m.description << " to " << a.out << " (config.json, model.safetensors, tokenizer files)\n";
    return 0;
}

}  // namespace

void add_save(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SaveArgs>();
    auto* c = app.add_subcommand("save", "write a model as a Hugging Face folder (e.g. a seeded random gpt2)");
    args->model.add_to(*c);
    c->add_option("--out", args->out, "folder to write")->required();
    c->callback([args, &exit_code] { exit_code = guarded("save", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
