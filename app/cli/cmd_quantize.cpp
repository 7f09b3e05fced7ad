#include "cli/commands.h"
#include "cli/model_options.h"
#include "weights/hf_model_writer.h"

#include <filesystem>
#include <iostream>

namespace distgpt::cli {
namespace {

struct QuantizeArgs {
    ModelOptions model;
    std::string dtype;
    std::string out;
};

int64_t file_bytes(const std::filesystem::path& p) {
    return std::filesystem::exists(p) ? static_cast<int64_t>(std::filesystem::file_size(p)) : 0;
}

int run(const QuantizeArgs& a) {
    const WeightFormat format = *weight_format_named(a.dtype);
    const OpenedModel m = open_model(a.model.source());
    write_hf_model_folder(a.out, m.config, *m.weights, *m.tokenizer, format);
    const int64_t before = a.model.model_dir.empty() ? 0 : file_bytes(std::filesystem::path(a.model.model_dir) / "model.safetensors");
    const int64_t after = file_bytes(std::filesystem::path(a.out) / "model.safetensors");
    std::cout << "wrote " << m.description << " with its matrices in " << a.dtype << " to " << a.out << ": model.safetensors "
              << (after >> 10) << " KiB";
    if (before > 0) std::cout << " (was " << (before >> 10) << " KiB)";
    std::cout << "\nrun it with --model " << a.out << " (it loads as " << a.dtype << "; --weights-dtype f32 widens it back)\n";
    return 0;
}

}  // namespace

void add_quantize(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<QuantizeArgs>();
    auto* c = app.add_subcommand(
        "quantize", "write a model with its weight matrices in q8 or q4 blocks (or bf16, f16, f32) as a folder that loads directly");
    args->model.add_to(*c);
    std::vector<std::string> names;
    for (WeightFormat f : weight_formats()) names.push_back(weight_format_name(f));
    c->add_option("--dtype", args->dtype, "format of the matrices and embedding tables (norms and biases stay as they are)")
        ->required()
        ->check(CLI::IsMember(names));
    c->add_option("--out", args->out, "folder to write")->required();
    c->callback([args, &exit_code] { exit_code = guarded("quantize", [&] { return run(*args); }); });
}

}  // namespace distgpt::cli
