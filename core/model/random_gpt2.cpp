#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include "model/random_gpt2.h"

#include "util/fnv1a.h"

#include "util/error.h"
#include "weights/gpt2_checkpoint_layout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/normal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <cmath>

namespace distgpt {

struct RandomGpt2Source::Drawn {
    at::Tensor tensor;
};

RandomGpt2Source::RandomGpt2Source(Gpt2Config config, uint64_t seed) : config_(config), seed_(seed) { config_.validate("random model"); }

RandomGpt2Source::~RandomGpt2Source() = default;

bool RandomGpt2Source::contains(const std::string& name) const {
    for (const auto& t : gpt2_checkpoint_layout(config_, "transformer."))
        if (t.name == name) return true;
    return false;
}

std::vector<std::string> RandomGpt2Source::names() const {
    std::vector<std::string> out;
    for (const auto& t : gpt2_checkpoint_layout(config_, "transformer.")) out.push_back(t.name);
    return out;
}

std::string RandomGpt2Source::describe() const { return "random GPT-2 (seed " + std::to_string(seed_) + ")"; }

TensorView RandomGpt2Source::header(const std::string& name) const {
    for (const auto& t : gpt2_checkpoint_layout(config_, "transformer."))
        if (t.name == name) {
            TensorView view;
            view.name = name;
            view.shape = t.shape;
            view.nbytes = static_cast<std::size_t>(view.numel()) * 4;
            view.origin = describe();
            return view;
        }
    throw Error(describe() + ": has no tensor '" + name + "'");
}

TensorView RandomGpt2Source::get(const std::string& name) const {
    TensorView view = header(name);
    const auto& shape = view.shape;

    std::lock_guard lock(mutex_);
    auto& slot = drawn_[name];
    if (!slot) {
        slot = std::make_unique<Drawn>();
        const auto options = at::TensorOptions().dtype(at::kFloat);
        if (name.ends_with("ln_1.weight") || name.ends_with("ln_2.weight") || name.ends_with("ln_f.weight")) {
            slot->tensor = at::ones(shape, options);
        } else if (name.ends_with(".bias") || name.ends_with("ln_f.bias")) {
            slot->tensor = at::zeros(shape, options);
        } else {
            const double std = name.ends_with("c_proj.weight") ? 0.02 / std::sqrt(2.0 * config_.n_layer) : 0.02;
            auto gen = at::make_generator<at::CPUGeneratorImpl>(fnv1a(name, kFnv1aOffset ^ seed_));
            slot->tensor = at::normal(0.0, std, shape, gen, options);
        }
    }
    view.data = static_cast<const std::byte*>(slot->tensor.data_ptr());
    return view;
}

void RandomGpt2Source::release(const TensorView& view) const {
    std::lock_guard lock(mutex_);
    drawn_.erase(view.name);
}

}  // namespace distgpt
