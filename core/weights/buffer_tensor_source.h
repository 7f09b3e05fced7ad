#pragma once
#include "weights/tensor_source.h"

#include <map>

namespace distgpt {

// Tensors received over the network, held in their stored dtype until a
// stage copies its part out.
class BufferTensorSource : public TensorSource {
public:
    // Adds bytes [offset, offset + size) of tensor `name`; the first chunk of a
    // tensor fixes its dtype and shape. Throws Error on anything inconsistent.
    void add_chunk(const std::string& name, DType dtype, const std::vector<int64_t>& shape, uint64_t offset, uint64_t total,
                   const void* data, std::size_t size);
    uint64_t bytes() const { return bytes_; }

    bool contains(const std::string& name) const override;
    TensorView get(const std::string& name) const override;
    TensorView header(const std::string& name) const override { return get(name); }
    std::vector<std::string> names() const override;
    std::string describe() const override { return "weights streamed by the controller"; }

private:
    struct Held {
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<std::byte> data;
        uint64_t filled = 0;
    };
    std::map<std::string, Held> tensors_;
    uint64_t bytes_ = 0;
};

}  // namespace distgpt
