#include "support/test_network.h"

#include "util/error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace distgpt::test {
namespace {

// Runs `ip`/`tc` with these arguments; throws with its output if it fails.
void run(const std::string& command) {
    const std::string line = command + " 2>&1";
    FILE* pipe = ::popen(line.c_str(), "r");
    if (!pipe) throw Error("cannot run '" + command + "'");
    std::string output;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe)) output += buf;
    const int status = ::pclose(pipe);
    if (status != 0) throw Error("'" + command + "' failed: " + output);
}

// Namespaces a test left behind when it was killed (a timeout, a crash):
// dg<pid>... whose process is gone.
void remove_orphans() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with("dg")) continue;
        const std::size_t digits = name.find_first_not_of("0123456789", 2);
        if (digits == 2 || digits == std::string::npos) continue;
        const std::string rest = name.substr(digits);
        if (rest != "sw" && !(rest.size() > 1 && rest[0] == 'h')) continue;
        if (std::filesystem::exists("/proc/" + name.substr(2, digits - 2))) continue;
        // Its servers (an sshd) outlived the test: they go with it.
        std::system(("ip netns pids " + name + " 2>/dev/null | xargs -r kill -9; ip netns del " + name + " >/dev/null 2>&1").c_str());
    }
}

}  // namespace

std::optional<std::string> TestNetwork::unavailable() {
    if (::geteuid() != 0) return "network namespaces need root (CI runs as root)";
    if (std::system("command -v ip >/dev/null 2>&1") != 0) return "'ip' (iproute2) is not installed";
    const std::string probe = "distgpt-probe-" + std::to_string(::getpid());
    if (std::system(("ip netns add " + probe + " >/dev/null 2>&1").c_str()) != 0)
        return "'ip netns add' is not permitted here (no CAP_SYS_ADMIN, or a sandbox without network namespaces)";
    std::system(("ip netns del " + probe + " >/dev/null 2>&1").c_str());
    return std::nullopt;
}

TestNetwork::TestNetwork(int hosts) : prefix_("dg" + std::to_string(::getpid())), hosts_(hosts) {
    remove_orphans();
    const std::string sw = prefix_ + "sw";
    try {
        run("ip netns add " + sw);
        made_.push_back(sw);
        run("ip -n " + sw + " link add br0 type bridge");
        run("ip -n " + sw + " link set br0 up");
        for (int i = 0; i < hosts; ++i) {
            const std::string host = name(i), port = std::string("p").append(std::to_string(i));  // (GCC 12 warns of "p" + …)
            run("ip netns add " + host);
            made_.push_back(host);
            run("ip -n " + sw + " link add " + port + " type veth peer name eth0 netns " + host);
            run("ip -n " + sw + " link set " + port + " master br0 up");
            run("ip -n " + host + " addr add " + address(i) + "/24 dev eth0");
            run("ip -n " + host + " link set eth0 up");
            run("ip -n " + host + " link set lo up");
        }
    } catch (...) {
        for (const auto& ns : made_) std::system(("ip netns del " + ns + " >/dev/null 2>&1").c_str());
        throw;
    }
}

TestNetwork::~TestNetwork() {
    for (const auto& ns : made_) std::system(("ip netns del " + ns + " >/dev/null 2>&1").c_str());
}

std::string TestNetwork::name(int host) const { return prefix_ + "h" + std::to_string(host); }

std::string TestNetwork::address(int host) const { return "10.77.0." + std::to_string(10 + host); }

std::vector<std::string> TestNetwork::launcher(int host) const { return {"ip", "netns", "exec", name(host)}; }

void TestNetwork::enter(int host) const {
    const std::string path = "/var/run/netns/" + name(host);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int error = errno;
    ::close(fd);
    if (rc != 0) throw Error("cannot enter " + name(host) + ": " + std::strerror(error));
}

void TestNetwork::set_link(int host, bool up) const { run("ip -n " + name(host) + " link set eth0 " + (up ? "up" : "down")); }

void TestNetwork::shape(int host, int kilobits_per_second) const {
    if (kilobits_per_second <= 0) {
        run("tc -n " + name(host) + " qdisc del dev eth0 root");
        return;
    }
    // The bucket holds 64 KB: the stack hands the qdisc segments of up to
    // that (GSO), and one larger than the bucket would never leave it. A long
    // queue, so nothing is dropped.
    run("tc -n " + name(host) + " qdisc replace dev eth0 root tbf rate " + std::to_string(kilobits_per_second) + "kbit burst " +
        std::to_string(kShapingBurstBytes) + " latency 10s");
}

void TestNetwork::shape_to(int host, int to, int kilobits_per_second) const {
    const std::string tc = "tc -n " + name(host) + " ";
    if (kilobits_per_second <= 0) {
        run(tc + "qdisc del dev eth0 root");
        return;
    }
    // HTB only sorts the traffic (both classes far faster than the link);
    // the token bucket under the first shapes it, as shape() does.
    run(tc + "qdisc replace dev eth0 root handle 1: htb default 20");
    run(tc + "class add dev eth0 parent 1: classid 1:10 htb rate 10gbit");
    run(tc + "class add dev eth0 parent 1: classid 1:20 htb rate 10gbit");
    run(tc + "qdisc add dev eth0 parent 1:10 handle 10: tbf rate " + std::to_string(kilobits_per_second) + "kbit burst " +
        std::to_string(kShapingBurstBytes) + " latency 10s");
    run(tc + "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst " + address(to) + "/32 flowid 1:10");
}

}  // namespace distgpt::test
