// examples/redis_module/info_reply.cpp — FT.INFO's reply shape.
#include "info_reply.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "command_util.hpp"
#include "module_memory.hpp"
#include "reply_array.hpp"

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
  f.memory_parts = entry.index->memory_breakdown().value_or(vindex::HnswMemory{});
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
  total.memory_parts.vectors += shard.memory_parts.vectors;
  total.memory_parts.codes += shard.memory_parts.codes;
  total.memory_parts.links += shard.memory_parts.links;
  total.memory_parts.keys += shard.memory_parts.keys;
  total.memory_parts.other += shard.memory_parts.other;
  total.memory_peak_bytes += shard.memory_peak_bytes;
  total.memory_limit_bytes += shard.memory_limit_bytes;
  total.memory_limit_refusals += shard.memory_limit_refusals;
  vindex::HnswMaintenanceStats& m = total.maintenance;
  m.pending_tombstones += shard.maintenance.pending_tombstones;
  m.rounds += shard.maintenance.rounds;
  m.write_ns += shard.maintenance.write_ns;
  m.longest_write_ns = std::max(m.longest_write_ns, shard.maintenance.longest_write_ns);
  m.maintain_ns += shard.maintenance.maintain_ns;
}

void reply_info(rm::Ctx* ctx, const IndexSpec& spec, const InfoFigures& f,
                const std::function<void(ReplyArray&)>& extra) {
  ReplyArray r(ctx);
  const auto n = [](std::uint64_t v) { return static_cast<long long>(v); };
  r.str("index_name").str(spec.name);
  r.str("index_options").array([](ReplyArray&) {});
  r.str("index_definition").array([&](ReplyArray& d) {
    d.str("key_type").str("HASH");
    d.str("prefixes").array([&](ReplyArray& p) {
      for (const auto& prefix : spec.definition.prefixes) p.str(prefix);
    });
    d.str("default_score").str("1");
  });
  r.str("attributes").array([&](ReplyArray& attributes) {
    const bool hnsw = spec.algorithm == Algorithm::kHnsw;
    attributes.array([&](ReplyArray& v) {
      v.str("identifier").str(spec.definition.vector_field);
      v.str("attribute").str(spec.definition.vector_field);
      v.str("type").str("VECTOR");
      v.str("algorithm").str(to_string(spec.algorithm));
      v.str("data_type").str(vindex::to_string(spec.schema.type));
      v.str("dim").num(spec.schema.dim);
      v.str("distance_metric").str(vindex::to_string(spec.schema.metric));
      v.str("initial_cap").num(n(hnsw ? spec.hnsw.initial_cap : spec.flat.initial_cap));
      v.str("block_size").num(n(hnsw ? spec.hnsw.block_size : spec.flat.block_size));
      if (hnsw) {
        v.str("M").num(n(spec.hnsw.m));
        v.str("ef_construction").num(n(spec.hnsw.ef_construction));
        v.str("ef_runtime").num(n(spec.hnsw.ef_runtime));
        v.str("epsilon").real(spec.hnsw.epsilon);
      }
      v.str("compression").str(spec.compression == Compression::kSq8 ? "SQ8" : "NONE");
      if (spec.compression == Compression::kSq8)
        v.str("exact_vectors").str(spec.flat.exact_vectors == vindex::ExactVectors::kHost ? "HASH" : "INDEX");
    });
    for (const auto& a : spec.definition.attributes) {
      attributes.array([&](ReplyArray& t) {
        t.str("identifier").str(a.name);
        t.str("attribute").str(a.name);
        t.str("type").str(vindex::to_string(a.type));
        if (a.type == vindex::AttributeType::kTag) {
          t.str("SEPARATOR").str(std::string_view(&a.separator, 1));
          if (a.case_sensitive) t.str("CASESENSITIVE");
        }
      });
    }
  });
  r.str("num_docs").num(n(f.num_docs));
  r.str("num_records").num(n(f.num_docs));
  r.str("hash_indexing_failures").num(n(f.hash_indexing_failures));
  // The same keys by reason (vindex's IndexingFailure codes; names as vindex writes them).
  r.str("hash_indexing_failures_by_reason").array([&](ReplyArray& reasons) {
    for (std::size_t code = 1; code < vindex::kIndexingFailureCodes; ++code)
      reasons.str(vindex::to_string(static_cast<vindex::IndexingFailure>(code))).num(n(f.failures_by_code[code]));
  });
  r.str("indexing").num(f.in_progress ? 1 : 0);
  r.str("percent_indexed").real(f.percent / 100.0);
  r.str("backfill_in_progress").num(f.in_progress ? 1 : 0);
  r.str("backfill_complete_percent").real(f.percent);
  r.str("state").str(f.state);
  r.str("backfill_error").str(f.backfill_error);
  r.str("scan_mode").str(f.reconciling ? "reconcile" : "backfill");
  r.str("scan_counts").array([&](ReplyArray& counts) {
    static constexpr const char* kCountNames[6] = {"keys_scanned", "inserted", "updated",
                                                   "unchanged",    "removed",  "skipped"};
    for (int i = 0; i < 6; ++i) counts.str(kCountNames[i]).num(n(f.counts[i]));
  });
  // Persistence: how the last RDB / AOF-preamble load restored this index, and what the reconcile
  // scan that followed did (zero unless the current or last scan is that reconcile).
  r.str("snapshot_loaded").num(f.snapshot.loaded ? 1 : 0);
  r.str("snapshot_load_error").str(f.snapshot.error);
  r.str("snapshot_bytes").num(n(f.snapshot.bytes));
  r.str("snapshot_load_ms").real(f.snapshot.millis);
  r.str("reconcile_kept").num(n(f.reconciling ? f.counts[3] : 0));
  r.str("reconcile_reindexed").num(n(f.reconciling ? f.counts[2] : 0));
  r.str("reconcile_removed").num(n(f.reconciling ? f.counts[4] : 0));
  r.str("reconcile_added").num(n(f.reconciling ? f.counts[1] : 0));
  // Queries that ran out of time: failed (vindex.on-timeout fail) or answered partially (return).
  r.str("search_timeouts").num(n(f.search_timeouts));
  r.str("search_partial_results").num(n(f.search_partial));
  // HNSW graph maintenance (zero for FLAT): tombstones not freed yet, rounds completed, and the
  // time spent maintaining inside writes (only when the timer falls behind) and from the timer.
  const vindex::HnswMaintenanceStats& m = f.maintenance;
  r.str("maintenance_pending_tombstones").num(n(m.pending_tombstones));
  r.str("maintenance_rounds").num(n(m.rounds));
  r.str("maintenance_in_writes_ms").real(static_cast<double>(m.write_ns) / 1e6);
  r.str("maintenance_longest_in_write_ms").real(static_cast<double>(m.longest_write_ns) / 1e6);
  r.str("maintenance_in_timer_ms").real(static_cast<double>(m.maintain_ns) / 1e6);
  r.str("vector_index_sz_mb").real(static_cast<double>(f.memory_bytes) / (1024.0 * 1024.0));
  r.str("total_memory_bytes").num(n(f.memory_bytes));
  // The index's memory account (module_memory.hpp): the most it held, its limit
  // (vindex.index-max-memory, 0: none) and the allocations that limit refused (each made a key an
  // out_of_memory indexing failure; refusals by vindex.max-memory are in INFO vindex).
  r.str("memory_peak_bytes").num(n(f.memory_peak_bytes));
  r.str("memory_limit_bytes").num(n(f.memory_limit_bytes));
  r.str("memory_limit_refusals").num(n(f.memory_limit_refusals));
  // The vector index bytes by part (FLAT: no graph), summed over the shards in cluster mode. Under
  // COMPRESSION SQ8 the walk or scan reads the codes and the float copy serves exact re-ranking; with
  // EXACT_VECTORS HASH the float copy goes (vector_memory_bytes: COSINE magnitudes only) once the
  // quantizer's training is final.
  r.str("vector_memory_bytes").num(n(f.memory_parts.vectors));
  r.str("vector_codes_memory_bytes").num(n(f.memory_parts.codes));
  r.str("graph_memory_bytes").num(n(f.memory_parts.links));
  r.str("key_memory_bytes").num(n(f.memory_parts.keys));
  if (extra) extra(r);
}

}  // namespace vindex_redis
