// examples/redis_module/commands.cpp — FT.CREATE, FT.INFO, FT.DROPINDEX, FT._LIST (FT.SEARCH lives
// in ft_search.cpp).
//
// Replies follow RediSearch's formats so existing clients (redis-py's `r.ft(...)`) work unchanged.
// Every command catches every exception and answers with an error reply; nothing escapes into the
// server. Main thread only.
#include "commands.hpp"

#include <string>
#include <vector>

#include "acl.hpp"
#include "command_util.hpp"
#include "ft_search.hpp"
#include "index_registry.hpp"
#include "module_api.hpp"
#include "module_config.hpp"
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
    IndexEntry entry;
    entry.index = make_index(spec, keyspace());
    if (spec.skip_initial_scan) {
    } else if (reg.loading()) {
      entry.after_load = AfterLoad::kBackfill;
    } else {
      entry.index->start_backfill();
    }
    entry.spec = std::move(spec);
    reg.add(std::move(entry));
    reg.schedule(ctx);
    rm::ReplicateVerbatim(ctx);
    return rm::ReplyWithSimpleString(ctx, "OK");
  });
}

int ft_dropindex(rm::Ctx* ctx, rm::String** argv, int argc) {
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
  if (argc != 2) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    IndexEntry* entry = registry().find(text(argv[1]));
    if (!entry) return reply_error(ctx, "Unknown Index name");
    if (!authorize_prefixes(ctx, entry->spec.definition.prefixes, "FT.INFO", entry->spec.name)) return rm::kOk;
    const IndexSpec& spec = entry->spec;
    const vindex::BackfillProgress p = entry->index->progress();
    const bool in_progress = p.state == vindex::BackfillState::kBackfilling || p.state == vindex::BackfillState::kPaused;
    const std::size_t memory = entry->index->memory_bytes();

    rm::ReplyWithArray(ctx, rm::kPostponedArrayLength);
    long replied = 0;
    auto key = [&](std::string_view name) {
      replied += 2;
      reply_str(ctx, name);
    };
    key("index_name");
    reply_str(ctx, spec.name);
    key("index_options");
    rm::ReplyWithArray(ctx, 0);
    key("index_definition");
    rm::ReplyWithArray(ctx, 6);
    reply_str(ctx, "key_type");
    reply_str(ctx, "HASH");
    reply_str(ctx, "prefixes");
    rm::ReplyWithArray(ctx, static_cast<long>(spec.definition.prefixes.size()));
    for (const auto& prefix : spec.definition.prefixes) reply_str(ctx, prefix);
    reply_str(ctx, "default_score");
    reply_str(ctx, "1");
    key("attributes");
    rm::ReplyWithArray(ctx, 1 + static_cast<long>(spec.definition.attributes.size()));
    {
      const bool hnsw = spec.algorithm == Algorithm::kHnsw;
      rm::ReplyWithArray(ctx, hnsw ? 26 : 18);
      reply_str(ctx, "identifier");
      reply_str(ctx, spec.definition.vector_field);
      reply_str(ctx, "attribute");
      reply_str(ctx, spec.definition.vector_field);
      reply_str(ctx, "type");
      reply_str(ctx, "VECTOR");
      reply_str(ctx, "algorithm");
      reply_str(ctx, to_string(spec.algorithm));
      reply_str(ctx, "data_type");
      reply_str(ctx, vindex::to_string(spec.schema.type));
      reply_str(ctx, "dim");
      rm::ReplyWithLongLong(ctx, spec.schema.dim);
      reply_str(ctx, "distance_metric");
      reply_str(ctx, vindex::to_string(spec.schema.metric));
      reply_str(ctx, "initial_cap");
      rm::ReplyWithLongLong(ctx, static_cast<long long>(hnsw ? spec.hnsw.initial_cap : spec.flat.initial_cap));
      reply_str(ctx, "block_size");
      rm::ReplyWithLongLong(ctx, static_cast<long long>(hnsw ? spec.hnsw.block_size : spec.flat.block_size));
      if (hnsw) {
        reply_str(ctx, "M");
        rm::ReplyWithLongLong(ctx, static_cast<long long>(spec.hnsw.m));
        reply_str(ctx, "ef_construction");
        rm::ReplyWithLongLong(ctx, static_cast<long long>(spec.hnsw.ef_construction));
        reply_str(ctx, "ef_runtime");
        rm::ReplyWithLongLong(ctx, static_cast<long long>(spec.hnsw.ef_runtime));
        reply_str(ctx, "epsilon");
        reply_str(ctx, format_double(spec.hnsw.epsilon));
      }
    }
    for (const auto& a : spec.definition.attributes) {
      const bool tag = a.type == vindex::AttributeType::kTag;
      rm::ReplyWithArray(ctx, tag ? (a.case_sensitive ? 9 : 8) : 6);
      reply_str(ctx, "identifier");
      reply_str(ctx, a.name);
      reply_str(ctx, "attribute");
      reply_str(ctx, a.name);
      reply_str(ctx, "type");
      reply_str(ctx, vindex::to_string(a.type));
      if (tag) {
        reply_str(ctx, "SEPARATOR");
        reply_str(ctx, std::string_view(&a.separator, 1));
        if (a.case_sensitive) reply_str(ctx, "CASESENSITIVE");
      }
    }
    key("num_docs");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(p.entries_indexed));
    key("num_records");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(p.entries_indexed));
    key("hash_indexing_failures");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(p.failures.total()));
    // The same keys by reason (vindex's IndexingFailure codes; names as vindex writes them).
    key("hash_indexing_failures_by_reason");
    rm::ReplyWithArray(ctx, 2 * static_cast<long>(vindex::kIndexingFailureCodes - 1));
    for (std::size_t code = 1; code < vindex::kIndexingFailureCodes; ++code) {
      reply_str(ctx, vindex::to_string(static_cast<vindex::IndexingFailure>(code)));
      rm::ReplyWithLongLong(ctx, static_cast<long long>(p.failures.by_code[code]));
    }
    key("indexing");
    rm::ReplyWithLongLong(ctx, in_progress ? 1 : 0);
    key("percent_indexed");
    reply_str(ctx, format_double(p.percent / 100.0));
    key("backfill_in_progress");
    rm::ReplyWithLongLong(ctx, in_progress ? 1 : 0);
    key("backfill_complete_percent");
    reply_str(ctx, format_double(p.percent));
    key("state");
    reply_str(ctx, vindex::to_string(p.state));
    key("backfill_error");
    reply_str(ctx, p.error);
    key("scan_mode");
    reply_str(ctx, p.mode == vindex::ScanMode::kReconcile ? "reconcile" : "backfill");
    key("scan_counts");
    rm::ReplyWithArray(ctx, 12);
    const std::pair<const char*, std::uint64_t> counts[] = {
        {"keys_scanned", p.counts.keys_scanned}, {"inserted", p.counts.inserted},
        {"updated", p.counts.updated},           {"unchanged", p.counts.unchanged},
        {"removed", p.counts.removed},           {"skipped", p.counts.skipped}};
    for (const auto& [name, value] : counts) {
      reply_str(ctx, name);
      rm::ReplyWithLongLong(ctx, static_cast<long long>(value));
    }
    // Persistence: how the last RDB / AOF-preamble load restored this index, and what the reconcile
    // scan that followed did (zero unless the current or last scan is that reconcile).
    const SnapshotLoad& snap = entry->snapshot;
    key("snapshot_loaded");
    rm::ReplyWithLongLong(ctx, snap.loaded ? 1 : 0);
    key("snapshot_load_error");
    reply_str(ctx, snap.error);
    key("snapshot_bytes");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(snap.bytes));
    key("snapshot_load_ms");
    reply_str(ctx, format_double(snap.millis));
    const bool reconciling = p.mode == vindex::ScanMode::kReconcile;
    const std::pair<const char*, std::uint64_t> reconcile[] = {
        {"reconcile_kept", reconciling ? p.counts.unchanged : 0},
        {"reconcile_reindexed", reconciling ? p.counts.updated : 0},
        {"reconcile_removed", reconciling ? p.counts.removed : 0},
        {"reconcile_added", reconciling ? p.counts.inserted : 0}};
    for (const auto& [name, value] : reconcile) {
      key(name);
      rm::ReplyWithLongLong(ctx, static_cast<long long>(value));
    }
    // Queries that ran out of time: failed (vindex.on-timeout fail) or answered partially (return).
    key("search_timeouts");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(entry->search_timeouts));
    key("search_partial_results");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(entry->search_partial));
    key("vector_index_sz_mb");
    reply_str(ctx, format_double(static_cast<double>(memory) / (1024.0 * 1024.0)));
    key("total_memory_bytes");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(memory));
    rm::ReplySetArrayLength(ctx, replied);
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
