// vindex/storage/visited_set.hpp — "have I seen this id?" for one graph search, and a pool of them.
//
// `VisitedSet` marks ids with a per-query epoch tag, so starting a new query costs nothing (the tag
// array is wiped only when the 16-bit epoch wraps, once every 65535 queries). `ScratchPool<S>` hands
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

/// Epoch-tagged membership marks for ids below a bound.
class VisitedSet {
 public:
  /// Starts a new query over ids below `id_bound`; all marks are cleared.
  void begin(std::size_t id_bound) {
    if (tags_.size() < id_bound) tags_.resize(id_bound + id_bound / 4, 0);
    if (++epoch_ == 0) {  // wrapped: forget every old tag once
      std::memset(tags_.data(), 0, tags_.size() * sizeof(std::uint16_t));
      epoch_ = 1;
    }
  }
  /// True when `id` was marked during this query.
  bool contains(Id id) const noexcept { return tags_[id] == epoch_; }
  /// Marks `id`; returns true when it was not marked yet.
  bool insert(Id id) noexcept {
    if (tags_[id] == epoch_) return false;
    tags_[id] = epoch_;
    return true;
  }
  /// Address of the tag of `id`, for prefetching.
  const void* address(Id id) const noexcept { return tags_.data() + id; }
  /// Heap bytes held.
  std::size_t memory_bytes() const noexcept { return tags_.capacity() * sizeof(std::uint16_t); }

 private:
  std::vector<std::uint16_t> tags_;
  std::uint16_t epoch_ = 0;
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
