// distgpt-cli bench faults: a soak of the recovery path. N times, a random
// worker is killed (or stopped) at a random moment of a real run — while it
// is greeted, while weights stream or load, in prefill or in decode —
// and the bench reports how many runs recovered, how many kept their text to
// the bit (tokens and logits), and how long recovery took.
#include "cli/commands.h"
#include "cli/model_options.h"
#include "runtime/controller/cluster.h"
#include "runtime/controller/local_worker.h"
#include "util/error.h"
#include "weights/hf_model_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

namespace distgpt::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

enum class Fault { Kill, Stop };

struct FaultBenchArgs {
    ModelOptions model;
    Strategy strategy = Strategy::Pipeline;
    Fault fault = Fault::Kill;
    int nodes = 3, tensor_parallel = 2, trials = 20, tokens = 40, liveness_ms = 1000;
    uint64_t seed = 1;
    std::string out;
};

// Where the run was when the fault struck, from the controller's own status lines.
enum class Phase { Greeting, Streaming, Loading, Running, Ended };

const char* phase_name(Phase p) {
    switch (p) {
        case Phase::Greeting: return "greeting";
        case Phase::Streaming: return "streaming weights";
        case Phase::Loading: return "loading";
        case Phase::Running: return "prefill/decode";
        case Phase::Ended: return "after the run";
    }
    return "?";
}

struct Outcome {
    std::vector<std::vector<int>> tokens;
    std::vector<std::vector<std::vector<float>>> logits;
    std::string error;
    int losses = 0;
    double wall_ms = 0;
    bool operator==(const Outcome& o) const { return tokens == o.tokens && logits == o.logits; }
};

struct Trial {
    int victim = 0;
    double at_ms = 0;
    Phase phase = Phase::Greeting;
    bool struck = false, recovered = false, identical = false;
    double recovery_ms = -1;  // from the fault to the first new token after the re-plan
    std::string error;
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Strikes one worker once `at` has passed, unless the run ends first.
class Striker {
public:
    // `on_strike` runs on the striker's thread, right after the signal.
    Striker(pid_t victim, Fault fault, Clock::time_point at, std::function<void()> on_strike)
        : victim_(victim), fault_(fault), at_(at), on_strike_(std::move(on_strike)), thread_([this] { wait(); }) {}
    ~Striker() { stop(); }
    // Disarms it; afterwards struck() and when() are final.
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        thread_.join();
        if (struck_ && fault_ == Fault::Stop) ::kill(victim_, SIGCONT);  // so it can be stopped for good
    }
    bool struck() const { return struck_; }
    Clock::time_point when() const { return when_; }

private:
    void wait() {
        std::unique_lock lock(mutex_);
        if (wake_.wait_until(lock, at_, [this] { return done_; })) return;
        ::kill(victim_, fault_ == Fault::Kill ? SIGKILL : SIGSTOP);
        when_ = Clock::now();
        struck_ = true;
        on_strike_();
    }

    pid_t victim_;
    Fault fault_;
    Clock::time_point at_, when_;
    std::function<void()> on_strike_;
    bool struck_ = false;
    bool done_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;
};

class FaultSoak {
public:
    FaultSoak(const FaultBenchArgs& a, ModelSource source, const OpenedModel& model) : a_(a), source_(std::move(source)), model_(model) {
        for (const char* p : {"To be, or not to be", "It was the best of times", "Call me Ishmael"})
            prompts_.push_back(model_.tokenizer->encode_prompt(p));
    }

    Outcome reference() { return run_once(nullptr); }

    Trial trial(std::mt19937_64& rng, double window_ms, const Outcome& reference) {
        Trial t;
        t.victim = static_cast<int>(std::uniform_int_distribution<int>(0, a_.nodes - 1)(rng));
        t.at_ms = std::uniform_real_distribution<double>(0, window_ms)(rng);
        Outcome out = run_once(&t);
        t.recovered = out.error.empty();
        t.identical = t.recovered && out == reference;
        if (!t.recovered) t.error = out.error;
        return t;
    }

private:
    Topology topology(const std::vector<std::unique_ptr<LocalWorker>>& workers) const {
        Topology t;
        t.strategy = a_.strategy;
        t.tensor_parallel = a_.strategy == Strategy::Hybrid ? a_.tensor_parallel : 1;
        for (std::size_t i = 0; i < workers.size(); ++i)
            t.nodes.push_back({"n" + std::to_string(i), workers[i]->endpoint(), 1, 0,
                               source_.is_random() ? WeightSource::Auto : WeightSource::Stream, ""});
        return t;
    }

