// vindex/core/memory.hpp — where an index's memory comes from, how much it holds, and its limits.
//
// Every allocation of an index that grows with its data (vector blocks and their directories, the
// key map, HNSW upper-layer lists and tombstones, TAG/NUMERIC values and their indexes, a keyspace
// index's bookkeeping) is taken from a `std::pmr::memory_resource` the host passes in; the default is
// `std::pmr::new_delete_resource()`, i.e. `operator new`, as before. A host routes an index's memory
// to its own allocator by implementing `do_allocate` / `do_deallocate` / `do_is_equal`, or by
// wrapping malloc-style functions in a `MallocResource` (e.g. `RedisModule_Alloc` /
// `RedisModule_Free`, so that Redis's `used_memory` and `maxmemory` see index memory).
//
// `MemoryAccount` is a resource that counts: it forwards to an upstream resource, tracks the bytes in
// use and their peak, and refuses an allocation that would take it past its limit by throwing
// `MemoryLimitExceeded` — a `std::bad_alloc`, so a limit fails exactly like running out of memory,
// and every write path that survives one survives the other (see the indexes' headers: a failed
// write leaves the index exactly as it was and gives back what it took). Accounts chain: an account
// whose upstream is another account charges both, so a host can give each index a limit and all
// indexes together another (`MemoryAccount module(redis, 4 GiB); MemoryAccount idx(&module, 1 GiB)`).
//
// Some memory is charged but never refused (`MemoryAccount::uncapped()`, `uncapped(resource)`):
// bookkeeping whose refusal would lose track of a key rather than refuse to store one — HNSW
// tombstones (an erase must not fail at a limit), a keyspace index's failing keys, the keys a scan has
// touched or seen, queued writes. Such memory still counts towards `in_use()`, so it can take an
// account past its limit; later capped allocations are then refused until usage drops.
//
// Thread-safety: MemoryAccount and MallocResource may be used from any number of threads (the counts
// are atomics). An account must outlive every index and container that allocates from it.
// Next: core/deadline.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>

namespace vindex {

/// Thrown when an allocation would take a MemoryAccount past its limit. It is a std::bad_alloc, so
/// code that copes with running out of memory copes with a limit alike; `what()` names the account,
/// the request, the bytes in use and the limit.
class MemoryLimitExceeded : public std::bad_alloc {
 public:
  /// An allocation of `requested` bytes refused by account `account` holding `in_use` of `limit` bytes.
  MemoryLimitExceeded(const std::string& account, std::size_t requested, std::size_t in_use, std::size_t limit)
      : message_("vindex: limit exceeded: allocating " + std::to_string(requested) + " bytes would take " + account +
                 " (" + std::to_string(in_use) + " bytes in use) past its limit of " + std::to_string(limit) +
                 " bytes"),
        requested_(requested),
        in_use_(in_use),
        limit_(limit) {}

  /// "vindex: limit exceeded: allocating … bytes would take <account> (… in use) past its limit of … bytes".
  const char* what() const noexcept override { return message_.what(); }
  /// Bytes the refused allocation asked for.
  std::size_t requested() const noexcept { return requested_; }
  /// Bytes the refusing account held at the time.
  std::size_t in_use() const noexcept { return in_use_; }
  /// The refusing account's limit.
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::runtime_error message_;  // a reference-counted string: copying the exception never throws
  std::size_t requested_;
  std::size_t in_use_;
  std::size_t limit_;
};

/// A memory resource that counts the bytes it hands out (in use, peak) and enforces a byte limit,
/// forwarding every allocation to an upstream resource (another account to chain limits).
class MemoryAccount final : public std::pmr::memory_resource {
 public:
  /// The limit of an account without one.
  static constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);

  /// An account over `upstream` (null: `std::pmr::new_delete_resource()`) refusing allocations that
  /// would take it past `limit` bytes; `name` is used in MemoryLimitExceeded's message.
  explicit MemoryAccount(std::pmr::memory_resource* upstream = nullptr, std::size_t limit = kUnlimited,
                         std::string name = "the memory account")
      : upstream_(upstream ? upstream : std::pmr::new_delete_resource()),
        upstream_account_(dynamic_cast<MemoryAccount*>(upstream_)),
        limit_(limit),
        name_(std::move(name)) {}
  MemoryAccount(const MemoryAccount&) = delete;
  MemoryAccount& operator=(const MemoryAccount&) = delete;
  ~MemoryAccount() override = default;

  /// Bytes handed out and not yet given back (capped and uncapped alike).
  std::size_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  /// The highest in_use() seen since construction or the last reset_peak().
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  /// The limit (kUnlimited when none).
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  /// Sets the limit. Lowering it below in_use() frees nothing: capped allocations are refused until
  /// usage drops below it.
  void set_limit(std::size_t limit) noexcept { limit_.store(limit, std::memory_order_relaxed); }
  /// Starts a new peak from the current in_use().
  void reset_peak() noexcept { peak_.store(in_use(), std::memory_order_relaxed); }
  /// Number of allocations this account's own limit refused.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
  /// Where allocations go after being counted here.
  std::pmr::memory_resource* upstream() const noexcept { return upstream_; }
  /// The name used in error messages.
  const std::string& name() const noexcept { return name_; }

