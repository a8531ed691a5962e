// vindex/storage/block_array.hpp — fixed-size blocks of slots that never move once allocated.
//
// `BlockArray<T>` holds `stride` elements per slot, `block_slots` slots per block, 64-byte aligned,
// taken from a memory resource (core/memory.hpp). Growth adds blocks; existing blocks stay where they
// are, so a pointer to a slot stays valid for the life of the array (readers may hold one while a
// writer grows the array). The block directory is published atomically and replaced directories are
// kept (on a list threaded through them, so keeping one allocates nothing) until the owner shrinks or
// destroys the array, so `slot()` is safe to call concurrently with `reserve_slots()`; writing a slot
// needs the caller's own synchronisation.
//
// Allocation failure: `reserve_slots` allocates every block and directory it needs before it
// publishes any, and frees them all if one fails, so a failed call leaves the array exactly as it was.
// A caller that grows several structures for one change takes a `Growth` guard (`grow()`), which
// gives back what its growth added unless committed. With `huge_pages`, the whole huge pages inside
// each block of at least kHugePageBytes are advised (storage/huge_pages.hpp) before it is zeroed.
// Next: storage/record_array.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "vindex/core/error.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/storage/huge_pages.hpp"

namespace vindex {

/// Pointer-stable, block-allocated storage of `stride` trivially-copyable elements per slot.
template <class T>
class BlockArray {
  static_assert(std::is_trivially_copyable_v<T>, "BlockArray holds trivially copyable elements");
  struct Directory;

 public:
  /// An empty array; `stride` elements per slot, `block_slots` slots per block (both >= 1), memory
  /// from `memory` (null: operator new). With `huge_pages`, the whole huge pages inside each block of
  /// at least kHugePageBytes are advised to the kernel as such (only for memory whose page policy
  /// the caller owns). Throws kInvalidArgument when a block's size overflows.
  BlockArray(std::size_t stride, std::size_t block_slots, std::pmr::memory_resource* memory = nullptr,
             bool huge_pages = false)
      : memory_(resource_or_default(memory)), stride_(stride), block_slots_(block_slots), huge_pages_(huge_pages) {
    if (stride == 0 || block_slots == 0)
      throw Error(ErrorCode::kInvalidArgument, "BlockArray needs stride and block size >= 1");
    if (stride > SIZE_MAX / sizeof(T) / block_slots)
      throw Error(ErrorCode::kInvalidArgument, "block size overflows");
  }
  BlockArray(const BlockArray&) = delete;
  BlockArray& operator=(const BlockArray&) = delete;
  /// Takes over `other`'s blocks; `other` is left empty.
  BlockArray(BlockArray&& other) noexcept { swap(other); }
  /// Frees this array's blocks and takes over `other`'s.
  BlockArray& operator=(BlockArray&& other) noexcept {
    if (this != &other) {
      BlockArray tmp(std::move(other));
      swap(tmp);
    }
    return *this;
  }
  ~BlockArray() { release(); }

  /// Where undo() returns to (see grow()).
  struct Mark {
    std::size_t blocks = 0;
    Directory* directory = nullptr;
  };

  /// Growth for one change that may still fail: `grow(slots)` reserves like reserve_slots, and unless
  /// commit() is called the guard frees on destruction what the growth added (blocks, directory),
  /// leaving the array as before. Only the array's owner, excluding readers of the new blocks and
  /// directory, may let a guard roll back.
  class [[nodiscard]] Growth {
   public:
    /// No growth.
    Growth() = default;
    /// Takes over `other`'s growth.
    Growth(Growth&& other) noexcept : array_(std::exchange(other.array_, nullptr)), mark_(other.mark_) {}
    /// Undoes this growth, then takes over `other`'s.
    Growth& operator=(Growth&& other) noexcept {
      if (this != &other) {
        undo();
        array_ = std::exchange(other.array_, nullptr);
        mark_ = other.mark_;
      }
      return *this;
    }
    /// Undoes the growth unless committed.
    ~Growth() { undo(); }
    /// Keeps the growth.
    void commit() noexcept { array_ = nullptr; }

   private:
    friend class BlockArray;
    Growth(BlockArray* array, Mark mark) noexcept : array_(array), mark_(mark) {}
    void undo() noexcept {
      if (array_) std::exchange(array_, nullptr)->rollback(mark_);
    }
    BlockArray* array_ = nullptr;
    Mark mark_;
  };

