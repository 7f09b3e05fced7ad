// Any bytes as a wire message: decode must refuse or accept, never crash,
// and a decoded body converts only into the declared struct.
#include "proto/codec.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    distgpt::proto::Parts parts;
    // The first byte splits the input into a header frame and a data frame.
    const size_t cut = size ? data[0] % (size + 1) : 0;
    parts.emplace_back(data, cut);
    if (cut < size) parts.emplace_back(data + cut, size - cut);
    try {
        const auto m = distgpt::proto::decode(std::move(parts));
        using namespace distgpt::proto;
        if (m.type == Forward::kType)
            (void)m.as<Forward>();
        else if (m.type == Configure::kType)
            (void)m.as<Configure>();
        else if (m.type == Start::kType)
            (void)m.as<Start>();
        else if (m.type == Tokens::kType)
            (void)m.as<Tokens>();
        else if (m.type == WeightChunk::kType)
            (void)m.as<WeightChunk>();
        else if (m.type == Hello::kType)
            (void)m.as<Hello>();
        else if (m.type == Trace::kType)
            (void)m.as<Trace>();
    } catch (const distgpt::Error&) {}
    return 0;
}
