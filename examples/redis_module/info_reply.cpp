// examples/redis_module/info_reply.cpp — FT.INFO's reply shape.
#include "info_reply.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "command_util.hpp"
#include "module_memory.hpp"

namespace vindex_redis {
namespace {


int state_rank(std::string_view state) {
  static constexpr std::string_view order[] = {"ready", "idle", "backfilling", "paused", "cancelled", "failed"};
  for (int i = 0; i < 6; ++i)
    if (order[i] == state) return i;
  return 6;
}

}  // namespace

InfoFigures local_figures(const IndexEntry& entry) {
  const vindex::BackfillProgress p = entry.index->progress();
  InfoFigures f;
  f.num_docs = p.entries_indexed;
  f.hash_indexing_failures = p.failures.total();
  f.failures_by_code = p.failures.by_code;
  f.in_progress = p.state == vindex::BackfillState::kBackfilling || p.state == vindex::BackfillState::kPaused;
  f.percent = p.percent;
  f.state = std::string(vindex::to_string(p.state));
  f.backfill_error = p.error;
  f.reconciling = p.mode == vindex::ScanMode::kReconcile;
  const std::uint64_t counts[6] = {p.counts.keys_scanned, p.counts.inserted, p.counts.updated,
                                   p.counts.unchanged,    p.counts.removed,  p.counts.skipped};
  std::copy(std::begin(counts), std::end(counts), f.counts);
  f.snapshot = entry.snapshot;
  f.search_timeouts = entry.search_timeouts;
  f.search_partial = entry.search_partial;
  f.memory_bytes = entry.memory ? entry.memory->in_use() : entry.index->memory_bytes();
  if (entry.memory) {
    f.memory_peak_bytes = entry.memory->peak();
    f.memory_limit_bytes = static_cast<std::uint64_t>(shown_limit(entry.memory->limit()));
    f.memory_limit_refusals = entry.memory->refused();
  }
  f.maintenance = entry.index->maintenance_stats().value_or(vindex::HnswMaintenanceStats{});
  return f;
}

void add_shard(InfoFigures& total, const InfoFigures& shard, bool first) {
  if (first) {
    total = shard;
    return;
  }
  total.num_docs += shard.num_docs;
  total.hash_indexing_failures += shard.hash_indexing_failures;
  for (std::size_t i = 0; i < total.failures_by_code.size(); ++i) total.failures_by_code[i] += shard.failures_by_code[i];
  total.search_timeouts += shard.search_timeouts;
  total.search_partial += shard.search_partial;
  total.in_progress = total.in_progress || shard.in_progress;
  total.percent = std::min(total.percent, shard.percent);
  if (state_rank(shard.state) > state_rank(total.state)) total.state = shard.state;
  if (total.backfill_error.empty()) total.backfill_error = shard.backfill_error;
  total.reconciling = total.reconciling || shard.reconciling;
  for (int i = 0; i < 6; ++i) total.counts[i] += shard.counts[i];
  total.snapshot.loaded = total.snapshot.loaded && shard.snapshot.loaded;
  if (total.snapshot.error.empty()) total.snapshot.error = shard.snapshot.error;
  total.snapshot.bytes += shard.snapshot.bytes;
  total.snapshot.millis = std::max(total.snapshot.millis, shard.snapshot.millis);
  total.memory_bytes += shard.memory_bytes;
}

void reply_info(rm::Ctx* ctx, const IndexSpec& spec, const InfoFigures& f,
                const std::function<long(rm::Ctx*)>& extra) {
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
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.num_docs));
  key("num_records");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.num_docs));
  key("hash_indexing_failures");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.hash_indexing_failures));
  // The same keys by reason (vindex's IndexingFailure codes; names as vindex writes them).
  key("hash_indexing_failures_by_reason");
  rm::ReplyWithArray(ctx, 2 * static_cast<long>(vindex::kIndexingFailureCodes - 1));
  for (std::size_t code = 1; code < vindex::kIndexingFailureCodes; ++code) {
    reply_str(ctx, vindex::to_string(static_cast<vindex::IndexingFailure>(code)));
    rm::ReplyWithLongLong(ctx, static_cast<long long>(f.failures_by_code[code]));
  }
  key("indexing");
  rm::ReplyWithLongLong(ctx, f.in_progress ? 1 : 0);
  key("percent_indexed");
  reply_str(ctx, format_double(f.percent / 100.0));
  key("backfill_in_progress");
  rm::ReplyWithLongLong(ctx, f.in_progress ? 1 : 0);
  key("backfill_complete_percent");
  reply_str(ctx, format_double(f.percent));
  key("state");
  reply_str(ctx, f.state);
  key("backfill_error");
  reply_str(ctx, f.backfill_error);
  key("scan_mode");
  reply_str(ctx, f.reconciling ? "reconcile" : "backfill");
  key("scan_counts");
  rm::ReplyWithArray(ctx, 12);
  static constexpr const char* kCountNames[6] = {"keys_scanned", "inserted", "updated",
                                                 "unchanged",    "removed",  "skipped"};
  for (int i = 0; i < 6; ++i) {
    reply_str(ctx, kCountNames[i]);
    rm::ReplyWithLongLong(ctx, static_cast<long long>(f.counts[i]));
  }
  // Persistence: how the last RDB / AOF-preamble load restored this index, and what the reconcile
  // scan that followed did (zero unless the current or last scan is that reconcile).
  key("snapshot_loaded");
  rm::ReplyWithLongLong(ctx, f.snapshot.loaded ? 1 : 0);
  key("snapshot_load_error");
  reply_str(ctx, f.snapshot.error);
  key("snapshot_bytes");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.snapshot.bytes));
  key("snapshot_load_ms");
  reply_str(ctx, format_double(f.snapshot.millis));
  const std::pair<const char*, std::uint64_t> reconcile[] = {{"reconcile_kept", f.reconciling ? f.counts[3] : 0},
                                                             {"reconcile_reindexed", f.reconciling ? f.counts[2] : 0},
                                                             {"reconcile_removed", f.reconciling ? f.counts[4] : 0},
                                                             {"reconcile_added", f.reconciling ? f.counts[1] : 0}};
  for (const auto& [name, value] : reconcile) {
    key(name);
    rm::ReplyWithLongLong(ctx, static_cast<long long>(value));
  }
  // Queries that ran out of time: failed (vindex.on-timeout fail) or answered partially (return).
  key("search_timeouts");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.search_timeouts));
  key("search_partial_results");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.search_partial));
  // HNSW graph maintenance (zero for FLAT): tombstones not freed yet, rounds completed, and the
  // time spent maintaining inside writes (only when the timer falls behind) and from the timer.
  const vindex::HnswMaintenanceStats& m = f.maintenance;
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
  reply_str(ctx, format_double(static_cast<double>(f.memory_bytes) / (1024.0 * 1024.0)));
  key("total_memory_bytes");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.memory_bytes));
  // The index's memory account (module_memory.hpp): the most it held, its limit
  // (vindex.index-max-memory, 0: none) and the allocations that limit refused (each made a key an
  // out_of_memory indexing failure; refusals by vindex.max-memory are in INFO vindex).
  key("memory_peak_bytes");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.memory_peak_bytes));
  key("memory_limit_bytes");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.memory_limit_bytes));
  key("memory_limit_refusals");
  rm::ReplyWithLongLong(ctx, static_cast<long long>(f.memory_limit_refusals));
  if (extra) replied += extra(ctx);
  rm::ReplySetArrayLength(ctx, replied);
}

}  // namespace vindex_redis
