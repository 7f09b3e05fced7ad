#pragma once
#include <stdexcept>
#include <string>

namespace distgpt {

// Every error a user can cause (bad file, bad flag, bad message) is an Error
// whose text names the thing at fault and what to do about it.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace distgpt
