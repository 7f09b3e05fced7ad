// The planner with everything a user gives it: a topology, a model's
// config.json, a run's choices (the values of `distgpt-cli run`'s flags: prompts,
// max new tokens, sequences in flight, context, sampling) and the nodes a run
// then loses. Each is an Error or a plan that holds: stages cover the layers
// in order, every stage keeps its tensor-parallel ranks across a re-plan, and
// a plan that came back fits every node's limit.
// Input: {"topology": {...}, "config": {...}, "run": {...}, "lost": [node, ...]}
#include "plan/planner.h"
#include "plan/run_setup.h"
#include "tokenizer/char_tokenizer.h"
#include "util/error.h"
#include "weights/model_config.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <limits>
#include <type_traits>
#include <set>
#include <string>

namespace {

using namespace distgpt;

void require(bool holds) {
    if (!holds) std::abort();  // a plan that breaks the planner's own rules: a finding
}

void check(const Plan& plan, const Topology& t, const ModelConfig& c, int tp_size) {
    int next = 0;
    for (const auto& stage : plan.stages) {
        require(stage.layer_begin == next && stage.layer_end > stage.layer_begin);
        require(stage.tp_size == tp_size && stage.tp_size == static_cast<int>(stage.nodes.size()) * plan.ranks_per_node);
        next = stage.layer_end;
    }
    require(next == c.n_layer && !plan.stages.empty() && plan.stages.back().head);
    for (std::size_t n = 0; n < plan.memory.size(); ++n) require(plan.memory[n].fits(t.nodes[n].memory_limit));
}

// A flag's value as the command line could give it: any number of its type.
template <class T>
T number(const nlohmann::json& j, const char* key, T otherwise) {
    if (!j.contains(key) || !j[key].is_number()) return otherwise;
    const double v = j[key].get<double>();
    if (!(v >= static_cast<double>(std::numeric_limits<T>::lowest()) && v <= static_cast<double>(std::numeric_limits<T>::max())))
        return std::is_floating_point_v<T> ? (v > 0 ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity())
                                           : otherwise;  // out of a float's range: ±inf, which prepare_run must refuse
    return static_cast<T>(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return 0;
    try {
        const Topology t = parse_topology(j.value("topology", nlohmann::json::object()).dump());
        const ModelConfig c = j.contains("config") ? parse_model_config(j["config"].dump(), "config.json") : model_preset("gpt2");
        OpenedModel model;
        model.config = c;
        model.tokenizer = std::make_unique<CharTokenizer>(std::vector<std::string>{"a", "b", " ", "\n"});
        RunChoices choices;
        const auto run = j.value("run", nlohmann::json::object());
        if (run.contains("prompts") && run["prompts"].is_array())
            for (const auto& p : run["prompts"])
                if (p.is_string()) choices.prompts.push_back(p.get<std::string>());
        if (choices.prompts.empty()) choices.prompts.push_back("ab");
        choices.max_new_tokens = number(run, "max_new_tokens", 8);
        choices.in_flight = number(run, "in_flight", 0);
        choices.context = number(run, "context", 0);
        choices.sampling.temperature = number(run, "temperature", 1.0f);
        choices.sampling.top_k = number(run, "top_k", 0);
        choices.sampling.top_p = number(run, "top_p", 1.0f);
        const RunSetup setup = prepare_run(t, model, choices);
        const int tp_size = t.ranks_per_stage();
        check(setup.plan, t, c, tp_size);

        // The same run after losing nodes: the re-plan the controller makes.
        std::set<int> lost;
        if (j.contains("lost") && j["lost"].is_array())
            for (const auto& n : j["lost"])
                if (n.is_number_integer()) lost.insert(n.get<int>());
        Topology rest = t;
        rest.nodes.clear();
        rest.layers.clear();
        for (int i = 0; i < static_cast<int>(t.nodes.size()); ++i)
            if (!lost.count(i)) rest.nodes.push_back(t.nodes[i]);
        if (rest.nodes.empty()) return 0;
        const int ranks_per_node = keep_tensor_parallel_ranks(rest, tp_size);
        require(ranks_per_node >= 1 && tp_size % ranks_per_node == 0);
        check(make_plan(rest, c, setup.slots, setup.context, ranks_per_node), rest, c, tp_size);
    } catch (const Error&) {}
    return 0;
}
