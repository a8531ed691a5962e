// examples/redis_module/index_registry.hpp — the module's indexes by name, and the backfill timer.
//
// One `Registry` holds every index: its parsed FT.CREATE (`IndexSpec`) and the vindex index behind
// it (`AnyIndex`). Backfill and reconcile scans advance from a server timer in bounded steps (a few
// milliseconds per tick), so the server keeps answering other clients between ticks. While the
// server loads an RDB or AOF, keyspace events are ignored and indexes wait; when loading ends each
// index reconciles against (or backfills from) the loaded keyspace. Main thread only.
// Next: commands.cpp, events.cpp, persistence.cpp.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "any_index.hpp"
#include "index_spec.hpp"
#include "module_api.hpp"

namespace vindex_redis {

/// What an index needs once the keyspace has loaded.
enum class AfterLoad { kNothing, kBackfill, kReconcile };

/// One index.
struct IndexEntry {
  IndexSpec spec;                       ///< what FT.CREATE asked for
  std::unique_ptr<AnyIndex> index;      ///< the vindex index
  AfterLoad after_load = AfterLoad::kNothing;  ///< scan to start when loading ends
};

/// All indexes of the module.
class Registry {
 public:
  /// The index called `name`, or null.
  IndexEntry* find(std::string_view name);
  /// Adds an index (replacing none: the caller checked the name) and returns it.
  IndexEntry& add(IndexEntry entry);
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

  /// Makes sure the backfill timer is running when some index is scanning.
  void schedule(rm::Ctx* ctx);
  /// One timer tick: advances every scanning index for a bounded time.
  void tick(rm::Ctx* ctx);

  /// Budget of one timer tick across all indexes.
  static constexpr std::chrono::milliseconds kTickBudget{5};
  /// Entries per vindex step inside a tick.
  static constexpr std::size_t kStepKeys = 64;

 private:
  std::map<std::string, IndexEntry, std::less<>> indexes_;
  bool loading_ = false;
  bool timer_armed_ = false;
};

/// The module's registry.
Registry& registry();

}  // namespace vindex_redis
