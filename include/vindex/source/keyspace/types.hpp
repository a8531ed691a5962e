// vindex/source/keyspace/types.hpp — the plain types of KeyspaceIndex's interface: options, memory
// breakdown, the key predicate a query may add, a hook's outcome and the state a snapshot stores.
//
// Values only, no behaviour; they live apart from source/keyspace_index.hpp so that the parts under
// source/keyspace/ (which that header includes) can name them without including it. Thread-safety:
// plain values (a KeyPredicate is called from whichever thread searches). Next:
// source/keyspace/core.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/index_definition.hpp"

namespace vindex {

/// Tunables of a keyspace index.
struct KeyspaceOptions {
  /// A filter matching at most this many entries is passed to the vector index as an allow-list
  /// (the index then knows the match count: HNSW scans the matches exactly when that is cheaper
  /// than a filtered graph walk, FLAT always scans); a larger one as a predicate (filtering inside
  /// the search).
  std::size_t allow_list_max = 4096;
  /// Queue hook calls and apply each queued key once at the next step or `flush_writes()`, instead
  /// of applying every call at once.
  bool defer_writes = false;
};

/// Where a keyspace index's memory goes (bytes); total() equals KeyspaceIndex::memory_bytes().
struct KeyspaceMemory {
  std::size_t index = 0;        ///< the vector index (its memory_bytes())
  std::size_t attributes = 0;   ///< TAG/NUMERIC values and their indexes
  std::size_t bookkeeping = 0;  ///< failing keys, a scan's touched and seen keys, queued writes
  /// Sum of the parts.
  std::size_t total() const noexcept { return index + attributes + bookkeeping; }
};

/// A host's predicate on keys, ANDed with a search's filter (see KeyspaceIndex::search).
using KeyPredicate = std::function<bool(KeyView key)>;

/// What a mutation hook (or a scan visit) did to one key.
enum class EntryOutcome : std::uint8_t {
  kInserted,    ///< the key entered the index
  kUpdated,     ///< its vector or attributes changed
  kUnchanged,   ///< already indexed exactly so: nothing written
  kRemoved,     ///< it left the index (deleted, lost its vector field, no longer matches)
  kNotIndexed,  ///< it was not indexed and still is not (no vector field, no prefix match, absent)
  kFailed,      ///< it belongs to the index but is invalid: not indexed (removed if it was), counted
  kDeferred,    ///< queued (defer_writes): applied at the next step or flush_writes()
};

/// Everything a snapshot must store about a keyspace index besides the vector index itself. Plain
/// data: `KeyspaceIndex::export_state()` fills it, the restoring constructor validates and adopts it.
struct KeyspaceState {
  IndexDefinition definition;                               ///< the definition
  std::vector<std::pair<Key, AttributeRow>> attributes;     ///< one row per indexed key (none when
                                                            ///< the definition has no attributes)
  std::vector<std::pair<Key, IndexingFailure>> failing;     ///< keys currently failing, with reason
  FailureCounts failure_events;                             ///< cumulative rejections
  BackfillCheckpoint checkpoint;                            ///< the scan's state and cursor
  std::vector<Key> pending;                                 ///< queued writes (defer_writes)
};

}  // namespace vindex
