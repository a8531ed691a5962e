// vindex/storage/upper_links.hpp — neighbour lists of the upper HNSW layers, stored sparsely.
//
// Only about one node in M reaches layer 1 and above, so giving every node a pointer to its upper
// lists would cost more than the lists themselves. `UpperLinks` keeps one fixed-size list of M ids per
// (node, layer ≥ 1) in pointer-stable blocks and finds it through a small open-addressing table keyed
// by (id, layer). A list holds up to M ids; unused entries are kInvalidId. Memory comes from a memory
// resource (core/memory.hpp); `reserve` is strong and exact, and `grow` returns a guard that gives
// back what it reserved unless committed, for a change that may still fail elsewhere. Not
// synchronised: the owning index excludes writers from readers. Next: index/vector_index.hpp.
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"
#include "vindex/storage/block_array.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex {

/// Sparse storage of the layer ≥ 1 neighbour lists of an HNSW graph.
class UpperLinks {
 public:
  /// Highest layer a node may have.
  static constexpr unsigned kMaxLevel = 63;

  /// Lists of `m` ids each, allocated `block_slots` lists at a time from `memory` (null: operator new).
  UpperLinks(std::size_t m, std::size_t block_slots, std::pmr::memory_resource* memory = nullptr)
      : m_(m), lists_(m, block_slots, memory), table_(resource_or_default(memory)) {}

  /// Number of layers above 0 that `id` has (0 for a layer-0-only node).
  unsigned levels(Id id) const noexcept {
    unsigned l = 0;
    while (l < kMaxLevel && find(id, l + 1) != kNone) ++l;
    return l;
  }

  /// The list of `id` at `level` (1..levels(id)), or nullptr when the node has no such layer.
  Id* links(Id id, unsigned level) noexcept {
    const std::size_t at = find(id, level);
    return at == kNone ? nullptr : lists_.slot(slot_of(table_[at]));
  }
  /// Read-only list of `id` at `level`, or nullptr.
  const Id* links(Id id, unsigned level) const noexcept {
    return const_cast<UpperLinks*>(this)->links(id, level);
  }

  /// Room reserved by grow(): unless commit() is called, its destruction gives back the list blocks
  /// and the larger table it took (the lists must not have been added to in between).
  class [[nodiscard]] Growth {
   public:
    /// No growth.
    Growth() = default;
    /// Takes over `other`'s growth.
    Growth(Growth&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), lists_(std::move(other.lists_)), old_table_(std::move(other.old_table_)) {
      other.old_table_.reset();
    }
    Growth& operator=(Growth&&) = delete;
    /// Gives the room back unless committed.
    ~Growth() {
      if (owner_ && old_table_) {
        owner_->table_.swap(*old_table_);  // old_table_ now holds the larger one, freed with it
      }
    }
    /// Keeps the room.
    void commit() noexcept {
      lists_.commit();
      old_table_.reset();
      owner_ = nullptr;
    }

   private:
    friend class UpperLinks;
    UpperLinks* owner_ = nullptr;
    BlockArray<Id>::Growth lists_;
    std::optional<std::pmr::vector<std::uint64_t>> old_table_;
  };

  /// Makes room so that `add(id, levels)` for `levels` new layers cannot throw. On failure nothing
  /// changes and nothing stays allocated.
  void reserve(unsigned levels) { grow(levels).commit(); }

  /// reserve(levels) as one step of a larger change: see Growth.
  Growth grow(std::size_t levels) {
    Growth g;
    if (levels == 0) return g;
    if (next_slot_ + levels > kMaxSlots)
      throw Error(ErrorCode::kInvalidArgument, "index is full: too many upper-layer lists");
    g.lists_ = lists_.grow(next_slot_ + levels);
    std::size_t size = std::max<std::size_t>(16, table_.size());
    while ((count_ + levels) * 8 > size * 7) size *= 2;
    if (size != table_.size()) {
      std::pmr::vector<std::uint64_t> fresh(size, 0, table_.get_allocator());
      fresh.swap(table_);
      for (std::uint64_t e : fresh)
        if (e != 0) place(e);
      g.old_table_.emplace(std::move(fresh));
      g.owner_ = this;
    }
    return g;
  }

  /// Gives `id` (which has none) empty lists for layers 1..levels. Call `reserve(levels)` first.
  void add(Id id, unsigned levels) noexcept {
    for (unsigned l = 1; l <= levels; ++l) {
      std::uint32_t slot;
      if (free_head_ != kNoSlot) {
        slot = free_head_;
        free_head_ = lists_.slot(slot)[0];
      } else {
        slot = next_slot_++;
      }
      Id* list = lists_.slot(slot);
      for (std::size_t i = 0; i < m_; ++i) list[i] = kInvalidId;
      place(pack(id, l, slot));
      ++count_;
    }
  }

