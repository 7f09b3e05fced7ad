// The shared-memory ring's reader against any bytes a faulty writer could
// leave: it returns whole messages or throws Error, and never reads outside
// the ring. The first byte picks how far into the ring the bytes start, so
// records cross the wrap-around.
#include "net/shm_ring.h"
#include "util/error.h"

#include <algorithm>
#include <string>
#include <unistd.h>

using namespace distgpt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static int counter = 0;
    if (size == 0) return 0;
    auto reader = net::ShmRing::create(net::ring_name("fuzz", std::to_string(getpid()), std::to_string(++counter)), 16 * 1024);
    auto writer = net::ShmRing::open(reader.name());
    reader.unlink();
    // Move both positions 2 KiB * (data[0] % 8) into the ring: 2 KiB records, each read back.
    proto::Parts filler;
    filler.emplace_back(std::string(2048 - 24, 'x').data(), 2048 - 24);
    for (int i = 0; i < data[0] % 8; ++i) {
        writer->write(filler);
        (void)reader.try_read();
    }
    writer->write_raw(data + 1, std::min(size - 1, reader.capacity()));
    try {
        for (int i = 0; i < 64; ++i) {
            auto message = reader.try_read();
            if (!message) break;
            for (const auto& part : *message) (void)part.size();
        }
    } catch (const Error&) {
        // refused, as it should be
    }
    return 0;
}
