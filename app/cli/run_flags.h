#pragma once
#include "cli/model_options.h"
#include "plan/run_setup.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace distgpt::cli {

// What `distgpt-cli run` is told on its command line. Torch-free, so the
// flags' fuzzer parses them exactly as the command does.
struct RunArgs {
    ModelOptions model;
    std::string topology;
    std::string wire;  // empty: the topology's
    std::vector<std::string> prompts;
    std::string prompts_file;
    int samples = 1, micro_batch = 1, in_flight = 0, max_new_tokens = 64, context = 0, keep = 0;
    float temperature = 1.0f, top_p = 1.0f;
    int top_k = 0;
    uint64_t seed = 0;
    bool ignore_eos = false, json = false;
    bool predict = false;  // run: print the cost model's prediction beside what was measured
    std::string trace, metrics, csv, key;
    // --slurm: the topology is the allocation's tasks, one worker each.
    bool slurm = false;
    std::string strategy = "pipeline";
    int tensor_parallel = 2;
    std::string worker_program;  // empty: distgpt-worker beside this program
};

void add_run_flags(CLI::App& run, RunArgs& a);

// The prompts, `--samples` times over: each --prompt, then each line of
// --prompts FILE (at most kMaxPromptsBytes of it). Throws Error when there
// are none, or more than kMaxSequences in all.
std::vector<std::string> read_prompts(const RunArgs& a);
inline constexpr std::size_t kMaxPromptsBytes = std::size_t(64) << 20;
inline constexpr std::size_t kMaxSequences = std::size_t(1) << 20;

// The choices prepare_run checks, as the flags give them.
RunChoices run_choices(const RunArgs& a, std::vector<std::string> prompts);

}  // namespace distgpt::cli
