// examples/redis_module/module_memory.cpp — the module's memory accounts.
#include "module_memory.hpp"

#include <cstdint>
#include <memory_resource>
#include <mutex>
#include <new>
#include <unordered_set>
#include <utility>

#include "index_registry.hpp"
#include "module_api.hpp"
#include "module_config.hpp"

namespace vindex_redis {

std::size_t account_limit(long long config_bytes) noexcept {
  return config_bytes <= 0 ? vindex::MemoryAccount::kUnlimited : static_cast<std::size_t>(config_bytes);
}

long long shown_limit(std::size_t limit) noexcept {
  return limit == vindex::MemoryAccount::kUnlimited ? 0 : static_cast<long long>(limit);
}

namespace {

// RedisModule_Alloc / RedisModule_Free as a memory resource. vindex asks for 64-byte alignment for
// its vector blocks; vindex::MallocResource gets it by allocating `alignment` bytes more, which
// pushes a 512 KiB block (1024 DIM-128 vectors) into jemalloc's 640 KiB size class: measured, a FLAT
// index cost used_memory 1.23x what it holds. jemalloc returns large allocations page-aligned, so
// this resource takes the exact size first, and only when that is not aligned enough (other
// allocators, ASan's) over-allocates through MallocResource, remembering those blocks.
class RedisResource final : public std::pmr::memory_resource {
 public:
  RedisResource() : fallback_(rm::Alloc, rm::Free, sizeof(void*)) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = rm::Alloc(bytes ? bytes : 1);  // zmalloc: aborts the process rather than return null
    if (!p) throw std::bad_alloc();
    if (reinterpret_cast<std::uintptr_t>(p) % alignment == 0) return p;
    rm::Free(p);
    void* aligned = fallback_.allocate(bytes, alignment);
    try {
      std::lock_guard lock(mutex_);
      over_allocated_.insert(aligned);
    } catch (...) {
      fallback_.deallocate(aligned, bytes, alignment);
      throw;
    }
    return aligned;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (alignment > sizeof(void*)) {
      std::lock_guard lock(mutex_);
      if (over_allocated_.erase(p) > 0) {
        fallback_.deallocate(p, bytes, alignment);
        return;
      }
    }
    rm::Free(p);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  vindex::MallocResource fallback_;
  std::mutex mutex_;
  std::unordered_set<void*> over_allocated_;
};

}  // namespace

vindex::MemoryAccount& module_memory() {
  // Never destroyed: indexes give their memory back to it until the very end, static destructors
  // included, and the server frees the rest of its memory at exit anyway.
  static auto* redis = new RedisResource();
  static auto* all = new vindex::MemoryAccount(redis, account_limit(config().max_memory),
                                               "all vindex indexes (vindex.max-memory)");
  return *all;
}

std::shared_ptr<vindex::MemoryAccount> new_index_account(const std::string& name) {
  return std::make_shared<vindex::MemoryAccount>(&module_memory(), account_limit(config().index_max_memory),
                                                 "index '" + name + "' (vindex.index-max-memory)");
}

void apply_memory_limits() {
  module_memory().set_limit(account_limit(config().max_memory));
  const std::size_t per_index = account_limit(config().index_max_memory);
  for (auto& [name, entry] : registry().all())
    if (entry.memory) entry.memory->set_limit(per_index);
}

void add_memory_info(rm::InfoCtx* ctx) {
  const vindex::MemoryAccount& all = module_memory();
  std::uint64_t index_refusals = 0;
  for (auto& [name, entry] : registry().all())
    if (entry.memory) index_refusals += entry.memory->refused();
  rm::InfoAddSection(ctx, "memory");
  const std::pair<const char*, long long> fields[] = {
      {"memory_used_bytes", static_cast<long long>(all.in_use())},
      {"memory_peak_bytes", static_cast<long long>(all.peak())},
      {"memory_limit_bytes", shown_limit(all.limit())},
      {"memory_index_limit_bytes", config().index_max_memory},
      {"memory_limit_refusals", static_cast<long long>(all.refused())},
      {"memory_index_limit_refusals", static_cast<long long>(index_refusals)},
  };
  for (const auto& [name, value] : fields) rm::InfoAddFieldLongLong(ctx, name, value);
}

}  // namespace vindex_redis
