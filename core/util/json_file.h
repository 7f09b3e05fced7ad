#pragma once
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace distgpt {

// A JSON file, or an Error naming the file and what is wrong with it.
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error("cannot open " + path.string());
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": not valid JSON: " + e.what());
    }
}

}  // namespace distgpt
