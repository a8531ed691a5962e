// vindex/storage/key_map.hpp — binary-safe keys mapped to dense, reusable ids.
//
// `KeyMap` hands out the lowest-numbered free id for a new key (erased ids are reused, most recently
// freed first), remembers each id's key, and tells which ids are live. It is not synchronised: the
// index that owns it serialises writers and excludes them from readers. Next: index/flat_index.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"

namespace vindex {

/// Two-way map between keys and dense ids, with free-id reuse.
class KeyMap {
 public:
  /// Id of `key`, or nullopt when absent.
  std::optional<Id> find(KeyView key) const {
    auto it = ids_.find(key);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }

  /// Assigns an id to a new key (which must be absent), reusing a freed id when there is one.
  Id insert(KeyView key) {
    Id id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      keys_[id].assign(key.data(), key.size());
      live_[id] = 1;
    } else {
      if (keys_.size() >= kInvalidId)
        throw Error(ErrorCode::kInvalidArgument, "index is full (2^32 - 1 entries)");
      id = static_cast<Id>(keys_.size());
      // Keep room for every id in the free list, so release() never allocates.
      free_.reserve(keys_.size() + 1);
      keys_.emplace_back(key);
      live_.push_back(1);
    }
    try {
      ids_.emplace(keys_[id], id);
    } catch (...) {
      release(id);
      throw;
    }
    return id;
  }

  /// Inserts a new key (which must be absent) at exactly `id`, which must be at or above id_bound();
  /// the ids skipped over become free. For restoring a saved index whose ids have holes.
  void insert_at(Id id, KeyView key) {
    if (id < keys_.size() || id == kInvalidId)
      throw Error(ErrorCode::kInvalidArgument, "insert_at: id " + std::to_string(id) + " is taken");
    free_.reserve(std::size_t{id} + 1);
    keys_.reserve(std::size_t{id} + 1);
    live_.reserve(std::size_t{id} + 1);
    const std::size_t first_gap = keys_.size();
    keys_.resize(id);
    live_.resize(id, 0);
    for (std::size_t gap = id; gap-- > first_gap;) free_.push_back(static_cast<Id>(gap));
    keys_.emplace_back(key);
    live_.push_back(1);
    free_.reserve(keys_.size());
    ids_.emplace(keys_[id], id);
  }

  /// Removes `key`; returns its former id, or nullopt when it was absent.
  std::optional<Id> erase(KeyView key) {
    auto it = ids_.find(key);
    if (it == ids_.end()) return std::nullopt;
    const Id id = it->second;
    ids_.erase(it);
    release(id);
    return id;
  }

  /// Removes `key` but keeps its id out of reuse until `release_retired(id)`: for an index whose readers may
  /// still reach the id (HNSW tombstones). Returns the former id, or nullopt when it was absent.
  std::optional<Id> retire(KeyView key) {
    auto it = ids_.find(key);
    if (it == ids_.end()) return std::nullopt;
    const Id id = it->second;
    ids_.erase(it);
    Key().swap(keys_[id]);
    live_[id] = 0;
    return id;
  }

  /// Makes a retired id available for reuse.
  void release_retired(Id id) noexcept { free_.push_back(id); }  // capacity reserved in insert()

  /// The id the next `insert` will hand out.
  Id next_id() const noexcept { return free_.empty() ? static_cast<Id>(keys_.size()) : free_.back(); }

  /// Key of a live id.
  KeyView key(Id id) const noexcept { return keys_[id]; }
  /// True when `id` currently names a key.
  bool is_live(Id id) const noexcept { return id < live_.size() && live_[id] != 0; }
  /// Number of live keys.
  std::size_t size() const noexcept { return ids_.size(); }
  /// One past the highest id ever handed out (ids below it may be free).
  std::size_t id_bound() const noexcept { return keys_.size(); }
  /// Number of freed ids waiting for reuse.
  std::size_t free_count() const noexcept { return free_.size(); }
  /// Freed ids, in the order they will be reused (last first).
  const std::vector<Id>& free_ids() const noexcept { return free_; }
  /// Raw live flags indexed by id (1 = live), for tight scan loops.
  const std::uint8_t* live_flags() const noexcept { return live_.data(); }

  /// Approximate heap bytes held: key bytes, hash table and per-id arrays.
  std::size_t memory_bytes() const noexcept {
    std::size_t bytes = keys_.capacity() * sizeof(Key) + live_.capacity() + free_.capacity() * sizeof(Id);
    bytes += ids_.bucket_count() * sizeof(void*) + ids_.size() * (sizeof(Key) + sizeof(Id) + 2 * sizeof(void*));
    for (const Key& k : keys_)
      if (k.capacity() > 15) bytes += k.capacity() + 1;  // beyond the small-string buffer
    return bytes;
  }

  /// Moves every live id at or above size() into a free id below it, calling
  /// `relocate(from, to)` for each move so the owner can move its per-id data, then forgets all free
  /// ids: afterwards the ids are exactly 0..size()-1. Returns the number of moves.
  template <class Relocate>
  std::size_t compact(Relocate&& relocate) {
    const std::size_t n = ids_.size();
    std::vector<Id> holes;
    for (Id id : free_)
      if (id < n) holes.push_back(id);
    std::size_t moves = 0;
    for (std::size_t from = n; from < keys_.size(); ++from) {
      if (!live_[from]) continue;
      const Id to = holes.back();
      holes.pop_back();
      relocate(static_cast<Id>(from), to);
      keys_[to] = std::move(keys_[from]);
      live_[to] = 1;
      ids_.find(KeyView(keys_[to]))->second = to;
      ++moves;
    }
    keys_.resize(n);
    keys_.shrink_to_fit();
    live_.resize(n);
    free_.clear();
    return moves;
  }

  /// Removes every key.
  void clear() noexcept {
    ids_.clear();
    keys_.clear();
    live_.clear();
    free_.clear();
  }

 private:
  void release(Id id) noexcept {
    Key().swap(keys_[id]);
    live_[id] = 0;
    free_.push_back(id);  // capacity reserved in insert(): never reallocates
  }

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::unordered_map<Key, Id, Hash, std::equal_to<>> ids_;
  std::vector<Key> keys_;
  std::vector<std::uint8_t> live_;
  std::vector<Id> free_;
};

}  // namespace vindex
