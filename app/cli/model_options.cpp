#include "cli/model_options.h"

#include "engine/demo_model.h"
#include "util/error.h"

#include <iostream>
#include <thread>

namespace distgpt::cli {
namespace {

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

void ModelOptions::add_to(CLI::App& c) {
    c.add_option("--model", model_dir,
                 "Hugging Face model folder (config.json, model.safetensors, tokenizer files); default: the bundled demo model");
    std::vector<std::string> demos;
    for (DemoModel d : demo_models()) demos.push_back(demo_name(d));
    c.add_option("--demo", demo, "a bundled demo model: " + join(demos) + " (the first is the default)")->check(CLI::IsMember(demos));
    c.add_option(
        "--random-init", random_init,
        "a seeded random model instead, of a named shape (" + join(model_preset_names()) + ") or of the shape a config.json file gives");
    c.add_option("--init-seed", init_seed, "seed of the random model's weights")->capture_default_str();
    c.add_option("--tokenizer", tokenizer_dir, "tokenizer files for a random model (default: one token per byte)");
}

void ModelOptions::add_weights_dtype_to(CLI::App& c) {
    std::vector<std::string> names;
    for (WeightFormat f : weight_formats()) names.push_back(weight_format_name(f));
    c.add_option(
         "--weights-dtype", weights_dtype,
         "how each node holds the weight matrices: " + join(names) +
             " (default: as the checkpoint stores them; a random model is f32). Decode reads every weight once a token: bf16/f16 read "
             "half the bytes of f32, q8 (8.5 bits a weight) about a quarter, q4 (4.5 bits) about an eighth")
        ->check(CLI::IsMember(names));
}

ModelSource ModelOptions::source() const {
    if (int(!model_dir.empty()) + int(!random_init.empty()) + int(!demo.empty()) > 1)
        throw Error("give one of --model, --demo and --random-init");
    ModelSource s;
    s.dir = model_dir;
    if (model_dir.empty() && random_init.empty()) {
        const std::string name = demo.empty() ? demo_name(DemoModel::ShakespeareChar) : demo;
        const auto which = demo_named(name);
        const auto found = which ? find_demo_model(*which) : std::nullopt;
        if (!found)
            throw Error("no model: give --model DIR (a Hugging Face folder) or --random-init SHAPE (the bundled demo model " + name +
                        " was not found)");
        s.dir = *found;
    }
    s.random_shape = random_init;
    s.random_seed = init_seed;
    s.tokenizer_dir = tokenizer_dir;
    if (!weights_dtype.empty()) s.weight_format = weight_format_named(weights_dtype);
    return s;
}

int default_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int guarded(const char* command, const std::function<int()>& body) {
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << "distgpt-cli " << command << ": " << e.what() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "distgpt-cli " << command << ": internal error: " << e.what() << "\n";
    }
    return 1;
}

}  // namespace distgpt::cli
