#include "cli/run_flags.h"

#include "util/error.h"
#include "weights/model_config.h"

#include <filesystem>
#include <fstream>

namespace distgpt::cli {

void add_run_flags(CLI::App& c, RunArgs& a) {
    a.model.add_to(c);
    a.model.add_weights_dtype_to(c);
    auto* topology = c.add_option("--topology", a.topology, "topology JSON (see resources/topologies/)");
    auto* slurm = c.add_flag("--slurm", a.slurm,
                             "inside a Slurm allocation (salloc, sbatch): start one worker per task with srun and run across them");
    topology->excludes(slurm);
    c.add_option("--strategy", a.strategy, "with --slurm: how the tasks split the model")
        ->capture_default_str()
        ->check(CLI::IsMember({"pipeline", "tensor", "hybrid"}))
        ->needs(slurm);
    c.add_option("--tensor-parallel", a.tensor_parallel, "with --slurm --strategy hybrid: ranks per stage")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024))
        ->needs(slurm);
    c.add_option("--worker-program", a.worker_program,
                 "with --slurm: distgpt-worker's path on the compute nodes (default: the one beside distgpt-cli, on a shared file system)")
        ->needs(slurm);
    c.add_option("--wire", a.wire,
                 "how activations and tensor-parallel partial sums travel between nodes: f32 (bit-exact with one process), bf16 (half "
                 "the bytes) or q8 (blocks of 32 int8 and a scale: 0.27 of the bytes); default: the topology's wire, else f32")
        ->check(CLI::IsMember({"f32", "bf16", "q8"}));
    c.add_option("--prompt", a.prompts, "a prompt; repeat for several sequences");
    c.add_option("--prompts", a.prompts_file, "a file with one prompt per line");
    c.add_option("--samples", a.samples, "run every prompt this many times (seed + i each)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    c.add_option("--in-flight", a.in_flight, "sequences in the pipeline at once (default: one per stage)")->check(CLI::Range(0, 1 << 16));
    c.add_option("--micro-batch", a.micro_batch, "sequences per message")->capture_default_str()->check(CLI::Range(1, 1 << 16));
    c.add_option("--max-new-tokens", a.max_new_tokens)->capture_default_str()->check(CLI::Range(1, kMaxPositions));
    c.add_option("--context", a.context, "KV cache length per sequence (default: longest prompt + max-new-tokens)")
        ->check(CLI::Range(0, kMaxPositions));
    c.add_option("--keep", a.keep,
                 "tokens a sequence keeps when its context fills: they are fed again from position 0 and generation goes on "
                 "(default: half the context)")
        ->check(CLI::NonNegativeNumber);
    c.add_option("--temperature", a.temperature, "0 = greedy")->capture_default_str();
    c.add_option("--top-k", a.top_k)->capture_default_str();
    c.add_option("--top-p", a.top_p)->capture_default_str();
    c.add_option("--seed", a.seed)->capture_default_str();
    c.add_flag("--ignore-eos", a.ignore_eos, "keep going past <|endoftext|>");
    c.add_option("--trace", a.trace, "write a Chrome trace JSON (open in Perfetto or chrome://tracing)");
    c.add_option("--metrics", a.metrics, "write metrics JSON");
    c.add_option("--csv", a.csv, "write every span as CSV");
    c.add_flag("--json", a.json, "print sequences and metrics as JSON");
    c.add_flag("--predict", a.predict,
               "predict tokens/s, time to first token, each node's busy share and each link's bytes with the cost model (this "
               "machine's speed measured once per model shape and threads, then kept); run prints it beside what it measured");
    c.add_option("--key", a.key, "this controller's CURVE key pair (distgpt-cli keygen), for workers started with --authorized-keys");
}

std::vector<std::string> read_prompts(const RunArgs& a) {
    std::vector<std::string> prompts = a.prompts;
    if (!a.prompts_file.empty()) {
        if (std::filesystem::is_directory(a.prompts_file))
            throw Error("--prompts " + a.prompts_file + " is a folder; give a text file with one prompt per line");
        std::ifstream in(a.prompts_file);
        if (!in) throw Error("cannot open prompts file " + a.prompts_file);
        // Bounded: /dev/zero or a mistaken multi-gigabyte file is refused, not read forever.
        std::string line;
        std::size_t read = 0;
        for (char ch; in.get(ch);) {
            if (++read > kMaxPromptsBytes)
                throw Error("--prompts " + a.prompts_file + " holds more than " + std::to_string(kMaxPromptsBytes >> 20) +
                            " MiB; give a file of prompts, one per line");
            if (ch != '\n') {
                line += ch;
                continue;
            }
            if (!line.empty()) prompts.push_back(line);
            line.clear();
        }
        if (!line.empty()) prompts.push_back(line);
    }
    if (prompts.empty()) throw Error("give --prompt TEXT (repeatable) or --prompts FILE (one prompt per line)");
    if (prompts.size() * static_cast<std::size_t>(a.samples) > kMaxSequences)
        throw Error(std::to_string(prompts.size()) + " prompts × --samples " + std::to_string(a.samples) + " is more than " +
                    std::to_string(kMaxSequences) + " sequences in one run; run fewer at a time");
    std::vector<std::string> out;
    for (int s = 0; s < a.samples; ++s) out.insert(out.end(), prompts.begin(), prompts.end());
    return out;
}

RunChoices run_choices(const RunArgs& a, std::vector<std::string> prompts) {
    return {std::move(prompts), {a.temperature, a.top_k, a.top_p, a.seed}, a.max_new_tokens, a.in_flight, a.context, a.keep};
}

}  // namespace distgpt::cli
