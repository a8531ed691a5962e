// examples/redis_module/module_memory.cpp — the module's memory accounts.
#include "module_memory.hpp"

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

}  // namespace vindex_redis
