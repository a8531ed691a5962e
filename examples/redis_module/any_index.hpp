// examples/redis_module/any_index.hpp — one runtime-chosen vindex keyspace index.
//
// FT.CREATE picks the algorithm (FLAT/HNSW) and the metric (L2/IP/COSINE) at run time, while vindex
// takes them as template parameters. `AnyIndex` is the small virtual interface the module talks to;
// `make_index` instantiates `vindex::KeyspaceIndex<FlatIndex|HnswIndex<T, Metric>>` behind it, with
// T the TYPE's element (float, Float16, BFloat16).
// Every call forwards to vindex: backfill steps, reconcile, mutation hooks, filtered search,
// snapshots. Every allocation of the index (vectors, graph, keys, attributes, bookkeeping) comes
// from the memory account it is made with, which it keeps alive (module_memory.hpp). Same
// thread-safety as KeyspaceIndex (the module uses it from the main thread only).
// Next: redis_source.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "index_spec.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace_index.hpp"

namespace vindex {
class Serializer;
class Deserializer;
}  // namespace vindex

namespace vindex_redis {

/// A vindex keyspace index of any algorithm and metric.
class AnyIndex {
 public:
  virtual ~AnyIndex() = default;

  /// Starts a backfill scan of the whole keyspace.
  virtual void start_backfill() = 0;
  /// Starts a reconcile scan (after a snapshot load).
  virtual void start_reconcile() = 0;
  /// Runs scan steps for about `budget` (at least one step of `batch_keys`); returns the state.
  virtual vindex::BackfillState step_for(std::chrono::nanoseconds budget, std::size_t batch_keys) = 0;
  /// State, counters, percent.
  virtual vindex::BackfillProgress progress() const = 0;
  /// The host wrote `key`.
  virtual vindex::EntryOutcome on_write(vindex::KeyView key) = 0;
  /// The host deleted `key`.
  virtual vindex::EntryOutcome on_delete(vindex::KeyView key) = 0;
  /// Runs the vector index's maintenance (HNSW: tombstone repair, slot freeing, reachability) for
  /// about `budget`; true while more is pending. FLAT has none: false.
  virtual bool maintain_for(std::chrono::nanoseconds budget) = 0;
  /// True while the vector index has maintenance pending (the timer keeps running).
  virtual bool maintenance_pending() const = 0;
  /// The vector index's memory split into vectors, SQ8 codes, links (HNSW; 0 for FLAT), keys and
  /// other; never nullopt today.
  virtual std::optional<vindex::HnswMemory> memory_breakdown() const = 0;
  /// The vector index's maintenance counters (HNSW), or nullopt (FLAT).
  virtual std::optional<vindex::HnswMaintenanceStats> maintenance_stats() const = 0;
  /// Filtered KNN; `keep`, when set, is a predicate on keys ANDed inside the search.
  virtual std::vector<vindex::SearchResult> search(std::span<const float> query, std::size_t k,
                                                   const vindex::FilterExpr& filter, vindex::SearchOptions options,
                                                   const vindex::KeyPredicate& keep = {}) const = 0;
  /// Indexed entries.
  virtual std::size_t size() const = 0;
  /// The keys, indexed or recorded as failing, that `pick` selects.
  virtual std::vector<std::string> keys_where(const std::function<bool(vindex::KeyView)>& pick) const = 0;
  /// Bytes held by the vector index and the attribute index.
  virtual std::size_t memory_bytes() const = 0;
  /// The definition (prefixes, fields).
  virtual const vindex::IndexDefinition& definition() const = 0;
  /// Writes the whole keyspace index (vectors, HNSW graph, TAG/NUMERIC values, failing keys,
  /// failure counters, scan checkpoint) as a vindex keyspace snapshot.
  virtual void save(vindex::Serializer& out) const = 0;
};

/// A new, empty index for `spec` over `source` (which must outlive it), allocating from `memory`.
std::unique_ptr<AnyIndex> make_index(const IndexSpec& spec, vindex::KeyValueSource& source,
                                     std::shared_ptr<vindex::MemoryAccount> memory);

/// An index for `spec` restored from a vindex keyspace snapshot in `in` (vectors, HNSW graph,
/// attribute values, failures): nothing is re-inserted. Whatever changed in the keyspace since the
/// snapshot is caught up by a reconcile scan, which the caller starts once the keyspace has loaded.
/// Throws vindex::Error when the snapshot is damaged, truncated, of another format version, or does
/// not match `spec` (schema, algorithm, metric, definition), and std::bad_alloc (a MemoryLimitExceeded)
/// when the index does not fit in `memory`, having given back all it took; the caller then backfills
/// instead.
std::unique_ptr<AnyIndex> load_index(const IndexSpec& spec, vindex::KeyValueSource& source,
                                     vindex::Deserializer& in, std::shared_ptr<vindex::MemoryAccount> memory);

}  // namespace vindex_redis
