#include "support/test_slurm.h"

#include "util/error.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>
#include <unistd.h>

namespace distgpt::test {
namespace {

// Slurm's controller knows itself by this machine's short host name.
std::string short_host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    std::string s = name;
    return s.substr(0, s.find('.'));
}

void write(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file);
    out << text;
    if (!out) throw Error("cannot write " + file.string());
}

}  // namespace

std::optional<std::string> TestSlurm::unavailable() {
    if (::geteuid() != 0) return "the test's Slurm daemons run as root (CI is root)";
    for (const char* tool : {"setpriv", "munged", "slurmctld", "slurmd", "salloc", "sbatch", "srun", "scontrol"})
        if (std::system(("command -v " + std::string(tool) + " >/dev/null 2>&1").c_str()) != 0)
            return std::string(tool) + " is not installed (apt install slurm-wlm munge; scripts/setup.sh does)";
    return std::nullopt;
}

TestSlurm::TestSlurm(const std::filesystem::path& dir, int cpus) : conf_(dir / "slurm.conf") {
    for (const char* sub : {"state", "spool", "munge"}) std::filesystem::create_directories(dir / sub);
    // munged insists on a private key file in a private folder.
    std::filesystem::permissions(dir / "munge", std::filesystem::perms::owner_all);
    const auto key = dir / "munge" / "munge.key";
    {
        std::mt19937_64 random(std::random_device{}());
        std::string bytes(1024, '\0');
        for (char& c : bytes) c = static_cast<char>(random());
        write(key, bytes);
        std::filesystem::permissions(key, std::filesystem::perms::owner_read);
    }
    const auto socket = dir / "munge" / "socket";
    const auto run = [&](std::vector<std::string> argv) {
        std::vector<std::string> all = {"setpriv", "--pdeathsig", "KILL"};  // gone with the test, however it ends
        all.insert(all.end(), argv.begin(), argv.end());
        return std::make_unique<ChildProcess>(all, ChildProcess::Stderr::Capture);
    };
    munged_ = run({"munged", "-F", "-f", "--socket=" + socket.string(), "--key-file=" + key.string(),
                   "--pid-file=" + (dir / "munge" / "pid").string(), "--log-file=" + (dir / "munge" / "log").string(),
                   "--seed-file=" + (dir / "munge" / "seed").string()});
    const std::string d = dir.string();
    const std::string node = short_host_name();
    // Ports of this test's own: another test run (or a real Slurm) may hold the defaults.
    const int port = 20000 + static_cast<int>(::getpid() % 10000) * 2;
    write(conf_, "ClusterName=distgpt-test\nSlurmctldHost=" + node + "(127.0.0.1)\nSlurmctldPort=" + std::to_string(port) +
                     "\nSlurmdPort=" + std::to_string(port + 1) + "\nAuthType=auth/munge\nAuthInfo=socket=" + socket.string() +
                     "\nCredType=cred/munge\nMailProg=/bin/true\nSlurmUser=root\nSlurmdUser=root\nStateSaveLocation=" + d +
                     "/state\nSlurmdSpoolDir=" + d + "/spool\nSlurmctldPidFile=" + d + "/slurmctld.pid\nSlurmdPidFile=" + d +
                     "/slurmd.pid\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
                     "SelectTypeParameters=CR_Core\nMpiDefault=none\nReturnToService=2\nJobAcctGatherType=jobacct_gather/none\n"
                     "AccountingStorageType=accounting_storage/none\nSwitchType=switch/none\n"
                     // More CPUs than this machine may have: the configuration wins.
                     "SlurmdParameters=config_overrides\nNodeName=" +
                     node + " NodeAddr=127.0.0.1 CPUs=" + std::to_string(cpus) +
                     " RealMemory=2000 State=UNKNOWN\nPartitionName=test Nodes=" + node + " Default=YES MaxTime=INFINITE State=UP\n");
    // The socket first: both daemons authenticate through it as they start.
    for (int i = 0; i < 100 && !std::filesystem::exists(socket); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!std::filesystem::exists(socket)) throw Error("munged did not start: " + log());
    slurmctld_ = run({"slurmctld", "-D", "-i", "-f", conf_.string()});
    slurmd_ = run({"slurmd", "-D", "-f", conf_.string()});
    // Ready once the node is idle.
    for (int i = 0; i < 200; ++i) {
        for (auto* daemon : {slurmctld_.get(), slurmd_.get()})
            if (daemon->exited()) throw Error("a Slurm daemon " + *daemon->exited() + ": " + log());
        ChildProcess sinfo(client({"sinfo", "--noheader", "--format=%t"}), ChildProcess::Stderr::Capture);
        const auto state = sinfo.read_line(std::chrono::steady_clock::now() + std::chrono::seconds(5));
        sinfo.wait_exit_code(std::chrono::seconds(5));
        if (state && *state == "idle") return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw Error("the test's Slurm node did not become idle within 20 s: " + log());
}

TestSlurm::~TestSlurm() {
    slurmd_.reset();
    slurmctld_.reset();
    munged_.reset();
}

std::vector<std::string> TestSlurm::client(std::vector<std::string> command) const {
    std::vector<std::string> all = {"env", "SLURM_CONF=" + conf_.string()};
    all.insert(all.end(), command.begin(), command.end());
    return all;
}

std::string TestSlurm::log() const {
    std::string text;
    if (munged_) text += "munged: " + munged_->captured_stderr() + "\n";
    if (slurmctld_) text += "slurmctld: " + slurmctld_->captured_stderr() + "\n";
    if (slurmd_) text += "slurmd: " + slurmd_->captured_stderr() + "\n";
    return text;
}

}  // namespace distgpt::test
