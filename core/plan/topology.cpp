#include "plan/topology.h"

#include "net/endpoint.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

namespace distgpt {

using nlohmann::json;

int Topology::ranks_per_stage() const {
    switch (strategy) {
        case Strategy::Pipeline: return 1;
        case Strategy::Tensor: return static_cast<int>(nodes.size());
        case Strategy::Hybrid: return tensor_parallel;
        case Strategy::Auto: return 1;  // not chosen yet: no plan is made of it (plan_stages)
    }
    return 1;
}

LinkModel Topology::link(int from, int to) const {
    if (from == to) return {};  // a node's message to itself never crosses its network
    for (const auto& l : links)
        if (l.from == nodes[from].name && l.to == nodes[to].name) return l.model;
    return link_between(nodes[from].network, nodes[to].network);
}

bool Topology::all_started_here(const std::vector<int>& group) const {
    for (int n : group)
        if (!nodes[n].started_here()) return false;
    return true;
}

int Topology::stage_count() const { return static_cast<int>(nodes.size()) / std::max(1, ranks_per_stage()); }

std::string weight_source_name(WeightSource w) {
    switch (w) {
        case WeightSource::Auto: return "auto";
        case WeightSource::Disk: return "disk";
        case WeightSource::Stream: return "stream";
    }
    return "auto";
}

std::optional<WeightSource> parse_weight_source(const std::string& name) {
    for (WeightSource w : {WeightSource::Auto, WeightSource::Disk, WeightSource::Stream})
        if (weight_source_name(w) == name) return w;
    return std::nullopt;
}

std::string strategy_name(Strategy s) {
    switch (s) {
        case Strategy::Pipeline: return "pipeline";
        case Strategy::Tensor: return "tensor";
        case Strategy::Hybrid: return "hybrid";
        case Strategy::Auto: return "auto";
    }
    return "pipeline";
}

namespace {

// A whole number within [lo, hi], or Error naming the field.
int64_t whole(const json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi, const std::string& where) {
    if (!j.contains(key)) return fallback;
    const json& v = j[key];
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) ||
        (!v.is_number_unsigned() && (v.get<int64_t>() < lo || v.get<int64_t>() > hi)))
        throw Error(where + ": \"" + key + "\" must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    return v.get<int64_t>();
}

// A non-negative number of `unit`, or Error naming the field.
double amount(const json& j, const char* key, double fallback, const std::string& where) {
    if (!j.contains(key)) return fallback;
    const json& v = j[key];
    if (!v.is_number() || !(v.get<double>() >= 0) || v.get<double>() > 1e9)
        throw Error(where + ": \"" + key + "\" must be a number from 0 up");
    return v.get<double>();
}

// A node's "network": a preset's name, or {"preset"?, "uplink_mbps", "downlink_mbps", "latency_ms", "jitter_ms"}.
NodeNetwork parse_network(const json& n, const std::string& where) {
    if (n.is_string() || (n.is_object() && n.contains("preset"))) {
        const std::string name = n.is_string() ? n.get<std::string>() : n["preset"].get<std::string>();
        const auto preset = network_preset(name);
        if (!preset) {
            std::string known;
            for (const auto& p : network_presets()) known += (known.empty() ? "" : ", ") + ("\"" + p.name + "\"");
            throw Error(where + ": network preset '" + name + "' is not one of " + known);
        }
        if (n.is_string()) return *preset;
        return {amount(n, "uplink_mbps", preset->uplink_mbps, where), amount(n, "downlink_mbps", preset->downlink_mbps, where),
                amount(n, "latency_ms", preset->latency_ms, where), amount(n, "jitter_ms", preset->jitter_ms, where)};
    }
    if (!n.is_object()) throw Error(where + ": \"network\" must be a preset's name or an object");
    return {amount(n, "uplink_mbps", 0, where), amount(n, "downlink_mbps", 0, where), amount(n, "latency_ms", 0, where),
            amount(n, "jitter_ms", 0, where)};
}

json network_json(const NodeNetwork& n) {
    for (const auto& p : network_presets())
        if (p.network == n) return p.name;
    json j = json::object();
    if (n.uplink_mbps > 0) j["uplink_mbps"] = n.uplink_mbps;
    if (n.downlink_mbps > 0) j["downlink_mbps"] = n.downlink_mbps;
    if (n.latency_ms > 0) j["latency_ms"] = n.latency_ms;
    if (n.jitter_ms > 0) j["jitter_ms"] = n.jitter_ms;
    return j;
}

}  // namespace