  /// Ensures slots [0, slots) exist, adding zero-filled blocks as needed. On failure (std::bad_alloc,
  /// MemoryLimitExceeded) nothing changes and nothing stays allocated.
  void reserve_slots(std::size_t slots) {
    const std::size_t blocks_needed = slots / block_slots_ + (slots % block_slots_ != 0);
    if (blocks_needed <= block_count_) return;
    Directory* fresh = nullptr;
    std::atomic<T*>* target = current_ ? current_->blocks() : nullptr;
    if (blocks_needed > capacity()) {
      std::size_t capacity = this->capacity() ? this->capacity() : 4;
      while (capacity < blocks_needed) capacity *= 2;
      fresh = allocate_directory(capacity);
      for (std::size_t b = 0; b < block_count_; ++b)
        fresh->blocks()[b].store(target[b].load(std::memory_order_relaxed), std::memory_order_relaxed);
      target = fresh->blocks();
    }
    // Blocks beyond block_count_ are not visible to readers yet: fill them in, then publish.
    std::size_t b = block_count_;
    try {
      for (; b < blocks_needed; ++b) target[b].store(allocate_block(), std::memory_order_release);
    } catch (...) {
      while (b-- > block_count_) free_block(target[b].exchange(nullptr, std::memory_order_relaxed));
      if (fresh) free_directory(fresh);
      throw;
    }
    if (fresh) {
      fresh->older = current_;
      current_ = fresh;
      directory_.store(fresh->blocks(), std::memory_order_release);
    }
    block_count_ = blocks_needed;
  }

  /// reserve_slots(slots) as one step of a larger change: see Growth.
  Growth grow(std::size_t slots) {
    const Mark mark{block_count_, current_};
    reserve_slots(slots);
    return Growth(this, mark);
  }

  /// Releases the blocks wholly above slot `slots` and the directories replaced by growth (and with
  /// `slots` 0 the directory itself). Only for an owner with exclusive access: pointers into released
  /// blocks dangle.
  void shrink_slots(std::size_t slots) noexcept {
    const std::size_t blocks_kept = slots / block_slots_ + (slots % block_slots_ != 0);
    while (block_count_ > blocks_kept) {
      --block_count_;
      free_block(current_->blocks()[block_count_].exchange(nullptr));
    }
    if (!current_) return;
    while (Directory* old = current_->older) {
      current_->older = old->older;
      free_directory(old);
    }
    if (block_count_ == 0) {
      free_directory(current_);
      current_ = nullptr;
      directory_.store(nullptr, std::memory_order_release);
    }
  }

  /// Pointer to the first element of slot `i`; `i` must be below `capacity_slots()`.
  T* slot(std::size_t i) noexcept {
    std::atomic<T*>* dir = directory_.load(std::memory_order_acquire);
    return dir[i / block_slots_].load(std::memory_order_acquire) + (i % block_slots_) * stride_;
  }
  /// Read-only pointer to slot `i`.
  const T* slot(std::size_t i) const noexcept { return const_cast<BlockArray*>(this)->slot(i); }

  /// The elements of slot `i` as a span.
  std::span<T> slot_span(std::size_t i) noexcept { return {slot(i), stride_}; }
  /// The elements of slot `i` as a read-only span.
  std::span<const T> slot_span(std::size_t i) const noexcept { return {slot(i), stride_}; }

  /// Pointer to the first slot of block `b` (slots of one block are contiguous).
  const T* block(std::size_t b) const noexcept {
    return directory_.load(std::memory_order_acquire)[b].load(std::memory_order_acquire);
  }

  /// Slots that exist now (a multiple of the block size).
  std::size_t capacity_slots() const noexcept { return block_count_ * block_slots_; }
  /// Number of allocated blocks.
  std::size_t block_count() const noexcept { return block_count_; }
  /// Slots per block.
  std::size_t block_slots() const noexcept { return block_slots_; }
  /// Elements per slot.
  std::size_t stride() const noexcept { return stride_; }
  /// Bytes taken from the memory resource: blocks and directories (replaced ones included).
  std::size_t memory_bytes() const noexcept { return block_count_ * block_bytes() + directory_bytes_; }
  /// Bytes one slot takes.
  std::size_t slot_bytes() const noexcept { return stride_ * sizeof(T); }
  /// Bytes one block takes.
  std::size_t block_bytes() const noexcept { return block_slots_ * stride_ * sizeof(T); }
  /// The memory resource blocks come from.
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_; }
  /// Whether the huge pages inside blocks are advised as such (see the constructor).
  bool huge_page_blocks() const noexcept { return huge_pages_ && block_bytes() >= kHugePageBytes; }

