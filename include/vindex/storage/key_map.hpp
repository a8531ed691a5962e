// vindex/storage/key_map.hpp — binary-safe keys mapped to dense, reusable ids, compactly.
//
// `KeyMap` hands out ids for new keys (erased ids are reused, most recently freed first), remembers
// each id's key, and tells which ids are live. It is built to cost little per key, since it sits next
// to every vector: each id has one 8-byte slot that holds a key of up to 7 bytes inline (longer keys
// live in their own allocation), its state (live, retired, free) and, for a free id, the link to the
// next free one; the key → id direction is an open-addressing table of 4-byte ids. Slots come in
// blocks of 1024 that never move, so a KeyView of a live key stays valid until that key is erased.
// Not synchronised: the index that owns it serialises writers and excludes them from readers.
// Next: storage/upper_links.hpp, index/flat_index.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex {

/// Two-way map between keys and dense ids, with free-id reuse.
class KeyMap {
 public:
  KeyMap() = default;
  KeyMap(const KeyMap&) = delete;
  KeyMap& operator=(const KeyMap&) = delete;
  KeyMap(KeyMap&&) noexcept = default;
  KeyMap& operator=(KeyMap&&) = delete;
  ~KeyMap() { release_long_keys(); }

  /// Id of `key`, or nullopt when absent.
  std::optional<Id> find(KeyView key) const {
    if (table_.empty()) return std::nullopt;
    for (std::size_t at = home(key);; at = next(at)) {
      const Id id = table_[at];
      if (id == kInvalidId) return std::nullopt;
      if (this->key(id) == key) return id;
    }
  }

  /// Sizes the lookup table for `keys` live keys at once, so that inserting up to that many
  /// rehashes nothing (the table otherwise grows by 1/16 at a time, rehashing each time). Strong
  /// guarantee: on failure nothing changes.
  void reserve(std::size_t keys) { reserve_table(keys); }

  /// Assigns an id to a new key (which must be absent), reusing a freed id when there is one.
  /// Strong guarantee: on failure (out of memory, 2^32 - 1 ids) nothing changes.
  Id insert(KeyView key) {
    const bool fresh = free_head_ == kInvalidId;
    if (fresh && bound_ >= kInvalidId - 1)
      throw Error(ErrorCode::kInvalidArgument, "index is full (2^32 - 2 entries)");
    reserve_table(live_ + 1);
    if (fresh) reserve_ids(bound_ + 1);
    std::unique_ptr<char[]> long_key;
    if (key.size() > kInline) {
      long_key = std::make_unique<char[]>(sizeof(std::uint32_t) + key.size());
      const auto len = static_cast<std::uint32_t>(key.size());
      std::memcpy(long_key.get(), &len, sizeof len);
      std::memcpy(long_key.get() + sizeof len, key.data(), key.size());
      reserve_for(long_keys_, long_keys_.size() + 1);
      reserve_for(long_free_, long_keys_.size() + 1);  // so that dropping a long key never allocates
    }
    // Nothing below throws.
    Id id;
    if (fresh) {
      id = static_cast<Id>(bound_++);
    } else {
      id = free_head_;
      free_head_ = link_of(slot(id));
      --free_;
    }
    Slot& s = slot(id);
    s = Slot{};
    if (long_key) {
      s.b[0] = kLong;
      std::uint32_t index;
      if (!long_free_.empty()) {
        index = long_free_.back();
        long_free_.pop_back();
        long_keys_[index] = long_key.release();
      } else {
        index = static_cast<std::uint32_t>(long_keys_.size());
        long_keys_.push_back(long_key.release());
      }
      std::memcpy(s.b + 1, &index, sizeof index);
      long_bytes_ += key.size();
    } else {
      s.b[0] = static_cast<char>(kInlineBase + key.size());
      if (!key.empty()) std::memcpy(s.b + 1, key.data(), key.size());
    }
    place(id, key);
    ++live_;
    return id;
  }

  /// Inserts a new key (which must be absent) at exactly `id`, which must be at or above id_bound();
  /// the ids skipped over become free. For restoring a saved index whose ids have holes.
  void insert_at(Id id, KeyView key) {
    if (id < bound_ || id >= kInvalidId - 1)
      throw Error(ErrorCode::kInvalidArgument, "insert_at: id " + std::to_string(id) + " is taken");
    reserve_ids(std::size_t{id} + 1);
    const Id saved_head = free_head_;
    const std::size_t saved_bound = bound_, saved_free = free_;
    for (std::size_t gap = id; gap-- > bound_;) {  // ascending reuse order: lowest gap first
      Slot& s = slot(static_cast<Id>(gap));
      s = Slot{};
      set_link(s, free_head_);
      free_head_ = static_cast<Id>(gap);
      ++free_;
    }
    bound_ = std::size_t{id} + 1;
    // Take `id` itself through the normal path: make it the head of the free list.
    Slot& s = slot(id);
    s = Slot{};
    set_link(s, free_head_);
    free_head_ = id;
    ++free_;
    try {
      insert(key);
    } catch (...) {
      free_head_ = saved_head;
      bound_ = saved_bound;
      free_ = saved_free;
      throw;
    }
  }

