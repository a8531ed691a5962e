// vindex/storage/growth.hpp — room in a std::vector ahead of a push, without losing amortised O(1).
//
// Writers reserve before they change anything, so that nothing throws once the change has begun
// (the strong guarantee). `std::vector::reserve(size() + 1)` would do that, but it allocates exactly
// what it is asked for: called before every push it copies the whole vector each time, which is
// quadratic (at 100,000 long keys, ~1 s of copying in a snapshot load). `reserve_for` grows the
// capacity at least geometrically instead. Plain function: no thread-safety concerns of its own.
#pragma once

#include <algorithm>
#include <cstddef>
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

}  // namespace vindex
