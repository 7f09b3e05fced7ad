#pragma once
#include <cstdio>
#include <string>

namespace distgpt {

// Seconds as a person writes them: "600 s", "1.5 s", "0.25 s", "3600 s".
inline std::string seconds_text(double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, seconds >= 1000 ? "%.0f s" : "%.3g s", seconds);
    return text;
}

}  // namespace distgpt
