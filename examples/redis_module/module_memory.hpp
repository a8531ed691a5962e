// examples/redis_module/module_memory.hpp — where the indexes' memory comes from, and its limits.
//
// Every index allocates from Redis's allocator (RedisModule_Alloc / RedisModule_Free, i.e. zmalloc),
// so index memory counts in INFO memory's used_memory, in maxmemory and so in eviction (aligned
// blocks without the over-allocation of vindex::MallocResource when the allocator already aligns
// them, as jemalloc does; see module_memory.cpp). The module
// holds one vindex::MemoryAccount over that allocator for all indexes (limit: vindex.max-memory) and
// each index one account chained to it (limit: vindex.index-max-memory); 0 means no limit. An
// allocation past a limit makes that key an indexing failure (out of memory) that changes nothing;
// erases are never refused (vindex charges tombstones and bookkeeping without capping them). Past a
// limit is the module's only protection: zmalloc aborts the process when the system runs out.
// The module account lives as long as the process (never destroyed, so no index outlives it).
// Main thread only (the accounts themselves are thread-safe). Next: module_config.hpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "module_api_cluster.hpp"
#include "vindex/core/memory.hpp"

namespace vindex_redis {

/// The account of all indexes, over RedisModule_Alloc / RedisModule_Free (after rm::init).
vindex::MemoryAccount& module_memory();

/// A new account for index `name`, chained to module_memory(), with vindex.index-max-memory as its
/// limit. The index holds it (shared) as long as it lives; FT.INFO reads it.
std::shared_ptr<vindex::MemoryAccount> new_index_account(const std::string& name);

/// A limit as the accounts take it: 0 (a config's "no limit") is MemoryAccount::kUnlimited.
std::size_t account_limit(long long config_bytes) noexcept;

/// A limit as the configs and FT.INFO show it: kUnlimited is 0.
long long shown_limit(std::size_t account_limit) noexcept;

/// Applies vindex.max-memory and vindex.index-max-memory to the module account and every index's
/// account at once (after CONFIG SET). Lowering a limit below what is in use frees nothing: writes
/// that allocate are refused until usage drops under it.
void apply_memory_limits();

/// Writes the `vindex_memory` section of `INFO vindex`: bytes all indexes hold now and at most,
/// the two limits (0: none), and the allocations each kind of limit refused.
void add_memory_info(rm::InfoCtx* ctx);

}  // namespace vindex_redis
