#pragma once
#include <cstddef>

namespace distgpt {

// Median one-way latency, in microseconds, of a `bytes`-byte message between
// a DEALER and a ROUTER over TCP loopback (half the round trip): what ZeroMQ
// alone costs a decode hop, for comparison with the runtime's own hop.
// `gap_us` of quiet between round trips reproduces a pipeline's sparse
// traffic, in which ZeroMQ's I/O threads sleep between messages.
double zmq_loopback_one_way_us(std::size_t bytes, int round_trips = 2000, int gap_us = 0);

// Median one-way latency, in microseconds, of `messages` messages of `bytes`
// bytes from one process to another over TCP loopback, as a pipeline sends
// them: the sender busy for `gap_us` (a stage computing) before each send,
// the receiver polling without sleeping (as a worker during a run). Both
// processes read the same monotonic clock, so no round trip is halved.
// Call it before starting threads (it forks).
double zmq_two_process_one_way_us(std::size_t bytes, int messages, int gap_us);

}  // namespace distgpt
