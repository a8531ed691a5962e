// vindex/storage/block_array.hpp — fixed-size blocks of slots that never move once allocated.
//
// `BlockArray<T>` holds `stride` elements per slot, `block_slots` slots per block, 64-byte aligned.
// Growth adds blocks; existing blocks stay where they are, so a pointer to a slot stays valid for
// the life of the array (readers may hold one while a writer grows the array). The block directory
// is published atomically and old directories are kept until destruction, so `slot()` is safe to
// call concurrently with `reserve_slots()`; writing a slot needs the caller's own synchronisation.
// Next: storage/key_map.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "vindex/core/error.hpp"

namespace vindex {

/// Pointer-stable, block-allocated storage of `stride` trivially-copyable elements per slot.
template <class T>
class BlockArray {
  static_assert(std::is_trivially_copyable_v<T>, "BlockArray holds trivially copyable elements");

 public:
  /// An empty array; `stride` elements per slot, `block_slots` slots per block (both >= 1).
  BlockArray(std::size_t stride, std::size_t block_slots)
      : stride_(stride), block_slots_(block_slots) {
    if (stride == 0 || block_slots == 0)
      throw Error(ErrorCode::kInvalidArgument, "BlockArray needs stride and block size >= 1");
  }
  BlockArray(const BlockArray&) = delete;
  BlockArray& operator=(const BlockArray&) = delete;
  BlockArray(BlockArray&& other) noexcept { swap(other); }
  BlockArray& operator=(BlockArray&& other) noexcept {
    if (this != &other) {
      BlockArray tmp(std::move(other));
      swap(tmp);
    }
    return *this;
  }
  ~BlockArray() {
    for (std::size_t b = 0; b < block_count_; ++b) free_block(directory_.load()[b].load());
  }

  /// Ensures slots [0, slots) exist, adding zero-filled blocks as needed. Strong guarantee on
  /// allocation failure.
  void reserve_slots(std::size_t slots) {
    const std::size_t blocks_needed = (slots + block_slots_ - 1) / block_slots_;
    if (blocks_needed <= block_count_) return;
    if (blocks_needed > directory_capacity_) grow_directory(blocks_needed);
    std::atomic<T*>* dir = directory_.load(std::memory_order_relaxed);
    while (block_count_ < blocks_needed) {
      dir[block_count_].store(allocate_block(), std::memory_order_release);
      ++block_count_;
    }
  }

  /// Releases the blocks wholly above slot `slots`. Only for an owner with exclusive access: pointers
  /// into released blocks dangle.
  void shrink_slots(std::size_t slots) noexcept {
    const std::size_t blocks_kept = (slots + block_slots_ - 1) / block_slots_;
    std::atomic<T*>* dir = directory_.load(std::memory_order_relaxed);
    while (block_count_ > blocks_kept) {
      --block_count_;
      free_block(dir[block_count_].exchange(nullptr));
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
  /// Bytes held by blocks and the directory.
  std::size_t memory_bytes() const noexcept {
    return block_count_ * block_bytes() + directory_capacity_ * sizeof(std::atomic<T*>);
  }
  /// Bytes one slot takes.
  std::size_t slot_bytes() const noexcept { return stride_ * sizeof(T); }

 private:
  static constexpr std::size_t kAlign = 64;

  std::size_t block_bytes() const noexcept { return block_slots_ * stride_ * sizeof(T); }

  T* allocate_block() {
    const std::size_t bytes = block_bytes();
    if (stride_ > SIZE_MAX / sizeof(T) / block_slots_)
      throw Error(ErrorCode::kInvalidArgument, "block size overflows");
    void* p = ::operator new(bytes, std::align_val_t{kAlign});
    std::memset(p, 0, bytes);
    return static_cast<T*>(p);
  }
  static void free_block(T* p) noexcept {
    if (p) ::operator delete(static_cast<void*>(p), std::align_val_t{kAlign});
  }

  void grow_directory(std::size_t at_least) {
    std::size_t capacity = directory_capacity_ ? directory_capacity_ : 4;
    while (capacity < at_least) capacity *= 2;
    auto fresh = std::make_unique<std::atomic<T*>[]>(capacity);
    std::atomic<T*>* old = directory_.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b < block_count_; ++b)
      fresh[b].store(old[b].load(std::memory_order_relaxed), std::memory_order_relaxed);
    for (std::size_t b = block_count_; b < capacity; ++b)
      fresh[b].store(nullptr, std::memory_order_relaxed);
    directory_.store(fresh.get(), std::memory_order_release);
    // Readers may still hold the old directory: keep it alive until destruction.
    if (current_) retired_.push_back(std::move(current_));
    current_ = std::move(fresh);
    directory_capacity_ = capacity;
  }

  void swap(BlockArray& o) noexcept {
    std::swap(stride_, o.stride_);
    std::swap(block_slots_, o.block_slots_);
    std::swap(block_count_, o.block_count_);
    std::swap(directory_capacity_, o.directory_capacity_);
    auto* mine = directory_.load();
    directory_.store(o.directory_.load());
    o.directory_.store(mine);
    std::swap(current_, o.current_);
    std::swap(retired_, o.retired_);
  }

  std::size_t stride_ = 1;
  std::size_t block_slots_ = 1;
  std::size_t block_count_ = 0;
  std::size_t directory_capacity_ = 0;
  std::atomic<std::atomic<T*>*> directory_{nullptr};
  std::unique_ptr<std::atomic<T*>[]> current_;
  std::vector<std::unique_ptr<std::atomic<T*>[]>> retired_;
};

}  // namespace vindex