Topology parse_topology(const std::string& text, const std::string& origin) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(origin + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(origin + ": must be a JSON object with \"nodes\"");
    Topology t;
    try {
        const std::string strategy = j.value("strategy", "pipeline");
        if (strategy == "pipeline")
            t.strategy = Strategy::Pipeline;
        else if (strategy == "tensor")
            t.strategy = Strategy::Tensor;
        else if (strategy == "hybrid")
            t.strategy = Strategy::Hybrid;
        else if (strategy == "auto")
            t.strategy = Strategy::Auto;
        else
            throw Error(origin + ": strategy '" + strategy + "' is not pipeline, tensor, hybrid or auto");
        t.tensor_parallel = static_cast<int>(whole(j, "tensor_parallel", t.strategy == Strategy::Hybrid ? 2 : 1, 1, 1024, origin));
        const std::string transport = j.value("transport", "auto");
        if (transport == "auto")
            t.transport = TransportChoice::Auto;
        else if (transport == "zeromq")
            t.transport = TransportChoice::ZeroMQ;
        else
            throw Error(origin + ": transport '" + transport + "' is not auto or zeromq");
        if (j.contains("weights_dtype")) {
            const std::string dtype = j["weights_dtype"].get<std::string>();
            t.weights_dtype = weight_format_named(dtype);
            if (!t.weights_dtype) throw Error(origin + ": weights_dtype '" + dtype + "' is not f32, bf16, f16, q8 or q4");
        }
        if (j.contains("wire")) {
            const std::string wire = j["wire"].get<std::string>();
            const auto format = wire_format_named(wire);
            if (!format) throw Error(origin + ": wire '" + wire + "' is not f32, bf16 or q8");
            t.wire = *format;
        }
        if (!j.contains("nodes") || !j["nodes"].is_array() || j["nodes"].empty())
            throw Error(origin + ": needs a non-empty \"nodes\" array");
        std::set<std::string> names;
        for (const json& n : j["nodes"]) {
            if (!n.is_object()) throw Error(origin + ": every node must be an object");
            NodeSpec node;
            node.name = n.value("name", "node" + std::to_string(t.nodes.size()));
            node.endpoint = n.value("endpoint", "local");
            node.threads = static_cast<int>(whole(n, "threads", 1, 1, 4096, origin + ": node '" + node.name + "'"));
            node.memory_limit = whole(n, "memory_limit", 0, 0, int64_t(1) << 50, origin + ": node '" + node.name + "'");
            const std::string weights = n.value("weights", "auto");
            node.server_key = n.value("server_key", "");
            if (!node.server_key.empty() && node.server_key.size() != 40)
                throw Error(origin + ": node '" + node.name +
                            "': server_key must be the 40-character public key from the worker's .pub file");
            if (!names.insert(node.name).second) throw Error(origin + ": two nodes are named '" + node.name + "'");
            if (const auto problem = endpoint_problem(node.endpoint)) throw Error(origin + ": node '" + node.name + "': " + *problem);
            const bool by_ssh = node.endpoint.starts_with("ssh://");
            node.program = n.value("program", node.program);
            node.model_dir = n.value("model_dir", "");
            if (!by_ssh && (n.contains("program") || n.contains("model_dir")))
                throw Error(origin + ": node '" + node.name + "': \"program\" and \"model_dir\" are for nodes started by ssh; a worker " +
                            "started by hand takes them from its own command line");
            if (by_ssh && !node.server_key.empty())
                throw Error(origin + ": node '" + node.name +
                            "': a node started by ssh gets a fresh key for each run; drop its server_key");
            if (node.program.empty()) throw Error(origin + ": node '" + node.name + "': \"program\" is empty");
            const auto source = parse_weight_source(weights);
            if (!source) throw Error(origin + ": node '" + node.name + "': weights must be auto, disk or stream, not '" + weights + "'");
            node.weights = *source;
            if (n.contains("network")) node.network = parse_network(n["network"], origin + ": node '" + node.name + "'");
            if (n.contains("speed")) {
                const json& v = n["speed"];
                if (!v.is_number() || !(v.get<double>() >= 0.01 && v.get<double>() <= 100))
                    throw Error(origin + ": node '" + node.name +
                                "': \"speed\" must be a number from 0.01 to 100 (1: as fast as this machine)");
                node.speed = v.get<double>();
            }
            t.nodes.push_back(node);
        }
        if (j.contains("links")) {
            if (!j["links"].is_array()) throw Error(origin + ": \"links\" must be a list of {\"from\", \"to\", …} links");
            for (const json& l : j["links"]) {
                if (!l.is_object() || !l.contains("from") || !l.contains("to"))
                    throw Error(origin + ": every link needs \"from\" and \"to\" (node names)");
                LinkOverride link{l["from"].get<std::string>(), l["to"].get<std::string>(), {}};
                const std::string where = origin + ": link " + link.from + " → " + link.to;
                for (const auto& name : {link.from, link.to})
                    if (!names.count(name)) throw Error(where + ": no node is named '" + name + "'");
                if (link.from == link.to) throw Error(where + ": a link joins two different nodes");
                link.model = {amount(l, "bandwidth_mbps", 0, where), amount(l, "latency_ms", 0, where), amount(l, "jitter_ms", 0, where)};
                t.links.push_back(link);
            }
        }
        if (j.contains("layers")) {
            if (!j["layers"].is_array()) throw Error(origin + ": \"layers\" must list [begin, end) pairs, one per stage");
            for (const json& r : j["layers"]) {
                if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer() || r[0].get<int64_t>() < 0 ||
                    r[1].get<int64_t>() > 100000 || r[0].get<int64_t>() > 100000)
                    throw Error(origin + ": \"layers\" must list [begin, end) pairs of layer numbers, one per stage");
                t.layers.emplace_back(r[0].get<int>(), r[1].get<int>());
            }
        }
    } catch (const json::exception& e) {
        throw Error(origin + ": a field has the wrong type: " + e.what());
    }
    const int n = static_cast<int>(t.nodes.size());
    if (t.strategy == Strategy::Hybrid && (t.tensor_parallel < 1 || n % t.tensor_parallel != 0))
        throw Error(origin + ": hybrid with tensor_parallel " + std::to_string(t.tensor_parallel) + " needs a multiple of " +
                    std::to_string(t.tensor_parallel) + " nodes, not " + std::to_string(n));
    if (!t.layers.empty() && static_cast<int>(t.layers.size()) != t.stage_count())
        throw Error(origin + ": \"layers\" gives " + std::to_string(t.layers.size()) + " ranges for " + std::to_string(t.stage_count()) +
                    " stages");
    return t;
}

