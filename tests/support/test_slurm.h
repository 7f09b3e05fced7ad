#pragma once
#include "util/child_process.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace distgpt::test {

// A real single-machine Slurm cluster (Debian's slurm-wlm and munge):
// munged with a key made for the test, slurmctld and slurmd from a
// generated slurm.conf on ports of this test's own, one node (this
// machine's host name, at 127.0.0.1) of `cpus` CPUs. Everything lives in
// `dir`; the daemons die with the test, however it ends (a parent-death
// signal). (Not in a test network namespace: `ip netns exec` remounts /sys
// without the cgroup file system slurmd needs.)
class TestSlurm {
public:
    TestSlurm(const std::filesystem::path& dir, int cpus = 4);
    ~TestSlurm();

    // Why Slurm cannot run here (not installed, not root), or nullopt.
    static std::optional<std::string> unavailable();

    // A Slurm client command (salloc, sbatch, sinfo) against this cluster:
    // the environment to put before it.
    std::vector<std::string> client(std::vector<std::string> command) const;
    const std::filesystem::path& conf() const { return conf_; }
    // What the daemons reported, for a failing test's message.
    std::string log() const;

private:
    std::filesystem::path conf_;
    std::unique_ptr<ChildProcess> munged_, slurmctld_, slurmd_;
};

}  // namespace distgpt::test
