// distgpt-cli run's command line, parsed as the command parses it: any
// arguments are a clean CLI11 error, or flags whose values prepare_run takes
// or refuses with an Error; none hangs, allocates without bound or reaches
// undefined behaviour. Input: the arguments, separated by NUL bytes.
#include "cli/run_flags.h"
#include "tokenizer/char_tokenizer.h"
#include "util/error.h"
#include "weights/model_config.h"

#include <string>
#include <vector>

namespace {

using namespace distgpt;

const OpenedModel& tiny_model() {
    static const OpenedModel model = [] {
        OpenedModel m;
        m.config = model_preset("tiny");
        std::vector<std::string> chars;
        for (char c = ' '; c <= '~'; ++c) chars.emplace_back(1, c);
        m.tokenizer = std::make_unique<CharTokenizer>(chars);
        return m;
    }();
    return model;
}

Topology two_stages() {
    Topology t;
    t.nodes = {{"a", "local", 1, 0, WeightSource::Auto, ""}, {"b", "local", 1, 0, WeightSource::Auto, ""}};
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> args(1);
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == 0)
            args.emplace_back();
        else
            args.back() += static_cast<char>(data[i]);
    }
    if (args.size() > 64) return 0;
    CLI::App app("distgpt-cli run");
    cli::RunArgs a;
    cli::add_run_flags(app, a);
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError&) {
        return 0;
    }
    a.prompts_file.clear();  // never a file named by the input
    try {
        static const Topology topology = two_stages();
        (void)prepare_run(topology, tiny_model(), cli::run_choices(a, cli::read_prompts(a)));
    } catch (const Error&) {}
    return 0;
}
