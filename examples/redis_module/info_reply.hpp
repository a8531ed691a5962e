// examples/redis_module/info_reply.hpp — the FT.INFO reply, from an index's definition and figures.
//
// `InfoFigures` holds the numbers FT.INFO reports about an index's contents and scans; the single
// node takes them from its own index (`local_figures`), cluster mode sums them over the shards
// (`add_shard`). `reply_info` writes RediSearch's flat (name, value) reply shape that redis-py's
// `ft().info()` parses, with the definition first and the figures after; cluster mode appends its
// own fields through `extra`. Main thread only. Next: commands.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "index_registry.hpp"
#include "module_api.hpp"
#include "reply_array.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/source/backfill.hpp"

namespace vindex_redis {

/// What FT.INFO reports besides the definition.
struct InfoFigures {
  std::uint64_t num_docs = 0;
  std::uint64_t hash_indexing_failures = 0;
  std::array<std::uint64_t, vindex::kIndexingFailureCodes> failures_by_code{};  ///< [0] unused
  bool in_progress = false;        ///< a scan is running or paused
  double percent = 100;            ///< backfill_complete_percent
  std::string state = "ready";
  std::string backfill_error;
  bool reconciling = false;        ///< scan_mode reconcile
  std::uint64_t counts[6] = {};    ///< keys_scanned, inserted, updated, unchanged, removed, skipped
  SnapshotLoad snapshot;
  std::uint64_t search_timeouts = 0;   ///< FT.SEARCHes that failed at their deadline
  std::uint64_t search_partial = 0;    ///< FT.SEARCHes answered with partial hits
  std::uint64_t memory_bytes = 0;       ///< bytes the index's memory account holds (exact)
  /// HNSW graph maintenance (zero for FLAT). Cluster mode sums them over the shards (the longest
  /// write: the longest of any shard); only pending_tombstones, rounds and the times travel.
  vindex::HnswMaintenanceStats maintenance{};
  /// The vector index's memory by part (vectors, SQ8 codes, links, keys, other; scratch does not
  /// travel in cluster mode); summed over the shards.
  vindex::HnswMemory memory_parts{};
  /// The index's memory account: its peak, its limit (vindex.index-max-memory, 0: none) and the
  /// allocations that limit refused. Cluster mode sums them (the peaks of shards, which need not
  /// have come at the same moment; the limits of the shards' nodes).
  std::uint64_t memory_peak_bytes = 0;
  std::uint64_t memory_limit_bytes = 0;
  std::uint64_t memory_limit_refusals = 0;
};

/// The figures of this node's index.
InfoFigures local_figures(const IndexEntry& entry);

/// Adds one shard's figures to an aggregate (sums; any scan in progress; the lowest percent; the
/// worst state; the first error; the snapshot loaded only when every shard's was).
void add_shard(InfoFigures& total, const InfoFigures& shard, bool first);

/// Replies FT.INFO for `spec`. `extra`, when given, adds more (name, value) pairs at the end of the
/// reply's array.
void reply_info(rm::Ctx* ctx, const IndexSpec& spec, const InfoFigures& figures,
                const std::function<void(ReplyArray&)>& extra = {});

}  // namespace vindex_redis
