#pragma once
#include <CLI/CLI.hpp>

namespace distgpt::cli {

// Each adds its subcommand to the app; the callback sets the exit code.
void add_generate(CLI::App& app, int& exit_code);
void add_tokenize(CLI::App& app, int& exit_code);
void add_eval(CLI::App& app, int& exit_code);
void add_inspect(CLI::App& app, int& exit_code);
void add_save(CLI::App& app, int& exit_code);
void add_quantize(CLI::App& app, int& exit_code);
void add_bench(CLI::App& app, int& exit_code);
void add_train(CLI::App& app, int& exit_code);
void add_train_tokenizer(CLI::App& app, int& exit_code);
void add_run(CLI::App& app, int& exit_code);
void add_plan(CLI::App& app, int& exit_code);
void add_keygen(CLI::App& app, int& exit_code);
void add_workers(CLI::App& app, int& exit_code);
void add_serve(CLI::App& app, int& exit_code);
void add_cluster_benches(CLI::App& bench, int& exit_code);  // under `bench`
void add_fault_bench(CLI::App& bench, int& exit_code);      // under `bench`
void add_serve_bench(CLI::App& bench, int& exit_code);      // under `bench`
void add_predict_bench(CLI::App& bench, int& exit_code);    // under `bench`

}  // namespace distgpt::cli
