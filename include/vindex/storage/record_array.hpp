// vindex/storage/record_array.hpp — fixed-size records addressed by id, in blocks that never move,
// with every block's address cached in one plain array: finding a record in a hot loop is a shift,
// a load and a multiply-add (a divide when the block size is not a power of two).
//
// `RecordArray` is the record addressing of an index whose nodes are byte records (HnswIndex: a
// vector and its layer-0 list per node). It keeps a BlockArray<std::byte> (storage/block_array.hpp)
// for the blocks and a vector of their addresses, both from the given memory resource, and grows the
// two together with the strong guarantee: a Growth that is not committed gives back every block and
// byte it took and leaves the addresses as they were. Thread-safety: none of its own; record() is
// safe from any number of readers while no one grows or shrinks the array (the owner's locks).
// Next: storage/key_map.hpp.
#pragma once

#include <cstddef>
#include <memory_resource>
#include <optional>
#include <utility>
#include <vector>

#include "vindex/storage/block_array.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex {

/// Records of `record_bytes` bytes each, `block_slots` to a block, addressed by slot number.
class RecordArray {
 public:
  /// No record yet (allocates nothing). `memory`: where blocks and addresses come from (null:
  /// operator new); it must outlive the array. `huge_pages`: the huge pages inside blocks of 2 MiB or
  /// more are advised as such (BlockArray).
  RecordArray(std::size_t record_bytes, std::size_t block_slots, std::pmr::memory_resource* memory,
              bool huge_pages = false)
      : record_bytes_(record_bytes),
        block_slots_(block_slots),
        records_(record_bytes, block_slots, memory, huge_pages),
        addresses_(memory ? memory : std::pmr::new_delete_resource()) {
    if ((block_slots & (block_slots - 1)) == 0) {
      shift_ = 0;
      while ((std::size_t{1} << shift_) < block_slots) ++shift_;
    }
  }
  RecordArray(const RecordArray&) = delete;
  RecordArray& operator=(const RecordArray&) = delete;

  /// The record in slot `i` (which must exist: i < capacity_slots()).
  std::byte* record(std::size_t i) const noexcept {
    if (shift_ != kNoShift) return addresses_[i >> shift_] + (i & ((std::size_t{1} << shift_) - 1)) * record_bytes_;
    return addresses_[i / block_slots_] + (i % block_slots_) * record_bytes_;
  }

  /// Whether the huge pages inside blocks are advised as such (BlockArray::huge_page_blocks).
  bool huge_page_blocks() const noexcept { return records_.huge_page_blocks(); }
  /// The block holding slot `i` (which must exist).
  const std::byte* block_of(std::size_t i) const noexcept { return records_.block(i / block_slots_); }

  /// Bytes per record.
  std::size_t record_bytes() const noexcept { return record_bytes_; }
  /// Slots that exist (whole blocks).
  std::size_t capacity_slots() const noexcept { return records_.capacity_slots(); }
  /// Bytes held from the memory resource: blocks, their directory and the address cache.
  std::size_t memory_bytes() const noexcept {
    return records_.memory_bytes() + addresses_.capacity() * sizeof(std::byte*);
  }

  /// Growth for one change that may still fail (see grow): unless committed, its destruction gives
  /// back the blocks and the room for addresses it took, leaving the array as before. Only the
  /// array's owner, excluding readers, may let one roll back.
  class [[nodiscard]] Growth {
   public:
    /// No growth.
    Growth() = default;
    /// Takes over `other`'s growth.
    Growth(Growth&& other) noexcept
        : addresses_(std::move(other.addresses_)),
          blocks_(std::move(other.blocks_)),
          owner_(std::exchange(other.owner_, nullptr)) {
      other.addresses_.reset();
    }
    Growth& operator=(Growth&&) = delete;
    /// Undoes the growth unless committed.
    ~Growth() {
      if (!owner_) return;
      blocks_ = {};             // frees the new blocks
      owner_->refresh();        // back to the old addresses, within the old capacity
    }                           // then addresses_ puts the old buffer back
    /// Keeps the growth.
    void commit() noexcept {
      blocks_.commit();
      if (addresses_) addresses_->commit();
      owner_ = nullptr;
    }

   private:
    friend class RecordArray;
    std::optional<GrowGuard<std::pmr::vector<std::byte*>>> addresses_;
    BlockArray<std::byte>::Growth blocks_;
    RecordArray* owner_ = nullptr;
  };

  /// Makes slots [0, slots) exist: whole blocks, only as many as that takes. On failure
  /// (std::bad_alloc, MemoryLimitExceeded) nothing changes and nothing stays allocated.
  Growth grow(std::size_t slots) {
    Growth g;
    if (slots <= records_.capacity_slots()) return g;
    g.addresses_.emplace(addresses_, (slots + block_slots_ - 1) / block_slots_);
    g.owner_ = this;
    g.blocks_ = records_.grow(slots);
    refresh();
    return g;
  }

  /// Frees the blocks past those slots [0, slots) need (their records are gone).
  void shrink_slots(std::size_t slots) noexcept {
    records_.shrink_slots(slots);
    refresh();
  }

  /// Exchanges contents (records, sizes and blocks) with `other`, which must draw on the same
  /// memory resource.
  void swap(RecordArray& other) noexcept {
    std::swap(record_bytes_, other.record_bytes_);
    std::swap(block_slots_, other.block_slots_);
    std::swap(shift_, other.shift_);
    BlockArray<std::byte> mine(std::move(records_));
    records_ = std::move(other.records_);
    other.records_ = std::move(mine);
    addresses_.swap(other.addresses_);
  }

  /// Frees every block and the address cache.
  void clear() noexcept {
    records_.shrink_slots(0);
    decltype(addresses_)(addresses_.get_allocator()).swap(addresses_);
  }

 private:
  // Re-reads the block addresses (after growing or shrinking); never grows past the capacity
  // reserved for them.
  void refresh() noexcept {
    addresses_.resize(records_.block_count());
    for (std::size_t b = 0; b < addresses_.size(); ++b) addresses_[b] = const_cast<std::byte*>(records_.block(b));
  }

  static constexpr unsigned kNoShift = ~0u;

  std::size_t record_bytes_;
  std::size_t block_slots_;
  unsigned shift_ = kNoShift;
  BlockArray<std::byte> records_;
  std::pmr::vector<std::byte*> addresses_;
};

}  // namespace vindex
