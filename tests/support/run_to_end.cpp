#include "support/run_to_end.h"

#include "util/child_process.h"

namespace distgpt::test {

Finished run_to_end(std::vector<std::string> argv, std::chrono::seconds limit) {
    ChildProcess p(std::move(argv), ChildProcess::Stderr::Capture);
    Finished f;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (const auto line = p.read_line(deadline)) f.out += *line + "\n";
    f.code = p.wait_exit_code(std::chrono::seconds(10));
    f.err = p.captured_stderr(1 << 16);
    return f;
}

}  // namespace distgpt::test