  /// Removes `key`; returns its former id, or nullopt when it was absent. The id is free at once.
  std::optional<Id> erase(KeyView key) {
    const auto id = retire(key);
    if (id) release_retired(*id);
    return id;
  }

  /// Removes `key` but keeps its id out of reuse until `release_retired(id)`: for an index whose
  /// readers may still reach the id (HNSW tombstones). Returns the former id, or nullopt when absent.
  std::optional<Id> retire(KeyView key) {
    if (table_.empty()) return std::nullopt;
    for (std::size_t at = home(key);; at = next(at)) {
      const Id id = table_[at];
      if (id == kInvalidId) return std::nullopt;
      if (this->key(id) != key) continue;
      erase_at(at);
      Slot& s = slot(id);
      drop_long_key(s);
      s = Slot{};
      s.b[0] = kRetired;
      --live_;
      return id;
    }
  }

  /// Makes a retired id available for reuse.
  void release_retired(Id id) noexcept {
    Slot& s = slot(id);
    s = Slot{};
    set_link(s, free_head_);
    free_head_ = id;
    ++free_;
  }

  /// The id the next `insert` will hand out.
  Id next_id() const noexcept { return free_head_ != kInvalidId ? free_head_ : static_cast<Id>(bound_); }

  /// Key of a live id; valid until that key is erased.
  KeyView key(Id id) const noexcept {
    const Slot& s = slot(id);
    const auto tag = static_cast<unsigned char>(s.b[0]);
    if (tag == kLong) {
      std::uint32_t index;
      std::memcpy(&index, s.b + 1, sizeof index);
      const char* p = long_keys_[index];
      std::uint32_t len;
      std::memcpy(&len, p, sizeof len);
      return {p + sizeof len, len};
    }
    return {s.b + 1, tag >= kInlineBase && tag <= kInlineBase + kInline ? tag - kInlineBase : 0u};
  }
  /// True when `id` currently names a key.
  bool is_live(Id id) const noexcept {
    if (id >= bound_) return false;
    const auto tag = static_cast<unsigned char>(slot(id).b[0]);
    return tag >= kInlineBase && tag <= kLong;
  }
  /// Number of live keys.
  std::size_t size() const noexcept { return live_; }
  /// One past the highest id ever handed out (ids below it may be free or retired).
  std::size_t id_bound() const noexcept { return bound_; }
  /// Number of freed ids waiting for reuse.
  std::size_t free_count() const noexcept { return free_; }
  /// Freed ids, in the order they will be reused (first first). For diagnostics and tests.
  std::vector<Id> free_ids() const {
    std::vector<Id> out;
    for (Id id = free_head_; id != kInvalidId; id = link_of(slot(id))) out.push_back(id);
    return out;
  }

  /// Heap bytes held: id slots, the hash table, and long keys (with an allocator overhead
  /// estimate of 16 bytes each).
  std::size_t memory_bytes() const noexcept {
    return chunks_.size() * kChunk * sizeof(Slot) + chunks_.capacity() * sizeof(void*) +
           table_.capacity() * sizeof(Id) + long_keys_.capacity() * sizeof(char*) +
           long_bytes_ + (long_keys_.size() - long_free_.size()) * (sizeof(std::uint32_t) + 16) +
           long_free_.capacity() * sizeof(std::uint32_t);
  }

  /// Moves every live id at or above size() into a free id below it, calling
  /// `relocate(from, to)` for each move so the owner can move its per-id data, then forgets all free
  /// ids: afterwards the ids are exactly 0..size()-1. Retired ids must have been released first.
  /// Returns the number of moves.
  template <class Relocate>
  std::size_t compact(Relocate&& relocate) {
    const std::size_t n = live_;
    std::vector<Id> holes;
    for (Id id : free_ids())
      if (id < n) holes.push_back(id);
    std::size_t moves = 0;
    for (std::size_t from = n; from < bound_; ++from) {
      if (!is_live(static_cast<Id>(from))) continue;
      const Id to = holes.back();
      holes.pop_back();
      relocate(static_cast<Id>(from), to);
      const std::size_t at = position_of(static_cast<Id>(from));
      slot(to) = slot(static_cast<Id>(from));
      table_[at] = to;
      ++moves;
    }
    bound_ = n;
    free_head_ = kInvalidId;
    free_ = 0;
    chunks_.resize((bound_ + kChunk - 1) / kChunk);
    chunks_.shrink_to_fit();
    return moves;
  }

