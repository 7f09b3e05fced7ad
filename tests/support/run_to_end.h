#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace distgpt::test {

struct Finished {
    int code = -1;  // its exit code; -1: killed, or still running at the limit
    std::string out, err;
};

// Runs a program to its end (stopped after `limit`), its output kept.
Finished run_to_end(std::vector<std::string> argv, std::chrono::seconds limit = std::chrono::seconds(180));

}  // namespace distgpt::test
