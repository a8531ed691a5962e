// vindex/storage/key_map.hpp — binary-safe keys mapped to dense, reusable ids, compactly.
//
// `KeyMap` hands out ids for new keys (erased ids are reused, most recently freed first), remembers
// each id's key, and tells which ids are live. It is built to cost little per key, since it sits next
// to every vector: each id has one 8-byte slot that holds a key of up to 7 bytes inline (longer keys
// live in their own allocation), its state (live, retired, free) and, for a free id, the link to the
// next free one; the key → id direction is an open-addressing table of 4-byte ids. Slots come in
// blocks of 1024 that never move, so a KeyView of a live key stays valid until that key is erased.
//
// Memory comes from a memory resource (core/memory.hpp) and memory_bytes() is exactly what it holds.
// An insert is strong and exact: everything it needs (a larger table, an id block, the long key's copy,
// room in the long-key lists) is allocated into an `Insertion` before anything changes, so a failure
// changes nothing and gives everything back. A caller whose change spans several structures takes the
// Insertion ahead (`prepare`), allocates the rest, then inserts without failing. `reserve` makes room
// for a whole batch, after which inserts with keys copied ahead (`copy_key`) allocate nothing.
// Not synchronised: the index that owns it serialises writers and excludes them from readers.
// Next: storage/visited_set.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/types.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex {

/// Two-way map between keys and dense ids, with free-id reuse.
class KeyMap {
  struct Slot;

 public:
  /// An empty map taking memory from `memory` (null: operator new).
  explicit KeyMap(std::pmr::memory_resource* memory = nullptr)
      : memory_(resource_or_default(memory)), chunks_(memory_), table_(memory_), long_keys_(memory_), long_free_(memory_) {}
  KeyMap(const KeyMap&) = delete;
  KeyMap& operator=(const KeyMap&) = delete;
  /// Takes over `other`'s keys; `other` is left empty.
  KeyMap(KeyMap&& other) noexcept
      : memory_(other.memory_),
        chunks_(std::move(other.chunks_)),
        table_(std::move(other.table_)),
        long_keys_(std::move(other.long_keys_)),
        long_free_(std::move(other.long_free_)),
        bound_(std::exchange(other.bound_, 0)),
        live_(std::exchange(other.live_, 0)),
        free_(std::exchange(other.free_, 0)),
        long_bytes_(std::exchange(other.long_bytes_, 0)),
        free_head_(std::exchange(other.free_head_, kInvalidId)) {
    other.chunks_.clear();
    other.table_.clear();
    other.long_keys_.clear();
    other.long_free_.clear();
  }
  KeyMap& operator=(KeyMap&&) = delete;
  ~KeyMap() { release(); }

  /// What one insert needs, allocated ahead and held until it is used (insert, reinsert) or dropped
  /// (which frees it). Move-only.
  class Insertion {
   public:
    /// Holds nothing (an insert given it allocates what it needs).
    Insertion() = default;
    /// Takes over what `other` holds.
    Insertion(Insertion&& other) noexcept
        : memory_(other.memory_),
          table_(std::move(other.table_)),
          chunks_(std::move(other.chunks_)),
          new_chunks_(std::move(other.new_chunks_)),
          long_keys_(std::move(other.long_keys_)),
          long_free_(std::move(other.long_free_)),
          long_key_(std::exchange(other.long_key_, nullptr)),
          long_key_bytes_(std::exchange(other.long_key_bytes_, 0)) {
      other.new_chunks_.clear();
    }
    /// Frees what this holds and takes over what `other` holds.
    Insertion& operator=(Insertion&& other) noexcept {
      if (this != &other) {
        this->~Insertion();
        ::new (this) Insertion(std::move(other));
      }
      return *this;
    }
    Insertion(const Insertion&) = delete;
    Insertion& operator=(const Insertion&) = delete;
    /// Frees what was not used.
    ~Insertion() {
      for (Slot* chunk : new_chunks_) free_chunk(memory_, chunk);
      if (long_key_) memory_->deallocate(long_key_, long_key_bytes_, alignof(std::uint32_t));
    }

