#include "tokenizer/bpe_merges.h"

#include <queue>
#include <tuple>

namespace distgpt {

BpeMerges::BpeMerges(std::vector<std::pair<std::string, std::string>> merges) : merges_(std::move(merges)) {
    rank_.reserve(merges_.size());
    for (std::size_t i = 0; i < merges_.size(); ++i) rank_.emplace(merges_[i].first + '\x01' + merges_[i].second, static_cast<int>(i));
}

int BpeMerges::rank(const std::string& left, const std::string& right) const {
    const auto it = rank_.find(left + '\x01' + right);
    return it == rank_.end() ? -1 : it->second;
}

std::vector<std::string> BpeMerges::apply(std::vector<std::string> symbols) const {
    const int n = static_cast<int>(symbols.size());
    if (n < 2 || merges_.empty()) return symbols;
    std::vector<int> prev(n), next(n), version(n, 0);
    for (int i = 0; i < n; ++i) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    // (rank, left position, left's version, right's version): a pair whose
    // symbols changed since it was queued is stale and skipped.
    using Candidate = std::tuple<int, int, int, int>;
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto offer = [&](int left) {
        const int right = next[left];
        if (left < 0 || right < 0) return;
        if (const int r = rank(symbols[left], symbols[right]); r >= 0) queue.emplace(r, left, version[left], version[right]);
    };
    for (int i = 0; i + 1 < n; ++i) offer(i);
    while (!queue.empty()) {
        const auto [r, left, left_version, right_version] = queue.top();
        queue.pop();
        const int right = next[left];
        if (version[left] != left_version || right < 0 || version[right] != right_version) continue;
        symbols[left] += symbols[right];
        ++version[left];
        version[right] = -1;  // gone
        next[left] = next[right];
        if (next[right] >= 0) prev[next[right]] = left;
        if (prev[left] >= 0) offer(prev[left]);
        offer(left);
    }
    std::vector<std::string> out;
    for (int i = 0; i >= 0; i = next[i]) out.push_back(std::move(symbols[i]));
    return out;
}

}  // namespace distgpt
