// Any bytes as a tokenizer.json (up to the first "\n\n"), then as text to
// encode and decode: never a crash or a hang, only distgpt::Error.
#include "tokenizer/hf_tokenizer.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string all(reinterpret_cast<const char*>(data), size);
    const auto split = all.find("\n\n");
    const std::string file = all.substr(0, split), text = split == std::string::npos ? "Hello world" : all.substr(split + 2);
    const auto j = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    try {
        const distgpt::HfTokenizer tok(j, nullptr, "tokenizer.json");
        const auto ids = tok.encode(text);
        (void)tok.decode(ids);
        (void)tok.encode_prompt(text);
    } catch (const distgpt::Error&) {}
    return 0;
}
