#pragma once
#include <cstdint>

namespace distgpt {

// How a tensor-parallel rank waits for its peers' partial sums.
enum class PartialSumWait : uint8_t {
    // Polling, yielding between polls, for up to 2 ms before blocking: a
    // partial normally comes within microseconds, and waking from a block
    // costs a tenth of a millisecond or so.
    Spin,
    // Blocking at once: the run's workers on this machine have more threads
    // than it has cores, and a spinning rank would take the core the peer it
    // waits for needs (4 workers on 2 cores: 23 % more tokens/s blocking).
    Block,
};

// The one rule, for the controller (what it tells each worker) and the cost
// model (what it predicts): block when the run's worker threads on a machine
// outnumber its cores (cores 0: not known, spin).
inline PartialSumWait partial_sum_wait(int threads_on_machine, int cores) {
    return cores > 0 && threads_on_machine > cores ? PartialSumWait::Block : PartialSumWait::Spin;
}

}  // namespace distgpt