  /// Drops every upper list of `id`; the list slots are reused by later `add` calls.
  void remove(Id id) noexcept {
    for (unsigned l = 1; l <= kMaxLevel; ++l) {
      const std::size_t at = find(id, l);
      if (at == kNone) return;
      const std::uint32_t slot = slot_of(table_[at]);
      lists_.slot(slot)[0] = free_head_;  // a free list slot holds the next free slot
      free_head_ = slot;
      erase_at(at);
      --count_;
    }
  }

  /// Moves the lists of `from` (with their contents) to `to`, which must have none.
  void rename(Id from, Id to) noexcept {
    for (unsigned l = 1; l <= kMaxLevel; ++l) {
      const std::size_t at = find(from, l);
      if (at == kNone) return;
      const std::uint32_t slot = slot_of(table_[at]);
      erase_at(at);
      place(pack(to, l, slot));
    }
  }

  /// Calls `visit(id, levels)` for every node with upper layers, in table order.
  template <class Visit>
  void for_each_node(Visit&& visit) const {
    for (std::uint64_t e : table_)
      if (e != 0 && level_of(e) == 1) visit(id_of(e), levels(id_of(e)));
  }

  /// Number of (node, layer) lists held.
  std::size_t list_count() const noexcept { return count_; }
  /// Bytes taken from the memory resource by lists and table. Exact.
  std::size_t memory_bytes() const noexcept {
    return lists_.memory_bytes() + table_.capacity() * sizeof(std::uint64_t);
  }
  /// Bytes one list takes.
  std::size_t list_bytes() const noexcept { return m_ * sizeof(Id); }

  /// Removes every list and releases storage.
  void clear() noexcept {
    decltype(table_)(table_.get_allocator()).swap(table_);
    free_head_ = kNoSlot;
    lists_.shrink_slots(0);
    next_slot_ = 0;
    count_ = 0;
  }

 private:
  // An entry packs id (bits 0-31), layer (32-37) and list slot + 1 (38-63); 0 marks an empty entry.
  static constexpr std::size_t kNone = SIZE_MAX;
  static constexpr std::uint32_t kMaxSlots = (1u << 26) - 2;
  static constexpr std::uint32_t kNoSlot = ~0u;
  static std::uint64_t pack(Id id, unsigned level, std::uint32_t slot) noexcept {
    return std::uint64_t{id} | (std::uint64_t{level} << 32) | (std::uint64_t{slot + 1} << 38);
  }
  static Id id_of(std::uint64_t e) noexcept { return static_cast<Id>(e); }
  static unsigned level_of(std::uint64_t e) noexcept { return static_cast<unsigned>((e >> 32) & 63); }
  static std::uint32_t slot_of(std::uint64_t e) noexcept { return static_cast<std::uint32_t>(e >> 38) - 1; }
  static std::uint64_t key_of(std::uint64_t e) noexcept { return e & ((std::uint64_t{1} << 38) - 1); }

  std::size_t home(std::uint64_t key) const noexcept {
    std::uint64_t h = key * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return static_cast<std::size_t>(h) & (table_.size() - 1);
  }

  std::size_t find(Id id, unsigned level) const noexcept {
    if (table_.empty()) return kNone;
    const std::uint64_t key = key_of(pack(id, level, 0));
    for (std::size_t at = home(key);; at = (at + 1) & (table_.size() - 1)) {
      const std::uint64_t e = table_[at];
      if (e == 0) return kNone;
      if (key_of(e) == key) return at;
    }
  }

  void place(std::uint64_t entry) noexcept {
    std::size_t at = home(key_of(entry));
    while (table_[at] != 0) at = (at + 1) & (table_.size() - 1);
    table_[at] = entry;
  }

  // Linear-probing deletion by backward shift: no tombstones, lookups stay short.
  void erase_at(std::size_t hole) noexcept {
    const std::size_t mask = table_.size() - 1;
    std::size_t at = hole;
    for (;;) {
      at = (at + 1) & mask;
      const std::uint64_t e = table_[at];
      if (e == 0) break;
      const std::size_t want = home(key_of(e));
      // Move e into the hole when its home is not in the (hole, at] stretch.
      if (((at - want) & mask) >= ((at - hole) & mask)) {
        table_[hole] = e;
        hole = at;
      }
    }
    table_[hole] = 0;
  }

  std::size_t m_;
  BlockArray<Id> lists_;
  std::pmr::vector<std::uint64_t> table_;
  std::uint32_t free_head_ = kNoSlot;  // first free list slot; each holds the next in its entry 0
  std::uint32_t next_slot_ = 0;
  std::size_t count_ = 0;
};

}  // namespace vindex
