// examples/redis_module/module_memory.cpp — the module's memory accounts.
#include "module_memory.hpp"

#include <cstdint>
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

vindex::MemoryAccount& module_memory() {
  // Never destroyed: indexes give their memory back to it until the very end, static destructors
  // included, and the server frees the rest of its memory at exit anyway.
  static auto* redis = new vindex::MallocResource(rm::Alloc, rm::Free);
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
