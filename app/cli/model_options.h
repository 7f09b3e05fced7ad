#pragma once
#include "engine/model_source.h"

#include <CLI/CLI.hpp>

namespace distgpt::cli {

// --model DIR | --demo NAME | --random-init SHAPE [--init-seed N] [--tokenizer DIR], shared
// by every command that loads a model.
struct ModelOptions {
    std::string model_dir;
    std::string random_init;
    std::string demo;  // a bundled demo's name; empty: shakespeare-char when nothing else is given
    uint64_t init_seed = 0;
    std::string tokenizer_dir;
    std::string weights_dtype;  // empty: the checkpoint's own

    void add_to(CLI::App& command);
    // --weights-dtype, for the commands that run the model.
    void add_weights_dtype_to(CLI::App& command);
    ModelSource source() const;  // throws Error when two are given or no model is found
};

int default_threads();  // the machine's cores

// Runs `body`, turning an Error into one line on stderr and exit code 1.
int guarded(const char* command, const std::function<int()>& body);

}  // namespace distgpt::cli