   private:
    friend class KeyMap;
    explicit Insertion(std::pmr::memory_resource* memory)
        : memory_(memory), table_(memory), chunks_(memory), new_chunks_(memory), long_keys_(memory), long_free_(memory) {}
    std::pmr::memory_resource* memory_ = nullptr;
    std::pmr::vector<Id> table_;                 // a larger table to rehash into, or empty
    std::pmr::vector<Slot*> chunks_;             // room for a larger chunk list (capacity only), or none
    std::pmr::vector<Slot*> new_chunks_;         // id blocks to add
    std::pmr::vector<char*> long_keys_;          // room for a larger long-key list (capacity only)
    std::pmr::vector<std::uint32_t> long_free_;  // room for a larger free list (capacity only)
    char* long_key_ = nullptr;                   // [u32 length][bytes] of a long key
    std::size_t long_key_bytes_ = 0;
  };

  /// True when `key` is short enough (7 bytes) to live in its id's slot, needing no allocation of its own.
  static constexpr bool stored_inline(KeyView key) noexcept { return key.size() <= kInline; }

  /// Id of `key`, or nullopt when absent.
  std::optional<Id> find(KeyView key) const {
    if (table_.empty()) return std::nullopt;
    for (std::size_t at = home(key);; at = next(at)) {
      const Id id = table_[at];
      if (id == kInvalidId) return std::nullopt;
      if (this->key(id) == key) return id;
    }
  }

  /// Makes room for `keys` live keys, ids below `ids` and `long_keys` more keys longer than 7 bytes,
  /// so that inserts up to those counts, of keys copied ahead with copy_key, allocate nothing (the
  /// table otherwise grows by 1/16 at a time, rehashing each time). On failure nothing changes and
  /// nothing stays allocated.
  void reserve(std::size_t keys, std::size_t ids = 0, std::size_t long_keys = 0) {
    Insertion room(memory_);
    plan_table(room, keys);
    plan_ids(room, ids);
    if (long_keys > 0) {  // geometric, so that a reserve per small batch stays amortised O(1)
      const std::size_t count = long_keys_.size() + long_keys;
      if (count > long_keys_.capacity()) room.long_keys_.reserve(grown_capacity(long_keys_.capacity(), count));
      if (count > long_free_.capacity()) room.long_free_.reserve(grown_capacity(long_free_.capacity(), count));
    }
    apply(room);
  }

  /// Everything inserting `key` (absent) will need, allocated now; nothing changes. Use it with
  /// insert(key, …) before any other insert; retire() and erase() of other keys may come between.
  /// Throws std::bad_alloc / MemoryLimitExceeded, or kInvalidArgument when the map is full.
  Insertion prepare(KeyView key) {
    Insertion room = copy_key(key);
    plan_table(room, live_ + 1);
    if (free_head_ == kInvalidId) plan_ids(room, bound_ + 1);
    if (key.size() > kInline) {
      const std::size_t count = long_free_.empty() ? long_keys_.size() + 1 : long_keys_.size();
      if (count > long_keys_.capacity()) room.long_keys_.reserve(grown_capacity(long_keys_.capacity(), count));
      if (count > long_free_.capacity()) room.long_free_.reserve(grown_capacity(long_free_.capacity(), count));
    }
    return room;
  }

  /// What reinsert(key) will need (an id block), allocated now; nothing changes.
  Insertion prepare_move() {
    Insertion room(memory_);
    if (free_head_ == kInvalidId) plan_ids(room, bound_ + 1);
    return room;
  }

