#pragma once
#include "model/shard_spec.h"
#include "weights/block_quant.h"
#include "weights/checkpoint_layout.h"
#include "weights/model_config.h"
#include "weights/tensor_source.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace distgpt {

// A matrix in a block format as a checkpoint and the wire hold it
// (docs/quantized-weights.md): tensor `name` holds the codes, [out, code
// bytes of a row] (I8 for q8, U8 for q4), and `name` + "_scale" the fp16
// scales, [out, blocks of a row]; rows are the matrix's outputs whatever
// the family's own orientation (GPT-2's Conv1D included).
std::string scale_name(const std::string& name);

// The codes' and the scales' shapes of a matrix stored as `shape` (the
// family's orientation: [in, out] when `in_out`), in `format`, its input
// columns cut into `segments`.
struct QuantizedShapes {
    std::vector<int64_t> codes, scales;
    int64_t bytes() const { return codes[0] * codes[1] + 2 * scales[0] * scales[1]; }
};
QuantizedShapes quantized_shapes(const std::vector<int64_t>& shape, bool in_out, WeightFormat format, int segments);

struct QuantizedTensor {
    std::vector<int64_t> codes_shape, scales_shape;
    std::vector<std::byte> codes;
    std::vector<uint16_t> scales;
};

// `view` (an F32, F16 or BF16 matrix as the checkpoint stores it: [in, out]
// when `in_out`) in `format`, its input columns cut into `segments`.
QuantizedTensor quantize_tensor(const TensorView& view, bool in_out, WeightFormat format, int segments);

// A source whose quantized matrices read as the F32 tensors they stand for,
// in the family's own names and shapes: everything that slices, checks and
// loads checkpoint tensors works on a quantized checkpoint unchanged, and a
// stage holding q8 or q4 rounds them back to exactly the stored blocks
// (quantize_rows is a projection). Other tensors pass through.
// `sliced`: the source holds only that shard's slices (a streamed shard),
// its row-parallel matrices in one segment per rank held.
class QuantizedTensors : public TensorSource {
public:
    QuantizedTensors(const TensorSource& inner, const ModelConfig& config, std::optional<ShardSpec> sliced = std::nullopt);
    QuantizedTensors(std::unique_ptr<TensorSource> inner, const ModelConfig& config);  // owns a whole checkpoint

    // The block format the source stores `name` in, if any.
    std::optional<WeightFormat> block_format_of(const std::string& name) const;

    bool contains(const std::string& name) const override;
    TensorView get(const std::string& name) const override;
    std::vector<std::string> names() const override;
    TensorView header(const std::string& name) const override;
    std::string describe() const override { return inner_.describe(); }
    void release(const TensorView& view) const override;

private:
    struct Stored {
        CheckpointTensor tensor;
        std::vector<int64_t> shape;  // as the family stores it (this shard's slice, for a sliced source)
        int segments = 1;
    };
    const Stored* quantized(const std::string& name) const;

    std::unique_ptr<TensorSource> owned_;
    const TensorSource& inner_;
    std::map<std::string, Stored> quantized_;
};

}  // namespace distgpt
