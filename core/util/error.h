#pragma once
#include <stdexcept>
#include <string>

namespace distgpt {

// Every error a user can cause (bad file, bad flag, bad message) is an Error
// whose text names the thing at fault and what to do about it.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// An Error one node of a cluster is at fault for: its index in the topology
// travels with the text, so a caller marks that node without reading the text.
struct NodeError : Error {
    NodeError(int node_index, const std::string& what) : Error(what), node(node_index) {}
    int node;
};

// A node that did not answer in time: dead, stopped, cut off, or never there.
struct NodeSilent : NodeError {
    using NodeError::NodeError;
};

}  // namespace distgpt
