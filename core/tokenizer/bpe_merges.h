#pragma once
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace distgpt {

// Byte-pair merges (Sennrich et al.): the learned pairs in rank order, and
// their application to a word's symbols: the adjacent pair of lowest rank
// is merged, the leftmost first among equals, until no pair is mergeable
// (Hugging Face's BPE model does the same, with a queue, as here).
class BpeMerges {
public:
    BpeMerges() = default;
    explicit BpeMerges(std::vector<std::pair<std::string, std::string>> merges);

    std::vector<std::string> apply(std::vector<std::string> symbols) const;
    const std::vector<std::pair<std::string, std::string>>& pairs() const { return merges_; }
    bool empty() const { return merges_.empty(); }

private:
    int rank(const std::string& left, const std::string& right) const;  // -1: not a merge

    std::vector<std::pair<std::string, std::string>> merges_;
    std::unordered_map<std::string, int> rank_;  // left + '\x01' + right
};

}  // namespace distgpt
