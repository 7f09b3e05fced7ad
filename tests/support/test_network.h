#pragma once
#include <optional>
#include <string>
#include <vector>

namespace distgpt::test {

// Hosts for tests that cross real network interfaces: network namespaces,
// each with an eth0 joined by a veth pair to a bridge in a namespace of its
// own (the switch), host i at 10.77.0.(10 + i)/24. Host 0 is the
// controller's: enter() moves this process's thread there, so the threads
// it starts afterwards (ZeroMQ's among them) send through eth0 like any
// other host's. Needs root (CI is root); unavailable() says why not.
// Everything is removed when this is destroyed.
class TestNetwork {
public:
    explicit TestNetwork(int hosts);
    ~TestNetwork();
    TestNetwork(const TestNetwork&) = delete;
    TestNetwork& operator=(const TestNetwork&) = delete;

    // Why namespaces cannot be made here, or nullopt if they can.
    static std::optional<std::string> unavailable();

    std::string name(int host) const;     // its namespace
    std::string address(int host) const;  // its IPv4 address
    // Runs a program on host `host`: the launcher to put before its argv.
    std::vector<std::string> launcher(int host) const;
    // The calling thread (and the threads it starts from now on) into host `host`.
    void enter(int host) const;
    // The host's link to the switch taken down, or back up.
    void set_link(int host, bool up) const;
    // The host's outgoing traffic shaped by the kernel's token bucket (tbf)
    // to this rate, after a burst of kShapingBurstBytes; 0 removes it.
    void shape(int host, int kilobits_per_second) const;
    static constexpr int kShapingBurstBytes = 65536;
    // Only what host `host` sends to host `to` shaped by a token bucket (tbf)
    // to this rate: a tbf under an HTB class the traffic to `to`'s address
    // is filtered into; the rest goes unshaped. 0 removes it.
    void shape_to(int host, int to, int kilobits_per_second) const;

private:
    std::string prefix_;
    int hosts_;
    std::vector<std::string> made_;  // namespaces to remove
};

}  // namespace distgpt::test
