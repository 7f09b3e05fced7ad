#pragma once
#include "weights/dtype.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace distgpt {

// One tensor as stored: its bytes, still in the checkpoint's dtype and layout.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const std::byte* data = nullptr;
    std::size_t nbytes = 0;
    std::string origin;                                   // the file it came from, for error messages
    std::shared_ptr<const std::vector<std::byte>> owned;  // the bytes, when made for the view (a dequantized matrix)

    int64_t numel() const;
    std::string shape_string() const;  // "[768, 2304]"
};

// Where weights come from: a checkpoint on disk, tensors made up from a seed,
// or (for a worker without the model) tensors streamed by the controller.
// A stage asks only for the tensors it owns.
class TensorSource {
public:
    virtual ~TensorSource() = default;
    virtual bool contains(const std::string& name) const = 0;
    // Throws Error naming the tensor and the source when it is absent.
    virtual TensorView get(const std::string& name) const = 0;
    virtual std::vector<std::string> names() const = 0;
    // Name, dtype and shape without reading the data (data stays null).
    virtual TensorView header(const std::string& name) const = 0;
    virtual std::string describe() const = 0;  // "model.safetensors in /path"
    // Called when the caller has copied the tensor out and needs it no more.
    virtual void release(const TensorView& view) const {}
};

}  // namespace distgpt
