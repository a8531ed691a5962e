// vindex/index/hnsw/candidate_pool.hpp — the `ef` closest nodes a graph walk has measured, kept
// sorted, each marked once it has been expanded: the single structure of a walk that accepts every
// node (index/hnsw/search.hpp), in place of a min-heap of candidates and a max-heap of results.
//
// For such a walk the two are the same set: a candidate is expanded only while it is within the
// ef-th result's distance, so one dropped from the results is never expanded. The pool then costs
// a binary search and a short move per insertion and a cursor step per expansion, against a heap
// push into each structure, a heap pop when the results are full, and a heap pop per expansion, all
// with branches that depend on the data. Measured on glove-100 (an A/B probe on one loaded graph,
// ef 16-128, same recall): 4-9 % more queries/s with SQ8 codes and 6-9 % with floats; at ef 512 the
// moves catch up with the heaps (1.00×) and at 1024 they lose (0.97×), hence search.hpp's limit.
//
// Not thread-safe: one pool per walk (it lives in the walk's scratch). Allocates only in reset().
// Next: index/hnsw/search.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace vindex::detail {

/// Up to `capacity` candidates sorted by `Closer` (closest first), each with an expanded flag.
/// `Candidate` is trivially copyable with a `distance` member.
template <class Candidate, class Closer>
class CandidatePool {
  static_assert(std::is_trivially_copyable_v<Candidate>);

 public:
  /// Empties the pool for a walk keeping `capacity` (≥ 1) candidates; grows the storage if needed
  /// (std::bad_alloc leaves the pool as it was).
  void reset(std::size_t capacity) {
    if (items_.size() < capacity) {
      items_.resize(capacity);
      expanded_.resize(capacity);
    }
    capacity_ = capacity;
    size_ = cursor_ = 0;
  }

  /// Whether the pool holds `capacity` candidates (insert then drops the farthest).
  bool full() const noexcept { return size_ == capacity_; }
  /// The farthest candidate held; the pool is not empty.
  const Candidate& farthest() const noexcept { return items_[size_ - 1]; }

  /// Adds `c` unexpanded at its place, dropping the farthest when the pool was full; a candidate
  /// not closer than every held one of a full pool is not added.
  void insert(const Candidate& c) noexcept {
    // The first held candidate farther than c, by a branch-free binary search.
    const Candidate* base = items_.data();
    for (std::size_t n = size_; n > 0;) {
      const std::size_t half = n / 2;
      const bool right = !Closer{}(c, base[half]);
      base = right ? base + half + 1 : base;
      n = right ? n - half - 1 : half;
    }
    const std::size_t at = static_cast<std::size_t>(base - items_.data());
    if (at == capacity_) return;
    const std::size_t moved = (size_ == capacity_ ? capacity_ - 1 : size_) - at;
    std::memmove(items_.data() + at + 1, items_.data() + at, moved * sizeof(Candidate));
    std::memmove(expanded_.data() + at + 1, expanded_.data() + at, moved);
    items_[at] = c;
    expanded_[at] = 0;
    if (size_ < capacity_) ++size_;
    if (at < cursor_) cursor_ = at;
  }

  /// The closest candidate not expanded yet, marked expanded now; false when every one is.
  bool expand_next(Candidate& out) noexcept {
    while (cursor_ < size_ && expanded_[cursor_]) ++cursor_;
    if (cursor_ == size_) return false;
    expanded_[cursor_] = 1;
    out = items_[cursor_];
    return true;
  }

  /// The candidate expand_next would return now (without marking it), or null.
  const Candidate* peek_next() const noexcept {
    for (std::size_t i = cursor_; i < size_; ++i)
      if (!expanded_[i]) return &items_[i];
    return nullptr;
  }

  /// The candidates held, closest first.
  const Candidate* begin() const noexcept { return items_.data(); }
  const Candidate* end() const noexcept { return items_.data() + size_; }
  std::size_t size() const noexcept { return size_; }

  /// Heap bytes held.
  std::size_t memory_bytes() const noexcept { return items_.capacity() * sizeof(Candidate) + expanded_.capacity(); }

 private:
  std::vector<Candidate> items_;
  std::vector<std::uint8_t> expanded_;
  std::size_t capacity_ = 0, size_ = 0, cursor_ = 0;
};

}  // namespace vindex::detail
