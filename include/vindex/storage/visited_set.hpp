// vindex/storage/visited_set.hpp — "have I seen this id?" for one graph search, and a pool of them.
//
// `VisitedSet` marks ids in a bit array (one bit per id, so it stays in cache). `ScratchPool<S>` hands
// out reusable per-query scratch objects so a search allocates nothing in steady state and concurrent
// searches never share one. A VisitedSet is not synchronised (one query owns it); ScratchPool is
// thread-safe (a short mutex around take/give-back). Next: storage/upper_links.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "vindex/core/types.hpp"

namespace vindex {

/// Membership bits for ids below a bound, one bit per id.
class VisitedSet {
 public:
  /// Starts a new query over ids below `id_bound`; all marks are cleared. Clearing costs id_bound/8
  /// bytes (12.5 KB at 100k ids), which keeps the set small enough to live in L1/L2 cache.
  void begin(std::size_t id_bound) {
    const std::size_t words = (id_bound + 63) / 64;
    if (bits_.size() < words) bits_.resize(words);
    std::memset(bits_.data(), 0, words * sizeof(std::uint64_t));
  }
  /// True when `id` was marked during this query.
  bool contains(Id id) const noexcept { return (bits_[id >> 6] >> (id & 63)) & 1; }
  /// Marks `id`; returns true when it was not marked yet.
  bool insert(Id id) noexcept {
    std::uint64_t& word = bits_[id >> 6];
    const std::uint64_t bit = std::uint64_t{1} << (id & 63);
    if (word & bit) return false;
    word |= bit;
    return true;
  }
  /// Starts loading the mark of `id` into cache.
  void prefetch(Id id) const noexcept {
#if defined(__GNUC__)
    __builtin_prefetch(bits_.data() + (id >> 6), 1, 3);
#else
    (void)id;
#endif
  }
  /// Heap bytes held.
  std::size_t memory_bytes() const noexcept { return bits_.capacity() * sizeof(std::uint64_t); }

 private:
  std::vector<std::uint64_t> bits_;
};

/// A thread-safe free list of per-query scratch objects (default-constructible `S`).
template <class S>
class ScratchPool {
 public:
  /// A scratch object owned by the caller until it is given back (on destruction of the handle).
  class Handle {
   public:
    Handle(ScratchPool& pool, std::unique_ptr<S> s) : pool_(&pool), s_(std::move(s)) {}
    Handle(Handle&&) = default;
    Handle& operator=(Handle&&) = delete;
    ~Handle() {
      if (s_) pool_->give_back(std::move(s_));
    }
    S& operator*() noexcept { return *s_; }
    S* operator->() noexcept { return s_.get(); }

   private:
    ScratchPool* pool_;
    std::unique_ptr<S> s_;
  };

  /// Takes an idle scratch object, or makes a new one.
  Handle take() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        return Handle(*this, std::move(s));
      }
    }
    return Handle(*this, std::make_unique<S>());
  }

  /// Bytes held by idle scratch objects (`S::memory_bytes()`).
  std::size_t memory_bytes() const {
    std::lock_guard lock(mutex_);
    std::size_t bytes = 0;
    for (const auto& s : idle_) bytes += s->memory_bytes();
    return bytes;
  }

  /// Drops every idle scratch object.
  void clear() {
    std::lock_guard lock(mutex_);
    idle_.clear();
  }

 private:
  void give_back(std::unique_ptr<S> s) noexcept {
    try {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(s));
    } catch (...) {
      // Out of memory while growing the free list: the scratch object is simply freed.
    }
  }

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<S>> idle_;
};

}  // namespace vindex
