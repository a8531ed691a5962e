// examples/redis_module/index_registry.hpp — the module's indexes by name, and the backfill timer.
//
// One `Registry` holds every index: its parsed FT.CREATE (`IndexSpec`) and the vindex index behind
// it (`AnyIndex`). Backfill and reconcile scans advance from a server timer in bounded steps (a few
// milliseconds per tick), so the server keeps answering other clients between ticks. The same timer
// runs HNSW maintenance (tombstone repair and freeing, see vindex's HnswIndex::maintain) for up to
// kMaintainBudget per tick, so a write (HSET, DEL, UNLINK…) only inserts or tombstones its entry:
// it maintains the graph itself only if the timer falls behind by 1/16 of the entries, and then at
// most HnswIndex::maintenance_work_per_write() units. While the
// server loads an RDB or AOF, keyspace events are ignored and indexes wait; when loading ends each
// index reconciles against (or backfills from) the loaded keyspace. Main thread only.
// Next: commands.cpp, events.cpp, persistence.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "any_index.hpp"
#include "index_spec.hpp"
#include "module_api.hpp"
#include "vindex/core/memory.hpp"

namespace vindex_redis {

/// What an index needs once the keyspace has loaded.
enum class AfterLoad { kNothing, kBackfill, kReconcile };

/// How an index came back from the last RDB / AOF-preamble load (FT.INFO's snapshot_* fields).
struct SnapshotLoad {
  bool attempted = false;        ///< the index was defined in a loaded RDB
  bool loaded = false;           ///< its vindex snapshot was loaded (else: rebuilt by a backfill)
  std::string error;             ///< why the snapshot was not loaded (empty when it was)
  std::uint64_t bytes = 0;       ///< snapshot bytes read from the RDB
  double millis = 0;             ///< time spent decoding the snapshot
  bool expiry_unknown = false;   ///< loaded keys whose TTL the module has not read yet (until the
                                 ///< reconcile scan completes; see expiry.hpp)
};

/// One index.
struct IndexEntry {
  IndexSpec spec;                       ///< what FT.CREATE asked for
  /// The index's memory account (module_memory.hpp): what FT.INFO reports, kept across the rebuilds
  /// of a flush or SWAPDB. The index shares it, so it outlives the index in any order of destruction.
  std::shared_ptr<vindex::MemoryAccount> memory;
  std::unique_ptr<AnyIndex> index;      ///< the vindex index
  AfterLoad after_load = AfterLoad::kNothing;  ///< scan to start when loading ends
  SnapshotLoad snapshot;                ///< how the last load restored it
  std::uint64_t search_timeouts = 0;    ///< FT.SEARCHes that failed at their deadline
  std::uint64_t search_partial = 0;     ///< FT.SEARCHes answered with partial hits (vindex.on-timeout return)
};

/// All indexes of the module.
class Registry {
 public:
  /// The index called `name`, or null.
  IndexEntry* find(std::string_view name);
  /// Adds an index (replacing none: the caller checked the name) and returns it.
  IndexEntry& add(IndexEntry entry);
  /// Builds the index `spec` describes, its memory on a new account chained to the module's, and
  /// adds it (the caller checked the name): its backfill starts now, after the load when loading, or
  /// never with SKIPINITIALSCAN. FT.CREATE and the cluster catalog's apply.
  IndexEntry& create(rm::Ctx* ctx, IndexSpec spec);
  /// Removes the index called `name`; false when absent.
  bool drop(std::string_view name);
  /// Removes every index (before an RDB load replaces them).
  void clear() { indexes_.clear(); }
  /// Every index, by name.
  std::map<std::string, IndexEntry, std::less<>>& all() { return indexes_; }

  /// Replaces every index by an empty one with the same definition (after FLUSHALL / FLUSHDB).
  void reset_all();

  /// True between the start and the end of an RDB / AOF load.
  bool loading() const noexcept { return loading_; }
  /// Loading started: keyspace events are ignored until it ends.
  void loading_started() { loading_ = true; }
  /// Loading ended: starts each index's reconcile or backfill and the timer.
  void loading_ended(rm::Ctx* ctx);

  /// A key changed (`removal`: it no longer exists under this name): runs vindex's on_write or
  /// on_delete on every index whose prefixes match. Inside a Busy region the change is queued and
  /// applied when the region ends. Never throws.
  void key_changed(rm::Ctx* ctx, std::string_view key, bool removal);

  /// Re-reads, in every index, the entries (indexed or failing) whose key `pick` selects, as a
  /// write of that key would: entries whose key is gone are removed. Returns how many were
  /// removed. For keys the server deleted without notifying modules (cluster.hpp: slot loss).
  std::size_t reconcile_keys(rm::Ctx* ctx, const std::function<bool(std::string_view)>& pick);

  /// A region in which vindex may be reading the keyspace. Reading a key can expire it, and the
  /// server then notifies the module synchronously; those notifications are queued instead of
  /// re-entering vindex (whose mutation calls are not re-entrant) and applied when the outermost
  /// region ends.
  class Busy {
   public:
    Busy(Registry& registry, rm::Ctx* ctx) : registry_(registry), ctx_(ctx) { ++registry_.busy_; }
    ~Busy();
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    Registry& registry_;
    rm::Ctx* ctx_;
  };

  /// Makes sure the timer is running when some index is scanning or has maintenance pending.
  void schedule(rm::Ctx* ctx);
  /// One timer tick: advances every scanning index, then every index's maintenance, each for a
  /// bounded time.
  void tick(rm::Ctx* ctx);

  /// Budget of one timer tick across all scanning indexes.
  static constexpr std::chrono::milliseconds kTickBudget{5};
  /// Budget of one timer tick for HNSW maintenance across all indexes (kTickBudget while some
  /// index has tombstones pending for 1/32 of its entries).
  static constexpr std::chrono::milliseconds kMaintainBudget{2};
  /// Entries per vindex step inside a tick.
  static constexpr std::size_t kStepKeys = 64;

 private:
  std::map<std::string, IndexEntry, std::less<>> indexes_;
  bool loading_ = false;
  bool timer_armed_ = false;
  int busy_ = 0;
  std::deque<std::pair<std::string, bool>> deferred_;

  void apply(rm::Ctx* ctx, std::string_view key, bool removal);
};

/// The module's registry.
Registry& registry();

}  // namespace vindex_redis
