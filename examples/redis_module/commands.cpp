// examples/redis_module/commands.cpp — FT.CREATE, FT.INFO, FT.DROPINDEX, FT._LIST (FT.SEARCH lives
// in ft_search.cpp).
//
// Replies follow RediSearch's formats so existing clients (redis-py's `r.ft(...)`) work unchanged.
// Every command catches every exception and answers with an error reply; nothing escapes into the
// server. Main thread only.
#include "commands.hpp"

#include <string>
#include <vector>

#include "cluster.hpp"
#include "cluster_catalog.hpp"
#include "cluster_info.hpp"
#include "acl.hpp"
#include "command_util.hpp"
#include "ft_search.hpp"
#include "index_registry.hpp"
#include "info_reply.hpp"
#include "module_api.hpp"
#include "module_config.hpp"
#include "module_memory.hpp"
#include "redis_source.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"

namespace vindex_redis {
namespace {

const vindex::Limits kLimits{};

// Indexes cover database 0 (the keyspace the module scans and watches).
bool wrong_db(rm::Ctx* ctx) {
  if (rm::GetSelectedDb(ctx) == 0) return false;
  reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return true;
}

int ft_create(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (cluster_mode()) return cluster_create(ctx, argv, argc);
  if (argc < 3) return rm::WrongArity(ctx);
  if (wrong_db(ctx)) return rm::kOk;
  return guarded(ctx, [&] {
    const std::string name = text(argv[1]);
    IndexSpec spec = parse_create(name, texts(argv, 2, argc), kLimits);
    if (!authorize_prefixes(ctx, spec.definition.prefixes, "FT.CREATE", name)) return rm::kOk;
    Registry& reg = registry();
    if (IndexEntry* existing = reg.find(name)) {
      // An AOF replaying FT.CREATE for an index the RDB preamble already restored is not an error.
      if (reg.loading() && existing->spec.arguments == spec.arguments)
        return rm::ReplyWithSimpleString(ctx, "OK");
      return reply_error(ctx, "Index already exists");
    }
    // A bound on the number of indexes, so clients cannot multiply the per-index memory and work.
    // Loading (RDB, AOF) never refuses: the indexes are already part of the dataset.
    const auto max_indexes = static_cast<std::size_t>(config().max_indexes);
    if (!reg.loading() && reg.all().size() >= max_indexes)
      return reply_error(ctx, "FT.CREATE: there are already " + std::to_string(reg.all().size()) +
                                  " indexes, the most vindex.max-indexes (" + std::to_string(max_indexes) +
                                  ") allows; drop one or raise the limit");
    reg.create(ctx, std::move(spec));
    rm::ReplicateVerbatim(ctx);
    return rm::ReplyWithSimpleString(ctx, "OK");
  });
}

int ft_dropindex(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (cluster_mode()) return cluster_dropindex(ctx, argv, argc);
  if (argc < 2 || argc > 3) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    if (argc == 3) return reply_error(ctx, "FT.DROPINDEX: DD is not supported");
    const std::string name = text(argv[1]);
    IndexEntry* entry = registry().find(name);
    if (!entry) return reply_error(ctx, "Unknown Index name");
    if (!authorize_prefixes(ctx, entry->spec.definition.prefixes, "FT.DROPINDEX", name)) return rm::kOk;
    registry().drop(name);
    rm::ReplicateVerbatim(ctx);
    return rm::ReplyWithSimpleString(ctx, "OK");
  });
}

int ft_list(rm::Ctx* ctx, rm::String**, int argc) {
  if (argc != 1) return rm::WrongArity(ctx);
  auto& all = registry().all();
  rm::ReplyWithArray(ctx, static_cast<long>(all.size()));
  for (auto& [name, entry] : all) reply_str(ctx, name);
  return rm::kOk;
}

int ft_info(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (cluster_mode()) return cluster_info(ctx, argv, argc);
  if (argc != 2) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    IndexEntry* entry = registry().find(text(argv[1]));
    if (!entry) return reply_error(ctx, "Unknown Index name");
    if (!authorize_prefixes(ctx, entry->spec.definition.prefixes, "FT.INFO", entry->spec.name)) return rm::kOk;
    reply_info(ctx, entry->spec, local_figures(*entry));
    return rm::kOk;
  });
}

}  // namespace

// Command flags as valkey-search declares them. valkey-search also puts the commands in ACL
// categories (@search plus @read/@write, @fast/@slow, @admin); Redis 7.0 gives module commands no
// categories at all (RedisModule_SetCommandACLCategories is 7.2+, and 7.0 derives none from the
// flags), so on 7.0 users are granted FT.* commands by name (+ft.search) or with +@all.
bool register_commands(rm::Ctx* ctx) {
  return rm::CreateCommand(ctx, "FT.CREATE", ft_create, "write deny-oom fast", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.SEARCH", ft_search, "readonly", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.INFO", ft_info, "readonly fast", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.DROPINDEX", ft_dropindex, "write fast", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT._LIST", ft_list, "readonly admin", 0, 0, 0) == rm::kOk;
}

}  // namespace vindex_redis