  /// Only the copy of `key` an insert needs when it is longer than 7 bytes (else nothing): for inserts
  /// after reserve(), which made room for the rest.
  Insertion copy_key(KeyView key) {
    const bool fresh = free_head_ == kInvalidId;
    if (fresh && bound_ >= kInvalidId - 1)
      throw Error(ErrorCode::kInvalidArgument, "index is full (2^32 - 2 entries)");
    Insertion room(memory_);
    if (key.size() > kInline) {
      room.long_key_bytes_ = sizeof(std::uint32_t) + key.size();
      room.long_key_ = static_cast<char*>(memory_->allocate(room.long_key_bytes_, alignof(std::uint32_t)));
      const auto len = static_cast<std::uint32_t>(key.size());
      std::memcpy(room.long_key_, &len, sizeof len);
      std::memcpy(room.long_key_ + sizeof len, key.data(), key.size());
    }
    return room;
  }

  /// Assigns an id to a new key (which must be absent), reusing a freed id when there is one.
  /// Strong and exact: on failure (out of memory, a memory limit, 2^32 - 1 ids) nothing changes and
  /// nothing stays allocated.
  Id insert(KeyView key) { return insert(key, prepare(key)); }

  /// insert(key) with what `room` holds (from prepare(key), or copy_key(key) after reserve()):
  /// allocates nothing when `room` was made for this insert, so it cannot fail then.
  Id insert(KeyView key, Insertion&& room) {
    if (free_head_ == kInvalidId && bound_ >= kInvalidId - 1)
      throw Error(ErrorCode::kInvalidArgument, "index is full (2^32 - 2 entries)");
    if (room.memory_ != memory_) room = Insertion(memory_);  // a default one: its buffers come from here
    const bool is_long = key.size() > kInline;
    if (is_long && !room.long_key_) {
      Insertion copy = copy_key(key);
      room.long_key_ = std::exchange(copy.long_key_, nullptr);
      room.long_key_bytes_ = copy.long_key_bytes_;
    }
    // Fallbacks for a room made for another state (they allocate; a prepared room needs none).
    if ((live_ + 1) * 16 > table_.size() * 15 && room.table_.empty()) plan_table(room, live_ + 1);
    if (free_head_ == kInvalidId && bound_ + 1 > chunks_.size() * kChunk && room.new_chunks_.empty())
      plan_ids(room, bound_ + 1);
    if (is_long) {
      const std::size_t count = long_free_.empty() ? long_keys_.size() + 1 : long_keys_.size();
      if (count > long_keys_.capacity() && room.long_keys_.capacity() < count)
        room.long_keys_.reserve(grown_capacity(long_keys_.capacity(), count));
      if (count > long_free_.capacity() && room.long_free_.capacity() < count)
        room.long_free_.reserve(grown_capacity(long_free_.capacity(), count));
    }
    // Nothing below throws.
    apply(room);
    Id id;
    if (free_head_ == kInvalidId) {
      id = static_cast<Id>(bound_++);
    } else {
      id = free_head_;
      free_head_ = link_of(slot(id));
      --free_;
    }
    Slot& s = slot(id);
    s = Slot{};
    if (is_long) {
      s.b[0] = kLong;
      std::uint32_t index;
      if (!long_free_.empty()) {
        index = long_free_.back();
        long_free_.pop_back();
        long_keys_[index] = std::exchange(room.long_key_, nullptr);
      } else {
        index = static_cast<std::uint32_t>(long_keys_.size());
        long_keys_.push_back(std::exchange(room.long_key_, nullptr));
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

  /// Moves `key` (which must be present) to the id the next insert would get, retiring its old id
  /// (kept out of reuse until release_retired): for an index whose readers may still reach the old
  /// id. Uses `room` from prepare_move(); the key's bytes are not copied. Returns {old id, new id}.
  std::pair<Id, Id> reinsert(KeyView key, Insertion&& room) {
    if (room.memory_ != memory_) room = Insertion(memory_);
    if (free_head_ == kInvalidId && bound_ + 1 > chunks_.size() * kChunk && room.new_chunks_.empty())
      plan_ids(room, bound_ + 1);
    apply(room);
    std::size_t at = home(key);
    while (this->key(table_[at]) != key) at = next(at);
    const Id old = table_[at];
    Id id;
    if (free_head_ == kInvalidId) {
      id = static_cast<Id>(bound_++);
    } else {
      id = free_head_;
      free_head_ = link_of(slot(id));
      --free_;
    }
    slot(id) = slot(old);
    table_[at] = id;
    Slot& s = slot(old);
    s = Slot{};
    s.b[0] = kRetired;
    return {old, id};
  }

  /// Inserts a new key (which must be absent) at exactly `id`, which must be at or above id_bound();
  /// the ids skipped over become free. For restoring a saved index whose ids have holes.
  void insert_at(Id id, KeyView key) {
    if (id < bound_ || id >= kInvalidId - 1)
      throw Error(ErrorCode::kInvalidArgument, "insert_at: id " + std::to_string(id) + " is taken");
    Insertion room = prepare(key);
    plan_ids(room, std::size_t{id} + 1);
    apply(room);
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
      insert(key, std::move(room));
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

  /// Bytes taken from the memory resource: id slots, the chunk list, the hash table, long keys
  /// (4 + length bytes each) and the long-key lists. Exact.
  std::size_t memory_bytes() const noexcept {
    return chunks_.size() * kChunk * sizeof(Slot) + chunks_.capacity() * sizeof(Slot*) +
           table_.capacity() * sizeof(Id) + long_keys_.capacity() * sizeof(char*) + long_bytes_ +
           (long_keys_.size() - long_free_.size()) * sizeof(std::uint32_t) +
           long_free_.capacity() * sizeof(std::uint32_t);
  }
  /// The memory resource.
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_; }

  /// Moves every live id at or above size() into a free id below it, calling
  /// `relocate(from, to)` for each move so the owner can move its per-id data, then forgets all free
  /// ids: afterwards the ids are exactly 0..size()-1, and the id blocks above them are released.
  /// Retired ids must have been released first. Returns the number of moves.
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
    const std::size_t chunks = (bound_ + kChunk - 1) / kChunk;
    while (chunks_.size() > chunks) {
      free_chunk(memory_, chunks_.back());
      chunks_.pop_back();
    }
    chunks_.shrink_to_fit();  // never throws: libstdc++ keeps the buffer when it cannot allocate
    return moves;
  }

  /// Removes every key and releases all memory.
  void clear() noexcept {
    release();
    decltype(chunks_)(memory_).swap(chunks_);
    decltype(table_)(memory_).swap(table_);
    decltype(long_keys_)(memory_).swap(long_keys_);
    decltype(long_free_)(memory_).swap(long_free_);
    bound_ = live_ = free_ = long_bytes_ = 0;
    free_head_ = kInvalidId;
  }

 private:
  // Slot byte 0 is the tag: 0 free (bytes 1-4: next free id), 1..8 inline key of length tag-1 in
  // bytes 1-7, 9 long key (bytes 1-4: index into long_keys_), 10 retired.
  struct alignas(8) Slot {
    char b[8];
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

  static std::size_t grown_capacity(std::size_t capacity, std::size_t wanted) noexcept {
    return std::max({wanted, 2 * capacity, std::size_t{8}});
  }

  static Slot* allocate_chunk(std::pmr::memory_resource* memory) {
    auto* chunk = static_cast<Slot*>(memory->allocate(kChunk * sizeof(Slot), alignof(Slot)));
    std::memset(static_cast<void*>(chunk), 0, kChunk * sizeof(Slot));
    return chunk;
  }
  static void free_chunk(std::pmr::memory_resource* memory, Slot* chunk) noexcept {
    memory->deallocate(chunk, kChunk * sizeof(Slot), alignof(Slot));
  }

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

  // Plans a table for `keys` live keys into room.table_ (allocated, all empty), when this one is small.
  void plan_table(Insertion& room, std::size_t keys) const {
    std::size_t size = table_.empty() ? 16 : table_.size();
    while (keys * 16 > size * 15) size = grown(size);
    if (size != table_.size() && size > room.table_.size()) room.table_.assign(size, kInvalidId);
  }
  // Plans id blocks so that ids below `ids` have slots: the blocks, and room in the chunk list.
  void plan_ids(Insertion& room, std::size_t ids) const {
    const std::size_t chunks = (ids + kChunk - 1) / kChunk;
    if (chunks <= chunks_.size()) return;
    if (chunks > chunks_.capacity()) room.chunks_.reserve(grown_capacity(chunks_.capacity(), chunks));
    room.new_chunks_.reserve(chunks - chunks_.size());
    while (chunks_.size() + room.new_chunks_.size() < chunks) room.new_chunks_.push_back(allocate_chunk(memory_));
  }

  // Moves what `room` holds into the map. Never throws: every buffer it fills was allocated ahead.
  // Moves what `room` holds (but its long key) into the map and frees the buffers it replaces, leaving
  // `room` empty of them. Never throws: every buffer it fills was allocated ahead.
  void apply(Insertion& room) noexcept {
    if (!room.table_.empty()) {
      table_.swap(room.table_);
      for (Id id : room.table_)
        if (id != kInvalidId) place(id, key(id));
      decltype(table_)(memory_).swap(room.table_);  // frees the old table
    }
    if (room.chunks_.capacity() > chunks_.capacity() && !room.new_chunks_.empty()) {
      room.chunks_.assign(chunks_.begin(), chunks_.end());
      chunks_.swap(room.chunks_);
    }
    decltype(chunks_)(memory_).swap(room.chunks_);
    for (Slot* chunk : room.new_chunks_) chunks_.push_back(chunk);  // within capacity
    room.new_chunks_.clear();
    if (room.long_keys_.capacity() > long_keys_.capacity()) {
      room.long_keys_.assign(long_keys_.begin(), long_keys_.end());
      long_keys_.swap(room.long_keys_);
    }
    decltype(long_keys_)(memory_).swap(room.long_keys_);
    if (room.long_free_.capacity() > long_free_.capacity()) {
      room.long_free_.assign(long_free_.begin(), long_free_.end());
      long_free_.swap(room.long_free_);
    }
    decltype(long_free_)(memory_).swap(room.long_free_);
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
    memory_->deallocate(long_keys_[index], sizeof(std::uint32_t) + len, alignof(std::uint32_t));
    long_keys_[index] = nullptr;
    long_free_.push_back(index);  // capacity reserved by insert()
  }

  // Frees the chunks and long keys (the lists themselves are freed by their destructors or clear()).
  void release() noexcept {
    for (char* p : long_keys_) {
      if (!p) continue;
      std::uint32_t len;
      std::memcpy(&len, p, sizeof len);
      memory_->deallocate(p, sizeof(std::uint32_t) + len, alignof(std::uint32_t));
    }
    for (Slot* chunk : chunks_) free_chunk(memory_, chunk);
    chunks_.clear();
    long_keys_.clear();
  }

  std::pmr::memory_resource* memory_;
  std::pmr::vector<Slot*> chunks_;        // id blocks of kChunk slots, never moved
  std::pmr::vector<Id> table_;            // key → id, open addressing; kInvalidId marks an empty entry
  std::pmr::vector<char*> long_keys_;     // [u32 length][bytes] of keys longer than 7 bytes
  std::pmr::vector<std::uint32_t> long_free_;  // indices of long_keys_ free for reuse
  std::size_t bound_ = 0;
  std::size_t live_ = 0;
  std::size_t free_ = 0;
  std::size_t long_bytes_ = 0;
  Id free_head_ = kInvalidId;
};

}  // namespace vindex