std::optional<std::string> endpoint_problem(const std::string& endpoint) {
    if (endpoint == "local") return std::nullopt;
    if (endpoint.starts_with("ssh://")) {
        if (net::parse_ssh_endpoint(endpoint)) return std::nullopt;
        return "endpoint '" + endpoint + "' is not ssh://[user@]host[:port]";
    }
    const auto e = net::parse_endpoint(endpoint);
    if (e && e->scheme == "tcp") return std::nullopt;
    return "endpoint must be \"local\", ssh://[user@]host[:port] or tcp://host:port, not '" + endpoint + "'";
}

Topology read_topology(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw Error("cannot open topology file " + file.string());
    std::stringstream s;
    s << in.rdbuf();
    return parse_topology(s.str(), file.string());
}

json topology_json(const Topology& t) {
    json j = {{"strategy", strategy_name(t.strategy)}, {"nodes", json::array()}};
    if (t.strategy == Strategy::Hybrid) j["tensor_parallel"] = t.tensor_parallel;
    if (t.transport == TransportChoice::ZeroMQ) j["transport"] = "zeromq";
    if (t.weights_dtype) j["weights_dtype"] = weight_format_name(*t.weights_dtype);
    if (t.wire != WireFormat::F32) j["wire"] = wire_format_name(t.wire);
    for (const auto& n : t.nodes) {
        json node = {{"name", n.name}, {"endpoint", n.endpoint}, {"threads", n.threads}};
        if (n.memory_limit) node["memory_limit"] = n.memory_limit;
        if (n.weights != WeightSource::Auto) node["weights"] = weight_source_name(n.weights);
        if (!n.server_key.empty()) node["server_key"] = n.server_key;
        if (n.program != NodeSpec{}.program) node["program"] = n.program;
        if (!n.model_dir.empty()) node["model_dir"] = n.model_dir;
        if (n.network.emulated()) node["network"] = network_json(n.network);
        if (n.speed != 1) node["speed"] = n.speed;
        j["nodes"].push_back(node);
    }
    for (const auto& l : t.links) {
        json link = {{"from", l.from}, {"to", l.to}};
        if (l.model.bandwidth_mbps > 0) link["bandwidth_mbps"] = l.model.bandwidth_mbps;
        if (l.model.latency_ms > 0) link["latency_ms"] = l.model.latency_ms;
        if (l.model.jitter_ms > 0) link["jitter_ms"] = l.model.jitter_ms;
        j["links"].push_back(link);
    }
    if (!t.layers.empty()) {
        j["layers"] = json::array();
        for (auto [b, e] : t.layers) j["layers"].push_back({b, e});
    }
    return j;
}

std::string topology_to_json(const Topology& t) { return topology_json(t).dump(2); }

}  // namespace distgpt