  /// A view of this account that charges it (and its upstream accounts) but never refuses an
  /// allocation for a limit: for bookkeeping that must not fail at a limit (see the header comment).
  /// Memory from either view may be given back through either.
  std::pmr::memory_resource* uncapped() noexcept { return &uncapped_; }

 private:
  class Uncapped final : public std::pmr::memory_resource {
   public:
    explicit Uncapped(MemoryAccount* owner) noexcept : owner_(owner) {}

   private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
      return owner_->allocate_counted(bytes, alignment, false);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
      owner_->do_deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
    MemoryAccount* owner_;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return allocate_counted(bytes, alignment, true);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    upstream_->deallocate(p, bytes, alignment);
    in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  void* allocate_counted(std::size_t bytes, std::size_t alignment, bool capped) {
    std::size_t before = in_use_.load(std::memory_order_relaxed);
    if (capped) {
      const std::size_t cap = limit();
      do {
        if (bytes > cap || before > cap - bytes) {
          refused_.fetch_add(1, std::memory_order_relaxed);
          throw MemoryLimitExceeded(name_, bytes, before, cap);
        }
      } while (!in_use_.compare_exchange_weak(before, before + bytes, std::memory_order_relaxed));
    } else {
      before = in_use_.fetch_add(bytes, std::memory_order_relaxed);
    }
    void* p;
    try {
      if (!capped && upstream_account_) {
        p = upstream_account_->allocate_counted(bytes, alignment, false);
      } else {
        p = upstream_->allocate(bytes, alignment);
      }
    } catch (...) {
      in_use_.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    const std::size_t now = before + bytes;
    std::size_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return p;
  }

  std::pmr::memory_resource* upstream_;
  MemoryAccount* upstream_account_;  // upstream_ as an account, for the uncapped path; else null
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::size_t> limit_;
  std::atomic<std::uint64_t> refused_{0};
  std::string name_;
  Uncapped uncapped_{this};
};

/// The uncapped view of `resource` when it is a MemoryAccount (see MemoryAccount::uncapped()), else
/// `resource` itself; null stands for `std::pmr::new_delete_resource()`.
inline std::pmr::memory_resource* uncapped(std::pmr::memory_resource* resource) noexcept {
  if (!resource) return std::pmr::new_delete_resource();
  if (auto* account = dynamic_cast<MemoryAccount*>(resource)) return account->uncapped();
  return resource;
}

/// A memory resource over a host's malloc-style functions, e.g. `MallocResource(RedisModule_Alloc,
/// RedisModule_Free)`. `alloc(n)` must return memory aligned to at least `natural_alignment` bytes
/// (malloc: alignof(std::max_align_t)) or null; larger alignments (vindex asks for 64 for vector
/// blocks) are obtained by over-allocating `alignment` bytes and keeping the original pointer just
/// below the aligned block. A null return throws std::bad_alloc.
class MallocResource final : public std::pmr::memory_resource {
 public:
  /// A malloc-style allocation function.
  using AllocFn = void* (*)(std::size_t);
  /// The matching free function.
  using FreeFn = void (*)(void*);

  /// A resource calling `alloc` and `free` (both non-null).
  MallocResource(AllocFn alloc, FreeFn free, std::size_t natural_alignment = alignof(std::max_align_t)) noexcept
      : alloc_(alloc), free_(free), natural_(natural_alignment < sizeof(void*) ? sizeof(void*) : natural_alignment) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (alignment <= natural_) {
      void* p = alloc_(bytes ? bytes : 1);
      if (!p) throw std::bad_alloc();
      return p;
    }
    if (bytes > static_cast<std::size_t>(-1) - alignment) throw std::bad_alloc();
    auto* raw = static_cast<unsigned char*>(alloc_(bytes + alignment));
    if (!raw) throw std::bad_alloc();
    // raw is natural_-aligned, so the aligned block starts at least natural_ >= sizeof(void*) bytes in.
    const auto address = reinterpret_cast<std::uintptr_t>(raw);
    auto* aligned = raw + (alignment - address % alignment);
    reinterpret_cast<void**>(aligned)[-1] = raw;
    return aligned;
  }
  void do_deallocate(void* p, std::size_t, std::size_t alignment) override {
    free_(alignment <= natural_ ? p : static_cast<void**>(p)[-1]);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    const auto* o = dynamic_cast<const MallocResource*>(&other);
    return o && o->alloc_ == alloc_ && o->free_ == free_ && o->natural_ == natural_;
  }

  AllocFn alloc_;
  FreeFn free_;
  std::size_t natural_;
};

/// `resource`, or `std::pmr::new_delete_resource()` when it is null.
inline std::pmr::memory_resource* resource_or_default(std::pmr::memory_resource* resource) noexcept {
  return resource ? resource : std::pmr::new_delete_resource();
}

}  // namespace vindex