    // One run on fresh workers, timed from the controller's first greeting;
    // with a trial, its fault strikes on the way.
    Outcome run_once(Trial* trial) {
        std::vector<std::unique_ptr<LocalWorker>> workers;
        for (int i = 0; i < a_.nodes; ++i) workers.push_back(std::make_unique<LocalWorker>("n" + std::to_string(i), 1, 0));
        Phase phase = Phase::Greeting;
        std::mutex phase_mutex;
        auto set_phase = [&](Phase p) {
            std::lock_guard lock(phase_mutex);
            phase = p;
        };
        const auto t0 = Clock::now();
        std::unique_ptr<Striker> striker;
        if (trial)
            striker = std::make_unique<Striker>(workers[trial->victim]->pid(), a_.fault,
                                                t0 + std::chrono::microseconds(static_cast<int64_t>(trial->at_ms * 1e3)), [&] {
                                                    std::lock_guard lock(phase_mutex);
                                                    trial->phase = phase;
                                                });

        Outcome out;
        std::optional<Clock::time_point> replanned, resumed;
        ClusterOptions o;
        o.liveness_ms = a_.liveness_ms;
        o.hello_timeout_ms = std::max(1500, a_.liveness_ms);
        o.return_logits = true;
        o.on_status = [&](const std::string& s) {
            if (s.starts_with("greeting"))
                set_phase(Phase::Greeting);
            else if (s.find("streaming weights") != std::string::npos)
                set_phase(Phase::Streaming);
            else if (s.find(": loading") != std::string::npos)
                set_phase(Phase::Loading);
            if (s.find("re-planned over") != std::string::npos) replanned = Clock::now();
        };
        try {
            const Topology t = topology(workers);
            const int slots = static_cast<int>(prompts_.size()), context = 96;
            Cluster cluster(t, o);
            cluster.configure(make_plan(t, model_.config, slots, context, 1, model_.weight_format), source_, model_, slots, context);
            RunRequest r;
            r.prompts = prompts_;
            r.options.max_new_tokens = a_.tokens;
            r.options.stop_at_eos = false;
            r.options.sampling.temperature = 0.9f;
            r.options.sampling.seed = a_.seed;
            r.on_token = [&](const TokenMark&) {
                set_phase(Phase::Running);
                if (replanned && !resumed) resumed = Clock::now();
            };
            set_phase(Phase::Running);
            const RunResult result = cluster.run(r);
            set_phase(Phase::Ended);
            out.error = result.error;
            out.losses = static_cast<int>(result.losses.size());
            for (const auto& s : result.sequences) {
                out.tokens.push_back(s.generated_ids);
                out.logits.push_back(s.logits);
                if (out.error.empty() && static_cast<int>(s.generated_ids.size()) != a_.tokens)
                    out.error = "a sequence ended with " + std::to_string(s.generated_ids.size()) + " tokens";
            }
        } catch (const Error& e) {
            out.error = e.what();
        }
        out.wall_ms = ms_since(t0);
        if (trial) {
            striker->stop();  // joins its thread: what it recorded is ours now
            trial->struck = striker->struck() && trial->phase != Phase::Ended;
            if (!striker->struck()) trial->phase = Phase::Ended;
            if (trial->struck && resumed)
                trial->recovery_ms = std::chrono::duration<double, std::milli>(*resumed - striker->when()).count();
        }
        return out;
    }

