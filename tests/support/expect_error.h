#pragma once
#include "util/error.h"

#include <QTest>

#include <functional>
#include <initializer_list>
#include <string>

namespace distgpt::test {

// Runs `body`, which must throw distgpt::Error; returns the message, or a
// message starting with "NO ERROR" when nothing was thrown.
inline std::string error_of(const std::function<void()>& body) {
    try {
        body();
    } catch (const Error& e) {
        return e.what();
    }
    return "NO ERROR";
}

inline bool contains_all(const std::string& text, std::initializer_list<std::string> parts) {
    for (const auto& p : parts)
        if (text.find(p) == std::string::npos) return false;
    return true;
}

}  // namespace distgpt::test

// Asserts that `expr` throws an Error whose message holds every string given.
#define EXPECT_ERROR(expr, ...)                                                                         \
    do {                                                                                                \
        const std::string message_ = ::distgpt::test::error_of([&] { expr; });                          \
        QVERIFY2(::distgpt::test::contains_all(message_, {__VA_ARGS__}), ("got: " + message_).c_str()); \
    } while (0)
