#include "weights/hf_model_writer.h"

#include "util/error.h"
#include "weights/gpt2_checkpoint_layout.h"
#include "weights/gpt2_names.h"
#include "weights/safetensors_writer.h"

namespace distgpt {

void write_hf_gpt2_folder(const std::filesystem::path& dir, const Gpt2Config& config, const TensorSource& weights,
                          const Tokenizer& tokenizer) {
    std::filesystem::create_directories(dir);
    const Gpt2Names source_names(weights);
    const auto out_layout = gpt2_checkpoint_layout(config, "transformer.");
    const auto in_layout = gpt2_checkpoint_layout(config, source_names.prefix());
    std::vector<TensorHeader> headers;
    for (const auto& t : out_layout) headers.push_back({t.name, DType::F32, t.shape});
    SafetensorsWriter writer(dir / "model.safetensors", headers, {{"format", "pt"}});
    for (std::size_t i = 0; i < in_layout.size(); ++i) {
        const TensorView view = weights.get(in_layout[i].name);
        if (view.dtype != DType::F32 || view.shape != in_layout[i].shape)
            throw Error(weights.describe() + ": tensor '" + view.name + "' is " + std::string(dtype_name(view.dtype)) + " " +
                        view.shape_string() + "; the writer expects F32 in the config's shape");
        writer.write(view.data, view.nbytes);
        weights.release(view);
    }
    writer.finish();
    write_gpt2_config(dir, config);
    tokenizer.save(dir);
}

}  // namespace distgpt