    const FaultBenchArgs& a_;
    ModelSource source_;
    const OpenedModel& model_;
    std::vector<std::vector<int>> prompts_;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

int run_faults(const FaultBenchArgs& a) {
    ModelOptions options = a.model;
    if (options.model_dir.empty() && options.random_init.empty() && options.demo.empty()) options.random_init = "tiny";
    ModelSource source = options.source();
    const OpenedModel opened = open_model(source);
    // A random model is saved to a folder first, so weights stream to the
    // workers as a real model's do, and a fault can strike while they stream.
    std::filesystem::path scratch;
    if (source.is_random()) {
        scratch = std::filesystem::temp_directory_path() / ("distgpt-bench-faults-" + std::to_string(::getpid()));
        write_hf_model_folder(scratch, opened.config, *opened.weights, *opened.tokenizer);
        source = ModelSource{scratch, "", 0, {}};
    }
    const OpenedModel model = open_model(source);
    FaultSoak soak(a, source, model);
    const Outcome reference = soak.reference();
    if (!reference.error.empty()) throw Error("the run without a fault failed: " + reference.error);
    // Faults land anywhere from the first greeting to just before the last token.
    const double window_ms = reference.wall_ms * 0.95;
    std::printf("bench faults: %s over %d workers, %s of a random worker at a random moment of a %.2f s run, %d trials (liveness %d ms)\n",
                strategy_name(a.strategy).c_str(), a.nodes, a.fault == Fault::Kill ? "kill -9" : "SIGSTOP", reference.wall_ms / 1e3,
                a.trials, a.liveness_ms);
    std::fflush(stdout);

    std::mt19937_64 rng(a.seed);
    std::vector<Trial> trials;
    std::vector<double> recovery;
    int struck = 0, recovered = 0, identical = 0;
    std::map<Phase, std::pair<int, int>> by_phase;  // struck, identical
    for (int i = 0; i < a.trials; ++i) {
        Trial t = soak.trial(rng, window_ms, reference);
        struck += t.struck;
        recovered += t.recovered;
        identical += t.identical;
        if (t.recovery_ms >= 0) recovery.push_back(t.recovery_ms);
        if (t.struck) {
            by_phase[t.phase].first += 1;
            by_phase[t.phase].second += t.identical;
        }
        std::fprintf(stderr, "  trial %d: node n%d at %.0f ms (%s): %s%s\n", i + 1, t.victim, t.at_ms, phase_name(t.phase),
                     t.identical   ? "identical"
                     : t.recovered ? "recovered, text differs"
                                   : ("failed: " + t.error).c_str(),
                     t.recovery_ms >= 0 ? (", recovered in " + std::to_string(int(t.recovery_ms)) + " ms").c_str() : "");
        trials.push_back(std::move(t));
    }
    std::printf("  struck during the run  %d/%d\n", struck, a.trials);
    std::printf("  recovered              %d/%d\n", recovered, a.trials);
    std::printf("  identical (to the bit) %d/%d\n", identical, a.trials);
    std::printf(
        "  recovery time          p50 %.0f ms, p95 %.0f ms (from the fault to the next new token; %zu runs resumed after a re-plan)\n",
        percentile(recovery, 0.5), percentile(recovery, 0.95), recovery.size());
    for (const auto& [phase, n] : by_phase) std::printf("    struck in %-18s %3d, identical %d\n", phase_name(phase), n.first, n.second);

    if (!a.out.empty()) {
        json rows = json::array();
        for (const auto& t : trials)
            rows.push_back({{"victim", t.victim},
                            {"at_ms", t.at_ms},
                            {"phase", phase_name(t.phase)},
                            {"struck", t.struck},
                            {"recovered", t.recovered},
                            {"identical", t.identical},
                            {"recovery_ms", t.recovery_ms},
                            {"error", t.error}});
        std::ofstream(a.out) << json{{"strategy", strategy_name(a.strategy)},
                                     {"nodes", a.nodes},
                                     {"fault", a.fault == Fault::Kill ? "kill" : "stop"},
                                     {"trials", a.trials},
                                     {"run_seconds", reference.wall_ms / 1e3},
                                     {"struck", struck},
                                     {"recovered", recovered},
                                     {"identical", identical},
                                     {"recovery_ms_p50", percentile(recovery, 0.5)},
                                     {"recovery_ms_p95", percentile(recovery, 0.95)},
                                     {"rows", rows}}
                                    .dump(2)
                             << "\n";
    }
    if (!scratch.empty()) std::filesystem::remove_all(scratch);
    return 0;
}

}  // namespace

void add_fault_bench(CLI::App& bench, int& exit_code) {
    auto a = std::make_shared<FaultBenchArgs>();
    auto* c = bench.add_subcommand("faults",
                                   "kill -9 (or SIGSTOP) a random worker at a random moment of a run, N times: how many runs recover, "
                                   "how many keep their text to the bit, and how long recovery takes");
    a->model.add_to(*c);
    a->model.add_weights_dtype_to(*c);
    c->add_option("--strategy", a->strategy, "pipeline, tensor or hybrid")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, Strategy>{{"pipeline", Strategy::Pipeline}, {"tensor", Strategy::Tensor}, {"hybrid", Strategy::Hybrid}}))
        ->capture_default_str();
    c->add_option("--nodes", a->nodes, "workers started for each trial")->check(CLI::Range(1, 16))->capture_default_str();
    c->add_option("--tensor-parallel", a->tensor_parallel, "ranks per stage, for hybrid")->check(CLI::Range(1, 16))->capture_default_str();
    c->add_option("--trials", a->trials, "faults to inject, one run each")->check(CLI::Range(1, 100000))->capture_default_str();
    c->add_option("--fault", a->fault, "kill (SIGKILL) or stop (SIGSTOP)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, Fault>{{"kill", Fault::Kill}, {"stop", Fault::Stop}}))
        ->capture_default_str();
    c->add_option("--tokens", a->tokens, "tokens per sequence (3 sequences)")->check(CLI::Range(1, 64))->capture_default_str();
    c->add_option("--liveness-ms", a->liveness_ms, "silence after which a node is lost")
        ->check(CLI::Range(200, 60000))
        ->capture_default_str();
    c->add_option("--seed", a->seed, "for the victims, the moments and the sampling")->capture_default_str();
    c->add_option("--out", a->out, "write every trial as JSON");
    c->callback([a, &exit_code] {
        exit_code = guarded("bench faults", [&] {
            if (a->strategy == Strategy::Hybrid && a->nodes % a->tensor_parallel != 0)
                throw Error("hybrid with --tensor-parallel " + std::to_string(a->tensor_parallel) + " needs a multiple of " +
                            std::to_string(a->tensor_parallel) + " --nodes");
            return run_faults(*a);
        });
    });
}

}  // namespace distgpt::cli
