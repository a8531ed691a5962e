// vindex/index/top_k.hpp — keeping the k best (distance, id) pairs, ties broken by key.
//
// `TopK` is a bounded max-heap: the worst kept entry is on top, so a candidate that cannot make the
// cut costs one comparison. Ties in distance are broken by key bytes (smaller key wins), which is
// what makes results deterministic across index types. Not thread-safe; one per query.
// Next: index/flat_index.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "vindex/core/types.hpp"

namespace vindex {

/// Bounded collection of the k closest candidates; `KeyOf(Id) -> KeyView` breaks ties.
template <class KeyOf>
class TopK {
 public:
  /// Keeps at most `k` entries.
  TopK(std::size_t k, KeyOf key_of) : k_(k), key_of_(key_of) { heap_.reserve(k + 1); }

  /// Offers a candidate; returns true when it was kept.
  bool push(Distance distance, Id id) {
    if (heap_.size() == k_) {
      if (!better({distance, id}, heap_.front())) return false;
      std::pop_heap(heap_.begin(), heap_.end(), cmp());
      heap_.back() = {distance, id};
    } else {
      heap_.push_back({distance, id});
    }
    std::push_heap(heap_.begin(), heap_.end(), cmp());
    return true;
  }

  /// Distance a candidate must beat (or tie) to be kept: +inf until k entries are held.
  Distance threshold() const noexcept {
    return heap_.size() < k_ ? std::numeric_limits<Distance>::infinity() : heap_.front().distance;
  }
  /// Number of entries held.
  std::size_t size() const noexcept { return heap_.size(); }
  /// Whether k entries are held.
  bool full() const noexcept { return heap_.size() == k_; }

  /// The entries, closest first (ties by key); the TopK is left empty.
  std::vector<std::pair<Distance, Id>> take_sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), cmp());
    std::vector<std::pair<Distance, Id>> out;
    out.reserve(heap_.size());
    for (const Entry& e : heap_) out.emplace_back(e.distance, e.id);
    heap_.clear();
    return out;
  }

 private:
  struct Entry {
    Distance distance;
    Id id;
  };
  bool better(const Entry& a, const Entry& b) const {
    if (a.distance != b.distance) return a.distance < b.distance;
    return key_of_(a.id) < key_of_(b.id);
  }
  auto cmp() const {
    return [this](const Entry& a, const Entry& b) { return better(a, b); };
  }

  std::size_t k_;
  KeyOf key_of_;
  std::vector<Entry> heap_;
};

}  // namespace vindex
