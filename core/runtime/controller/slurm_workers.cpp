#include "runtime/controller/slurm_workers.h"

#include "net/endpoint.h"
#include "util/error.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

namespace distgpt {

namespace {

// A Slurm tool's output, or Error with what it said.
std::string slurm_output(const std::vector<std::string>& argv) {
    ChildProcess p(argv, ChildProcess::Stderr::Capture);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (const auto line = p.read_line(deadline)) out += *line + "\n";
    if (p.wait_exit_code(std::chrono::seconds(5)) != 0)
        throw Error("'" + argv[0] + " " + argv[1] + " " + argv[2] + "' failed: " + p.captured_stderr() + out);
    return out;
}

int positive_env(const char* name, int otherwise) {
    const char* v = std::getenv(name);
    if (!v || !*v) return otherwise;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end || n < 1 || n > 1 << 20) throw Error(std::string("$") + name + " is '" + v + "', not a positive number");
    return static_cast<int>(n);
}

// The address Slurm reaches a node at: its NodeAddr (the name itself unless the configuration says otherwise).
std::string node_address(const std::string& host) {
    std::istringstream fields(slurm_output({"scontrol", "show", "node", host, "--oneliner"}));
    for (std::string f; fields >> f;)
        if (f.starts_with("NodeAddr=")) return f.substr(9);
    return host;
}

constexpr auto kStartTimeout = std::chrono::seconds(60);

}  // namespace

SlurmAllocation read_slurm_allocation() {
    SlurmAllocation a;
    const char* job = std::getenv("SLURM_JOB_ID");
    const char* nodelist = std::getenv("SLURM_JOB_NODELIST");
    if (!job || !nodelist)
        throw Error(
            "--slurm runs inside a Slurm allocation ($SLURM_JOB_ID is not set): start it with salloc or in an sbatch script "
            "(resources/slurm/distgpt.sbatch)");
    a.job_id = job;
    a.tasks = positive_env("SLURM_NTASKS", 1);
    a.cpus_per_task = positive_env("SLURM_CPUS_PER_TASK", 1);
    std::istringstream hosts(slurm_output({"scontrol", "show", "hostnames", nodelist}));
    for (std::string h; hosts >> h;) a.hosts.push_back(h);
    if (a.hosts.empty()) throw Error("$SLURM_JOB_NODELIST '" + std::string(nodelist) + "' names no host");
    return a;
}

SlurmWorkers::SlurmWorkers(const SlurmAllocation& allocation, const std::string& program, const net::KeyPair& controller_keys)
    : allocation_(allocation), keys_(net::generate_key_pair()), names_(allocation.tasks), endpoints_(allocation.tasks) {
    // Each task says its host first ($SLURMD_NODENAME), then where its
    // worker listens; --label puts "task: " before every line, --input=all
    // hands every task the keys and, after them, the open pipe.
    const std::string script =
        "echo \"host $SLURMD_NODENAME\" && exec \"$0\" --listen tcp://0.0.0.0:0 --name \"$SLURMD_NODENAME-$SLURM_PROCID\" "
        "--threads " +
        std::to_string(allocation.cpus_per_task) + " --lifeline-fd 0 --exit-with-controller --keys-on-stdin";
    try {
        srun_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{"srun", "--label", "--input=all", "--ntasks=" + std::to_string(allocation.tasks),
                                     "--cpus-per-task=" + std::to_string(allocation.cpus_per_task), "--kill-on-bad-exit=0",
                                     "--job-name=distgpt-workers", "sh", "-c", script, program},
            ChildProcess::Stderr::Capture);
    } catch (const Error& e) {
        throw Error(std::string(e.what()) + ": is Slurm's srun on the PATH?");
    }
    srun_->write(net::handed_keys_text({keys_, controller_keys.public_key}));
    std::map<std::string, std::string> addresses;  // host -> NodeAddr
    int listening = 0;
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    std::vector<std::string> host_of_task(allocation.tasks);
    while (listening < allocation.tasks) {
        const auto line = srun_->read_line(deadline);
        if (!line) {
            srun_->wait_exit_code(std::chrono::seconds(2));
            const std::string err = srun_->captured_stderr();
            throw Error("srun started " + std::to_string(listening) + " of " + std::to_string(allocation.tasks) + " workers" +
                        (srun_->closed() ? "" : " within 60 s") + (err.empty() ? "" : ": " + err) + "(worker: " + program + ")");
        }
        const auto colon = line->find(": ");
        if (colon == std::string::npos) continue;
        const int task = std::atoi(line->c_str());
        if (task < 0 || task >= allocation.tasks) continue;
        const std::string said = line->substr(colon + 2);
        if (said.starts_with("host ")) host_of_task[task] = said.substr(5);
        const auto at = said.find("listening on ");
        if (at == std::string::npos || host_of_task[task].empty()) continue;
        const auto bound = net::parse_endpoint(said.substr(at + 13));
        if (!bound) throw Error("worker of task " + std::to_string(task) + " said '" + said + "': run the same distgpt everywhere");
        const std::string& host = host_of_task[task];
        if (!addresses.count(host)) addresses[host] = node_address(host);
        names_[task] = host + "-" + std::to_string(task);
        endpoints_[task] = "tcp://" + addresses[host] + ":" + bound->port;
        ++listening;
    }
}

SlurmWorkers::~SlurmWorkers() = default;

Topology SlurmWorkers::topology(Strategy strategy, int tensor_parallel) const {
    Topology t;
    t.strategy = strategy;
    t.tensor_parallel = strategy == Strategy::Hybrid ? tensor_parallel : 1;
    for (int task = 0; task < allocation_.tasks; ++task) {
        NodeSpec n;
        n.name = names_[task];
        n.endpoint = endpoints_[task];
        n.threads = allocation_.cpus_per_task;
        n.server_key = keys_.public_key;
        t.nodes.push_back(n);
    }
    return t;
}

}  // namespace distgpt