 private:
  static constexpr std::size_t kAlign = 64;

  // A directory: this header, then `capacity` atomic block pointers, in one allocation.
  struct Directory {
    Directory* older;  // the directory this one replaced, kept for readers until shrink or release
    std::size_t capacity;
    std::atomic<T*>* blocks() noexcept {
      return reinterpret_cast<std::atomic<T*>*>(reinterpret_cast<unsigned char*>(this) + kHeaderBytes);
    }
  };
  static constexpr std::size_t kHeaderBytes = (sizeof(Directory) + alignof(std::atomic<T*>) - 1) /
                                              alignof(std::atomic<T*>) * alignof(std::atomic<T*>);
  static std::size_t directory_size(std::size_t capacity) noexcept {
    return kHeaderBytes + capacity * sizeof(std::atomic<T*>);
  }

  std::size_t capacity() const noexcept { return current_ ? current_->capacity : 0; }

  Directory* allocate_directory(std::size_t capacity) {
    if (capacity > (SIZE_MAX - kHeaderBytes) / sizeof(std::atomic<T*>)) throw std::bad_alloc();
    void* p = memory_->allocate(directory_size(capacity), alignof(Directory));
    auto* d = ::new (p) Directory{nullptr, capacity};
    for (std::size_t b = 0; b < capacity; ++b) ::new (d->blocks() + b) std::atomic<T*>(nullptr);
    directory_bytes_ += directory_size(capacity);
    return d;
  }
  void free_directory(Directory* d) noexcept {
    directory_bytes_ -= directory_size(d->capacity);
    memory_->deallocate(d, directory_size(d->capacity), alignof(Directory));
  }

  T* allocate_block() {
    void* p = memory_->allocate(block_bytes(), kAlign);
    if (huge_page_blocks()) advise_huge_pages(p, block_bytes());  // before the first touch
    std::memset(p, 0, block_bytes());
    return static_cast<T*>(p);
  }
  void free_block(T* p) noexcept {
    if (p) memory_->deallocate(p, block_bytes(), kAlign);
  }

  // Undoes the growth since `mark`: frees the blocks from mark.blocks on and the directories that
  // replaced mark.directory. Exclusive access.
  void rollback(const Mark& mark) noexcept {
    while (block_count_ > mark.blocks) {
      --block_count_;
      free_block(current_->blocks()[block_count_].exchange(nullptr));
    }
    while (current_ != mark.directory) {
      Directory* newer = current_;
      current_ = newer->older;
      free_directory(newer);
    }
    if (current_) {  // it may still name blocks freed above (added before the directory was replaced)
      for (std::size_t b = block_count_; b < current_->capacity; ++b)
        current_->blocks()[b].store(nullptr, std::memory_order_relaxed);
    }
    directory_.store(current_ ? current_->blocks() : nullptr, std::memory_order_release);
  }

  void release() noexcept {
    shrink_slots(0);
  }

  void swap(BlockArray& o) noexcept {
    std::swap(memory_, o.memory_);
    std::swap(stride_, o.stride_);
    std::swap(block_slots_, o.block_slots_);
    std::swap(block_count_, o.block_count_);
    std::swap(directory_bytes_, o.directory_bytes_);
    std::swap(huge_pages_, o.huge_pages_);
    std::swap(current_, o.current_);
    auto* mine = directory_.load();
    directory_.store(o.directory_.load());
    o.directory_.store(mine);
  }

  std::pmr::memory_resource* memory_ = std::pmr::new_delete_resource();
  std::size_t stride_ = 1;
  std::size_t block_slots_ = 1;
  std::size_t block_count_ = 0;
  std::size_t directory_bytes_ = 0;  // bytes of current_ and the directories it replaced
  bool huge_pages_ = false;          // advise the huge pages inside blocks of kHugePageBytes or more
  Directory* current_ = nullptr;     // the newest directory, heading the list of replaced ones
  std::atomic<std::atomic<T*>*> directory_{nullptr};  // current_->blocks(), for readers
};

}  // namespace vindex
