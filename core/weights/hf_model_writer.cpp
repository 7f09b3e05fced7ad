#include "weights/hf_model_writer.h"

#include "util/error.h"
#include "weights/checkpoint_layout.h"
#include "weights/safetensors_writer.h"

namespace distgpt {

void write_hf_model_folder(const std::filesystem::path& dir, const ModelConfig& config, const TensorSource& weights,
                           const Tokenizer& tokenizer) {
    std::filesystem::create_directories(dir);
    const CheckpointLayout in(config, weights), out(config);
    std::vector<TensorHeader> headers;
    for (std::size_t i = 0; i < out.tensors().size(); ++i) {
        const TensorView v = weights.header(in.tensors()[i].name);
        if (!is_weight_dtype(v.dtype) || v.shape != in.tensors()[i].shape)
            throw Error(weights.describe() + ": tensor '" + v.name + "' is " + std::string(dtype_name(v.dtype)) + " " + v.shape_string() +
                        "; the writer expects F32, F16 or BF16 in the config's shape");
        headers.push_back({out.tensors()[i].name, v.dtype, out.tensors()[i].shape});
    }
    SafetensorsWriter writer(dir / "model.safetensors", headers, {{"format", "pt"}});
    for (const auto& t : in.tensors()) {
        const TensorView view = weights.get(t.name);
        writer.write(view.data, view.nbytes);
        weights.release(view);
    }
    writer.finish();
    ModelConfig written = config;  // config.json names the dtype the file holds
    const DType dtype = headers.empty() ? DType::F32 : headers[0].dtype;
    written.torch_dtype = dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32";
    write_model_config(dir, written);
    tokenizer.save(dir);
}

}  // namespace distgpt
