// vindex/source/keyspace/restore.hpp — a keyspace index's state for a snapshot, out and back in.
//
// `detail::KeyspaceRestore<IndexT>` (over scan.hpp, the last of KeyspaceIndex's bases) turns
// everything but the vector index — attribute rows, failure records and counters, the scan's
// checkpoint, queued writes — into a `KeyspaceState` (`exported_state`, lists sorted by key so that
// equal indexes export equal states), and validates and adopts one (`adopt`, behind the restoring
// constructor) against the vector index it was saved with. persist/keyspace_snapshot.hpp writes and
// reads the bytes. Thread-safety: `exported_state` runs with mutation_mutex_ held; `adopt` only from
// a constructor (nothing is shared yet). Errors: `adopt` throws Error(kCorruptData) naming the first
// disagreement. Next: source/keyspace/query.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/keyspace/scan.hpp"
#include "vindex/source/keyspace/types.hpp"

namespace vindex::detail {

/// A keyspace index's state, writes and scan plus its snapshot hook (see the header comment).
template <VectorIndex IndexT>
struct KeyspaceRestore : KeyspaceScan<IndexT> {
  using Scan = KeyspaceScan<IndexT>;
  using Scan::attributes_;
  using Scan::checkpoint_locked;
  using Scan::counts_;
  using Scan::cursor_;
  using Scan::definition_;
  using Scan::failing_;
  using Scan::failure_events_;
  using Scan::index_;
  using Scan::mode_;
  using Scan::pending_;
  using Scan::pending_set_;
  using Scan::seen_;
  using Scan::set_failure;
  using Scan::state_;
  using Scan::touched_;

  using Scan::Scan;

  // Everything but the vector index, as plain data. Caller holds mutation_mutex_.
  KeyspaceState exported_state() const {
    KeyspaceState s;
    s.definition = definition_;  // writers of the data below all hold mutation_mutex_
    attributes_.for_each([&](KeyView key, const AttributeRow& row) { s.attributes.emplace_back(key, row); });
    std::sort(s.attributes.begin(), s.attributes.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [key, why] : failing_) s.failing.emplace_back(Key(key), why);
    std::sort(s.failing.begin(), s.failing.end());
    s.failure_events = failure_events_;
    s.checkpoint = checkpoint_locked();
    s.pending.assign(pending_.begin(), pending_.end());
    return s;
  }

  // Validates `s` against the vector index and takes it over (s.definition is already adopted).
  void adopt(KeyspaceState s) {
    auto corrupt = [](const std::string& what) { throw Error(ErrorCode::kCorruptData, what); };
    if (!definition_.attributes.empty() && s.attributes.size() != index_->size())
      corrupt("snapshot has " + std::to_string(s.attributes.size()) + " attribute rows for " +
              std::to_string(index_->size()) + " indexed entries");
    if (definition_.attributes.empty() && !s.attributes.empty())
      corrupt("snapshot has attribute rows but the definition has no attribute fields");
    for (auto& [key, row] : s.attributes) {
      if (!index_->contains(key)) corrupt("attribute row for key " + printable_key(key) + " not in the index");
      if (row.size() != definition_.attributes.size())
        corrupt("attribute row for key " + printable_key(key) + " has " + std::to_string(row.size()) +
                " values, expected " + std::to_string(definition_.attributes.size()));
      if (attributes_.contains(key)) corrupt("duplicate attribute row for key " + printable_key(key));
      attributes_.set(key, row);
    }
    for (const auto& [key, why] : s.failing) {
      const auto code = static_cast<std::size_t>(why);
      if (code == 0 || code >= kIndexingFailureCodes)
        corrupt("failure code " + std::to_string(code) + " for key " + printable_key(key));
      if (failing_.count(key)) corrupt("duplicate failure record for key " + printable_key(key));
      if (index_->contains(key)) corrupt("failing key " + printable_key(key) + " is indexed");
      set_failure(key, why);
    }
    if (s.failure_events.by_code[0] != 0) corrupt("failure event counter for code 0");
    failure_events_ = s.failure_events;
    const BackfillCheckpoint& c = s.checkpoint;
    if (static_cast<std::uint8_t>(c.state) > static_cast<std::uint8_t>(BackfillState::kCancelled))
      corrupt("unknown backfill state code " + std::to_string(static_cast<int>(c.state)));
    if (c.mode != ScanMode::kBackfill && c.mode != ScanMode::kReconcile)
      corrupt("unknown scan mode code " + std::to_string(static_cast<int>(c.mode)));
    state_ = c.state;
    mode_ = c.mode;
    cursor_ = c.cursor;
    counts_ = c.counts;
    for (const Key& key : c.touched) touched_.emplace(key);
    for (const Key& key : c.seen) seen_.emplace(key);
    for (const Key& key : s.pending)
      if (pending_set_.emplace(key).second) pending_.emplace_back(key);
  }
};

}  // namespace vindex::detail
