#include "weights/hf_model_writer.h"

#include "util/error.h"
#include "weights/block_quant.h"
#include "weights/checkpoint_layout.h"
#include "weights/half_float.h"
#include "weights/quantized_tensors.h"
#include "weights/safetensors_writer.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace distgpt {
namespace {

const char* torch_dtype_name(DType dtype) { return dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32"; }

}  // namespace

void write_hf_model_folder(const std::filesystem::path& dir, const ModelConfig& config, const TensorSource& weights,
                           const Tokenizer& tokenizer, std::optional<WeightFormat> matrices) {
    std::filesystem::create_directories(dir);
    const CheckpointLayout in(config, weights), out(config);
    const bool blocks = matrices && is_block_format(*matrices);
    auto converted = [&](const CheckpointTensor& t) { return matrices && held_as_matrix(t.role); };
    std::vector<TensorHeader> headers, scale_headers;  // scales go last: each tensor before them stays aligned to its element
    DType float_dtype = DType::F32;                    // what config.json's torch_dtype names
    for (std::size_t i = 0; i < out.tensors().size(); ++i) {
        const CheckpointTensor& t = in.tensors()[i];
        const TensorView v = weights.header(t.name);
        if (!is_weight_dtype(v.dtype) || v.shape != t.shape)
            throw Error(weights.describe() + ": tensor '" + v.name + "' is " + std::string(dtype_name(v.dtype)) + " " + v.shape_string() +
                        "; the writer expects F32, F16 or BF16 in the config's shape");
        const std::string& name = out.tensors()[i].name;
        if (converted(t) && blocks) {
            const QuantizedShapes shapes = quantized_shapes(t.shape, t.in_out, *matrices, 1);
            headers.push_back({name, storage_dtype(*matrices), shapes.codes});
            scale_headers.push_back({scale_name(name), DType::F16, shapes.scales});
            continue;
        }
        const DType dtype = converted(t) ? storage_dtype(*matrices) : v.dtype;
        if (i == 0) float_dtype = dtype;
        headers.push_back({name, dtype, t.shape});
    }
    headers.insert(headers.end(), scale_headers.begin(), scale_headers.end());
    SafetensorsWriter writer(dir / "model.safetensors", headers, {{"format", "pt"}});
    std::vector<std::vector<uint16_t>> scales;  // 1/16 of a q8 model's bytes, written at the end
    for (const auto& t : in.tensors()) {
        const TensorView view = weights.get(t.name);
        if (converted(t) && blocks) {
            QuantizedTensor q = quantize_tensor(view, t.in_out, *matrices, 1);
            writer.write(q.codes.data(), q.codes.size());
            scales.push_back(std::move(q.scales));
        } else if (converted(t) && storage_dtype(*matrices) != view.dtype) {
            const auto bytes = convert_floats({view.data, view.nbytes}, view.dtype, storage_dtype(*matrices));
            writer.write(bytes.data(), bytes.size());
        } else {
            writer.write(view.data, view.nbytes);
        }
        weights.release(view);
    }
    for (const auto& s : scales) writer.write(s.data(), s.size() * 2);
    writer.finish();
    ModelConfig written = config;  // config.json names the dtype the file holds
    written.torch_dtype = torch_dtype_name(blocks ? DType::F32 : float_dtype);
    write_model_config(dir, written);
    if (blocks) {  // HF tools refuse a quantization method they do not know, as they should
        auto j = nlohmann::json::parse(model_config_json(written));
        j["quantization_config"] = {
            {"quant_method", "distgpt-blocks"}, {"format", weight_format_name(*matrices)}, {"block_size", kQuantBlock}};
        std::ofstream(dir / "config.json") << j.dump(2) << "\n";
    }
    tokenizer.save(dir);
}

}  // namespace distgpt
