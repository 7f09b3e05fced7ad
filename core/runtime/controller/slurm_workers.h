#pragma once
#include "net/curve_keys.h"
#include "plan/topology.h"
#include "util/child_process.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// The allocation a job runs in, as Slurm's environment describes it.
struct SlurmAllocation {
    std::string job_id;              // SLURM_JOB_ID
    std::vector<std::string> hosts;  // SLURM_JOB_NODELIST, expanded by `scontrol show hostnames`
    int tasks = 1;                   // SLURM_NTASKS
    int cpus_per_task = 1;           // SLURM_CPUS_PER_TASK, 1 when Slurm leaves it unset
};
// Throws Error outside an allocation ("run it inside salloc or sbatch"), or
// when Slurm's tools cannot expand its node list.
SlurmAllocation read_slurm_allocation();

// One distgpt-worker per task of the allocation, started by one `srun`
// (the workers' path on the compute nodes: `program`). Each binds a port of
// its own on its node and gets, over srun's stdin, a key pair made for this
// run and the controller's public key; srun's stdin is their lifeline, so
// they end with this object, or with this process however it ends.
class SlurmWorkers {
public:
    // Throws Error when srun cannot start them, naming what srun said.
    SlurmWorkers(const SlurmAllocation& allocation, const std::string& program, const net::KeyPair& controller_keys);
    ~SlurmWorkers();

    // A topology of these workers, task order: one node per task, "host-task".
    Topology topology(Strategy strategy, int tensor_parallel) const;

private:
    SlurmAllocation allocation_;
    net::KeyPair keys_;
    std::unique_ptr<ChildProcess> srun_;
    std::vector<std::string> names_, endpoints_;  // by task
};

}  // namespace distgpt
