// vindex/source/keyspace/core.hpp — the state KeyspaceIndex's parts share, and the two locks over it.
//
// `detail::KeyspaceCore<IndexT>` is a plain state struct: KeyspaceIndex (source/keyspace_index.hpp)
// derives privately from a chain of non-virtual bases rooted here, each adding one concern —
// writes.hpp (one key's write plan, failure records, the deferred-write queue) ← scan.hpp (the
// backfill/reconcile state machine and its steps) ← restore.hpp (the state a snapshot stores, out and
// back in). Query planning (query.hpp) is free functions, since it needs only the attribute index.
// Bases, not members, so the code reads as it did in one class and every call stays direct.
//
// Thread-safety, the discipline every part follows: `mutation_mutex_` serialises the mutating calls
// (and every call into the source); only the façade's public members take it, so every function of
// the parts except the const readers runs with it held. `data_mutex_` guards the fields declared
// after it against the const readers (searches, progress(), the counters); whoever writes one of
// them takes it exclusively, and code holding mutation_mutex_ may read them without it. Errors: the
// constructor throws kInvalidArgument for an invalid definition or a null index. Next:
// source/keyspace/writes.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace/types.hpp"

namespace vindex::detail {

/// Hashes keys of any string type as bytes (transparent: finds a KeyView without copying it).
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
/// Compares keys of any string type as bytes (transparent, like KeyHash).
struct KeyEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};
/// A set of keys allocated from a memory resource (the keyspace bookkeeping).
using KeySet = std::pmr::unordered_set<std::pmr::string, KeyHash, KeyEqual>;

/// The state of a keyspace index, shared by its parts (see the header comment).
template <VectorIndex IndexT>
struct KeyspaceCore {
  /// The state of a new keyspace index (scan kIdle); see KeyspaceIndex's first constructor.
  KeyspaceCore(IndexDefinition definition, KeyValueSource& source, std::unique_ptr<IndexT> index,
               KeyspaceOptions options)
      : definition_(validated(std::move(definition))),
        source_(source),
        index_(validated(std::move(index))),
        options_(options),
        attributes_(definition_, memory_of(*index_)),
        bookkeeping_(uncapped(memory_of(*index_)), MemoryAccount::kUnlimited, "the keyspace bookkeeping"),
        failing_(&bookkeeping_),
        touched_(&bookkeeping_),
        seen_(&bookkeeping_),
        pending_(&bookkeeping_),
        pending_set_(&bookkeeping_) {}

  // The definition, validated (throws kInvalidArgument).
  static IndexDefinition validated(IndexDefinition definition) {
    definition.validate();
    return definition;
  }
  // The index, which must not be null (throws kInvalidArgument).
  static std::unique_ptr<IndexT> validated(std::unique_ptr<IndexT> index) {
    if (!index) throw Error(ErrorCode::kInvalidArgument, "KeyspaceIndex needs a vector index");
    return index;
  }
  // The memory resource of a vector index that has one, else null (operator new).
  static std::pmr::memory_resource* memory_of(const IndexT& index) noexcept {
    if constexpr (AllocatingIndex<IndexT>) {
      return index.memory_resource();
    } else {
      return nullptr;
    }
  }

  // True while a scan is running, paused or failed (resumable), i.e. has a cursor and key sets.
  bool scan_open() const noexcept {
    return state_ == BackfillState::kBackfilling || state_ == BackfillState::kPaused ||
           state_ == BackfillState::kFailed;
  }

  // Empties touched_ and seen_, giving back their bucket arrays too (a reconcile's seen_ has one
  // bucket per key of the keyspace). Mutating thread.
  void forget_scan_keys() {
    KeySet(&bookkeeping_).swap(touched_);
    KeySet(&bookkeeping_).swap(seen_);
  }

  IndexDefinition definition_;
  KeyValueSource& source_;
  std::unique_ptr<IndexT> index_;
  KeyspaceOptions options_;

  mutable std::mutex mutation_mutex_;  // serialises mutating calls (and all source calls)
  // Guards everything below against readers. Every writer also holds mutation_mutex_, so code that
  // holds mutation_mutex_ may read without it.
  mutable std::shared_mutex data_mutex_;
  AttributeIndex attributes_;
  MemoryAccount bookkeeping_;  // counts the bookkeeping below (uncapped: see keyspace_index.hpp)
  std::pmr::unordered_map<std::pmr::string, IndexingFailure, KeyHash, KeyEqual> failing_;
  FailureCounts failures_;
  FailureCounts failure_events_;
  BackfillState state_ = BackfillState::kIdle;
  ScanMode mode_ = ScanMode::kBackfill;
  Cursor cursor_ = 0;
  ScanCounts counts_;
  std::uint64_t approximate_total_ = 0;
  std::string error_;
  // Written only under mutation_mutex_ (readers of these also hold it).
  KeySet touched_;
  KeySet seen_;
  std::pmr::vector<std::pmr::string> pending_;
  KeySet pending_set_;
};

}  // namespace vindex::detail