  /// Removes every key.
  void clear() noexcept {
    release_long_keys();
    decltype(chunks_)().swap(chunks_);
    decltype(table_)().swap(table_);
    decltype(long_keys_)().swap(long_keys_);
    decltype(long_free_)().swap(long_free_);
    bound_ = live_ = free_ = long_bytes_ = 0;
    free_head_ = kInvalidId;
  }

 private:
  // Slot byte 0 is the tag: 0 free (bytes 1-4: next free id), 1..8 inline key of length tag-1 in
  // bytes 1-7, 9 long key (bytes 1-4: index into long_keys_), 10 retired.
  struct alignas(8) Slot {
    char b[8] = {};
  };
  static constexpr unsigned kInlineBase = 1;
  static constexpr std::size_t kInline = 7;
  static constexpr unsigned char kLong = 9;
  static constexpr unsigned char kRetired = 10;
  static constexpr std::size_t kChunk = 1024;

  Slot& slot(Id id) noexcept { return chunks_[id / kChunk][id % kChunk]; }
  const Slot& slot(Id id) const noexcept { return chunks_[id / kChunk][id % kChunk]; }

  static Id link_of(const Slot& s) noexcept {
    Id next;
    std::memcpy(&next, s.b + 1, sizeof next);
    return next;
  }
  static void set_link(Slot& s, Id next) noexcept { std::memcpy(s.b + 1, &next, sizeof next); }

  // Table sizes grow in steps of 1/16 of a power of two (16, 17, 18, … 32, 34, …) up to 15/16 full,
  // so the table costs ~4.4 bytes per key instead of 5.2-9.1 with doubling. Long probe runs near
  // full load cost only key comparisons on the write path; searches never use this table.
  // A key's home is a multiply-shift of its hash onto [0, size).
  std::size_t next(std::size_t at) const noexcept { return at + 1 == table_.size() ? 0 : at + 1; }
  std::size_t distance(std::size_t from, std::size_t to) const noexcept {
    return to >= from ? to - from : to + table_.size() - from;
  }
  std::size_t home(KeyView key) const noexcept {
    const auto h = static_cast<std::uint64_t>(std::hash<KeyView>{}(key));
    const std::uint64_t mixed = (h ^ (h >> 32)) & 0xffffffffu;
    return static_cast<std::size_t>((mixed * table_.size()) >> 32);
  }
  static std::size_t grown(std::size_t size) noexcept {
    std::size_t power = 16;
    while (power * 2 <= size) power *= 2;
    return size + power / 16;
  }

  void reserve_ids(std::size_t ids) {
    while (chunks_.size() * kChunk < ids) chunks_.push_back(std::make_unique<Slot[]>(kChunk));
  }

  void reserve_table(std::size_t keys) {
    std::size_t size = table_.empty() ? 16 : table_.size();
    while (keys * 16 > size * 15) size = grown(size);
    if (size == table_.size()) return;
    std::vector<Id> fresh(size, kInvalidId);
    fresh.swap(table_);
    for (Id id : fresh)
      if (id != kInvalidId) place(id, key(id));
  }

  void place(Id id, KeyView key) noexcept {
    std::size_t at = home(key);
    while (table_[at] != kInvalidId) at = next(at);
    table_[at] = id;
  }

  std::size_t position_of(Id id) const noexcept {
    for (std::size_t at = home(key(id));; at = next(at))
      if (table_[at] == id) return at;
  }

  // Linear-probing deletion by backward shift: no tombstones in the table.
  void erase_at(std::size_t hole) noexcept {
    std::size_t at = hole;
    for (;;) {
      at = next(at);
      const Id id = table_[at];
      if (id == kInvalidId) break;
      const std::size_t want = home(key(id));
      if (distance(want, at) >= distance(hole, at)) {
        table_[hole] = id;
        hole = at;
      }
    }
    table_[hole] = kInvalidId;
  }

  void drop_long_key(const Slot& s) noexcept {
    if (static_cast<unsigned char>(s.b[0]) != kLong) return;
    std::uint32_t index;
    std::memcpy(&index, s.b + 1, sizeof index);
    std::uint32_t len;
    std::memcpy(&len, long_keys_[index], sizeof len);
    long_bytes_ -= len;
    delete[] long_keys_[index];
    long_keys_[index] = nullptr;
    long_free_.push_back(index);  // capacity reserved by insert()
  }

  void release_long_keys() noexcept {
    for (char* p : long_keys_) delete[] p;
  }

  std::vector<std::unique_ptr<Slot[]>> chunks_;
  std::vector<Id> table_;           // key → id, open addressing; kInvalidId marks an empty entry
  std::vector<char*> long_keys_;    // [u32 length][bytes] of keys longer than 7 bytes
  std::vector<std::uint32_t> long_free_;  // indices of long_keys_ free for reuse
  std::size_t bound_ = 0;
  std::size_t live_ = 0;
  std::size_t free_ = 0;
  std::size_t long_bytes_ = 0;
  Id free_head_ = kInvalidId;
};

}  // namespace vindex
