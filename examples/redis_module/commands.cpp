// examples/redis_module/commands.cpp — FT.CREATE, FT.SEARCH, FT.INFO, FT.DROPINDEX, FT._LIST.
//
// Replies follow RediSearch's formats so existing clients (redis-py's `r.ft(...)`) work unchanged.
// Every command catches every exception and answers with an error reply; nothing escapes into the
// server. Main thread only.
#include "commands.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <string>
#include <vector>

#include "index_registry.hpp"
#include "module_api.hpp"
#include "redis_source.hpp"
#include "search_request.hpp"
#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/source/filter_expression.hpp"

namespace vindex_redis {
namespace {

std::string text(rm::String* s) {
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(s, &length);
  return std::string(data, length);
}

std::vector<std::string> texts(rm::String** argv, int first, int argc) {
  std::vector<std::string> out;
  for (int i = first; i < argc; ++i) out.push_back(text(argv[i]));
  return out;
}

int reply_error(rm::Ctx* ctx, const std::string& message) {
  // Error replies are one line; keep vindex's message, drop any line breaks.
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return rm::ReplyWithError(ctx, ("ERR " + line).c_str());
}

int reply_str(rm::Ctx* ctx, std::string_view s) { return rm::ReplyWithStringBuffer(ctx, s.data(), s.size()); }

std::string format_double(double x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

std::string format_float(float x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

// Runs a command body; any exception becomes an error reply.
template <class Body>
int guarded(rm::Ctx* ctx, Body&& body) {
  try {
    return body();
  } catch (const vindex::Error& e) {
    return reply_error(ctx, e.what());
  } catch (const std::bad_alloc&) {
    return reply_error(ctx, "vindex: out of memory");
  } catch (const std::exception& e) {
    return reply_error(ctx, std::string("vindex: ") + e.what());
  }
}

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
    Registry& reg = registry();
    if (IndexEntry* existing = reg.find(name)) {
      // An AOF replaying FT.CREATE for an index the RDB preamble already restored is not an error.
      if (reg.loading() && existing->spec.arguments == spec.arguments)
        return rm::ReplyWithSimpleString(ctx, "OK");
      return reply_error(ctx, "Index already exists");
    }
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
    if (!registry().drop(text(argv[1]))) return reply_error(ctx, "Unknown Index name");
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

int ft_search(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 3) return rm::WrongArity(ctx);
  if (wrong_db(ctx)) return rm::kOk;
  return guarded(ctx, [&] {
    IndexEntry* entry = registry().find(text(argv[1]));
    if (!entry) return reply_error(ctx, text(argv[1]) + ": no such index");
    const SearchRequest request = parse_search(texts(argv, 2, argc), kLimits.max_k);
    const IndexSpec& spec = entry->spec;
    if (request.vector_field != spec.definition.vector_field)
      return reply_error(ctx, "KNN field '" + request.vector_field + "' is not the index's vector field '" +
                                  spec.definition.vector_field + "'");
    if (request.blob.size() != spec.schema.blob_bytes())
      return reply_error(ctx, "query vector blob has " + std::to_string(request.blob.size()) +
                                  " bytes, expected " + std::to_string(spec.schema.blob_bytes()) +
                                  " (DIM " + std::to_string(spec.schema.dim) + " x " +
                                  std::string(vindex::to_string(spec.schema.type)) + ")");
    std::vector<float> query(spec.schema.dim);
    if (auto failure = vindex::decode_blob(spec.schema, request.blob, query); failure != vindex::VectorFailure::kNone)
      return reply_error(ctx, "query vector rejected: " + std::string(vindex::to_string(failure)));
    const vindex::FilterExpr filter = vindex::parse_filter(request.filter);
    vindex::SearchOptions options;
    if (request.ef_runtime) {
      kLimits.check_ef(*request.ef_runtime, "EF_RUNTIME");
      options.ef = request.ef_runtime;
    }
    std::vector<vindex::SearchResult> hits;
    {
      RedisSource::ContextScope scope(keyspace(), ctx);
      hits = entry->index->search(query, request.k, filter, options);
    }
    if (request.descending) std::reverse(hits.begin(), hits.end());
    const std::size_t total = hits.size();
    const std::size_t first = std::min(request.offset, hits.size());
    const std::size_t last = std::min(hits.size(), first + request.count);

    Registry::Busy busy(registry(), ctx);  // reading results may expire keys
    RedisSource::ContextScope scope(keyspace(), ctx);
    const long per_hit = request.no_content ? 1 : 2;
    rm::ReplyWithArray(ctx, 1 + per_hit * static_cast<long>(last - first));
    rm::ReplyWithLongLong(ctx, static_cast<long long>(total));
    for (std::size_t i = first; i < last; ++i) {
      const vindex::SearchResult& hit = hits[i];
      reply_str(ctx, hit.key);
      if (request.no_content) continue;
      const std::string score = format_float(hit.distance);
      std::vector<std::pair<std::string, std::string>> fields;
      if (request.return_fields) {
        for (const std::string& f : *request.return_fields) {
          if (f == request.score_field) {
            fields.emplace_back(f, score);
          } else if (auto value = keyspace().read_field(hit.key, f)) {
            fields.emplace_back(f, std::move(*value));
          }
        }
      } else {
        fields.emplace_back(request.score_field, score);
        for (auto& kv : keyspace().read_all(hit.key)) fields.push_back(std::move(kv));
      }
      rm::ReplyWithArray(ctx, 2 * static_cast<long>(fields.size()));
      for (const auto& [f, v] : fields) {
        reply_str(ctx, f);
        reply_str(ctx, v);
      }
    }
    return rm::kOk;
  });
}

int ft_info(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc != 2) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    IndexEntry* entry = registry().find(text(argv[1]));
    if (!entry) return reply_error(ctx, "Unknown Index name");
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
    // HNSW graph maintenance (zero for FLAT): tombstones not freed yet, rounds completed, and the
    // time spent maintaining inside writes (only when the timer falls behind) and from the timer.
    const vindex::HnswMaintenanceStats m = entry->index->maintenance_stats().value_or(vindex::HnswMaintenanceStats{});
    key("maintenance_pending_tombstones");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(m.pending_tombstones));
    key("maintenance_rounds");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(m.rounds));
    key("maintenance_in_writes_ms");
    reply_str(ctx, format_double(static_cast<double>(m.write_ns) / 1e6));
    key("maintenance_longest_in_write_ms");
    reply_str(ctx, format_double(static_cast<double>(m.longest_write_ns) / 1e6));
    key("maintenance_in_timer_ms");
    reply_str(ctx, format_double(static_cast<double>(m.maintain_ns) / 1e6));
    key("vector_index_sz_mb");
    reply_str(ctx, format_double(static_cast<double>(memory) / (1024.0 * 1024.0)));
    key("total_memory_bytes");
    rm::ReplyWithLongLong(ctx, static_cast<long long>(memory));
    rm::ReplySetArrayLength(ctx, replied);
    return rm::kOk;
  });
}

}  // namespace

bool register_commands(rm::Ctx* ctx) {
  return rm::CreateCommand(ctx, "FT.CREATE", ft_create, "write deny-oom", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.SEARCH", ft_search, "readonly", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.INFO", ft_info, "readonly", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT.DROPINDEX", ft_dropindex, "write", 0, 0, 0) == rm::kOk &&
         rm::CreateCommand(ctx, "FT._LIST", ft_list, "readonly", 0, 0, 0) == rm::kOk;
}

}  // namespace vindex_redis
