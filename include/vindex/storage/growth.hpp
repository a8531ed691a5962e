// vindex/storage/growth.hpp — room in a std::vector ahead of a push, without losing amortised O(1).
//
// Writers reserve before they change anything, so that nothing throws once the change has begun
// (the strong guarantee). `std::vector::reserve(size() + 1)` would do that, but it allocates exactly
// what it is asked for: called before every push it copies the whole vector each time, which is
// quadratic (at 100,000 long keys, ~1 s of copying in a snapshot load). `reserve_for` grows the
// capacity at least geometrically instead. `GrowGuard` grows the same way for a change that may still
// fail later: until it is committed it keeps the old buffer, and put back it leaves the vector exactly
// as it was, capacity included, so a failed write gives back every byte it took (core/memory.hpp).
// Plain function and class: no thread-safety concerns of their own. Next: storage/block_array.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace vindex {

/// Makes `v.capacity() >= wanted`, at least doubling the capacity when it must grow, so that
/// calling it before each push_back keeps pushes amortised O(1). Throws only std::bad_alloc /
/// std::length_error, leaving `v` unchanged.
template <class T, class Allocator>
void reserve_for(std::vector<T, Allocator>& v, std::size_t wanted) {
  if (wanted <= v.capacity()) return;
  const std::size_t doubled = v.capacity() > v.max_size() / 2 ? v.max_size() : 2 * v.capacity();
  v.reserve(std::max({wanted, doubled, std::size_t{8}}));
}

/// Grows a vector's capacity like reserve_for for a change that may still fail. Unless commit() is
/// called, the destructor puts the old buffer back and frees the new one, leaving the vector exactly
/// as it was, capacity included; the vector's elements must not change in between (grow first, then
/// write). Elements are copied, so they should be trivially copyable (ids, pointers).
template <class Vector>
class [[nodiscard]] GrowGuard {
 public:
  /// Makes `v.capacity() >= wanted` (geometrically, as reserve_for). Throws std::bad_alloc (or a
  /// MemoryLimitExceeded) with `v` unchanged.
  GrowGuard(Vector& v, std::size_t wanted) : v_(&v), old_(v.get_allocator()) {
    if (wanted <= v.capacity()) return;
    Vector fresh(v.get_allocator());
    const std::size_t doubled = v.capacity() > v.max_size() / 2 ? v.max_size() : 2 * v.capacity();
    fresh.reserve(std::max({wanted, doubled, std::size_t{8}}));
    fresh.assign(v.begin(), v.end());  // within the reserved capacity: no allocation
    v.swap(fresh);
    old_.swap(fresh);  // same allocator: swaps buffers only
    pending_ = true;
  }
  /// Takes over `other`'s pending growth.
  GrowGuard(GrowGuard&& other) noexcept : v_(other.v_), old_(std::move(other.old_)), pending_(other.pending_) {
    other.pending_ = false;
  }
  GrowGuard(const GrowGuard&) = delete;
  GrowGuard& operator=(const GrowGuard&) = delete;
  GrowGuard& operator=(GrowGuard&&) = delete;
  /// Puts the old buffer back unless committed.
  ~GrowGuard() {
    if (pending_) v_->swap(old_);  // old_ now holds the new buffer, freed with it
  }
  /// Keeps the new capacity (and frees the old buffer).
  void commit() noexcept {
    pending_ = false;
    Vector released(old_.get_allocator());
    old_.swap(released);
  }

 private:
  // The old buffer while growth is pending. (A std::optional here made gcc 12 warn
  // maybe-uninitialized at -O3 in some callers.)
  Vector* v_;
  Vector old_;
  bool pending_ = false;
};

}  // namespace vindex
