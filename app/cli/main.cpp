#include "cli/commands.h"
#include "util/version.h"

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"distgpt-cli: run GPT-style models on one machine or across many, from the command line"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("distgpt ") + distgpt::kVersion);
    int exit_code = 0;
    distgpt::cli::add_generate(app, exit_code);
    distgpt::cli::add_tokenize(app, exit_code);
    distgpt::cli::add_eval(app, exit_code);
    distgpt::cli::add_inspect(app, exit_code);
    distgpt::cli::add_save(app, exit_code);
    distgpt::cli::add_quantize(app, exit_code);
    distgpt::cli::add_bench(app, exit_code);
    distgpt::cli::add_train(app, exit_code);
    distgpt::cli::add_train_tokenizer(app, exit_code);
    distgpt::cli::add_run(app, exit_code);
    distgpt::cli::add_plan(app, exit_code);
    distgpt::cli::add_keygen(app, exit_code);
    distgpt::cli::add_workers(app, exit_code);
    distgpt::cli::add_serve(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // Every mistake on the command line: one line, and exit code 1.
        std::string command = "distgpt-cli";
        for (const auto* sub : app.get_subcommands()) command += " " + sub->get_name();
        std::cerr << command << ": " << e.what() << " (see " << command << " --help)\n";
        return 1;
    }
    return exit_code;
}
