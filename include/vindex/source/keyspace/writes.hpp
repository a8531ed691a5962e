// vindex/source/keyspace/writes.hpp — writing one key: its plan, its booking, and deferred writes.
//
// `detail::KeyspaceWrites<IndexT>` (over core.hpp) decides one key's fate from its fields on the
// mutating thread (`prepare`: not indexed, a failure with its reason, or an upsert with its attribute
// row), carries it out on the vector index on any thread (`execute`), then books it on the mutating
// thread (`settle`: attributes, the failure records and counters, the outcome). The mutation hooks
// (`apply_from_source`, `apply_delete`) and the backfill's steps (scan.hpp) are all made of these
// three. Here too: the queue of deferred writes (`queue`, `drain_pending`) and the touched/seen marks
// a hook leaves for a running scan.
//
// Thread-safety: the caller holds mutation_mutex_ (see core.hpp), except for `execute` without
// staging, which a parallel step runs on several threads at once (IndexT's writes are thread-safe).
// Errors: running out of memory is a failure of the key (IndexingFailure::kOutOfMemory), never an
// exception; a source read that throws becomes Error(kSourceFailure); what IndexT throws for an
// internal failure passes through. Next: source/keyspace/scan.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace/core.hpp"
#include "vindex/source/keyspace/types.hpp"

namespace vindex::detail {

/// A keyspace index's state plus the writing of one key (see the header comment).
template <VectorIndex IndexT>
struct KeyspaceWrites : KeyspaceCore<IndexT> {
  using Core = KeyspaceCore<IndexT>;
  using Core::attributes_;
  using Core::data_mutex_;
  using Core::definition_;
  using Core::error_;
  using Core::failing_;
  using Core::failure_events_;
  using Core::failures_;
  using Core::index_;
  using Core::mode_;
  using Core::pending_;
  using Core::pending_set_;
  using Core::scan_open;
  using Core::seen_;
  using Core::source_;
  using Core::state_;
  using Core::touched_;

  using Core::Core;

  /// One key's fate, decided on the mutating thread (prepare), carried out on the vector index on any
  /// thread (execute), then booked on the mutating thread (settle).
  struct KeyPlan {
    enum class Action : std::uint8_t { kRemove, kFail, kUpsert };
    KeyView key;
    std::string_view blob;
    Action action = Action::kRemove;
    IndexingFailure failure = IndexingFailure::kWrongSize;
    AttributeRow row;
    UpsertResult upsert;
    AttributeIndex::Staged staged;  // the row, staged before the vector is written (serial paths)
    bool is_staged = false;
    bool erased = false;
    bool done = false;
  };

  // Decides what to do with `key` given its fields (null: the key does not exist).
  KeyPlan prepare(KeyView key, const FieldReader* fields) const {
    KeyPlan p;
    p.key = key;
    if (!fields || !definition_.matches_key(key)) return p;
    const std::optional<std::string_view> blob = fields->field(definition_.vector_field);
    if (!blob) return p;
    if constexpr (BoundedIndex<IndexT>) {
      if (key.size() > index_->limits().max_key_bytes) {
        p.action = KeyPlan::Action::kFail;
        p.failure = IndexingFailure::kKeyTooLong;
        return p;
      }
    }
    if (!definition_.attributes.empty()) {
      ParsedAttributes parsed = parse_attributes(
          definition_, [&](std::string_view name) { return fields->field(name); });
      if (parsed.bad_field) {
        p.action = KeyPlan::Action::kFail;
        p.failure = IndexingFailure::kBadNumeric;
        return p;
      }
      p.row = std::move(parsed.row);
    }
    p.action = KeyPlan::Action::kUpsert;
    p.blob = *blob;
    return p;
  }

  // Applies a plan to the vector index. Thread-safe (IndexT's writes are) without `stage`. With
  // `stage` (mutating thread only) the plan's attribute row is staged first, so that the key's memory
  // failing anywhere leaves the attribute index as it was; settle() commits it. Running out of memory
  // makes the plan a kOutOfMemory failure.
  void execute(KeyPlan& p, bool stage = false) {
    if (stage && p.action == KeyPlan::Action::kUpsert && !definition_.attributes.empty()) {
      std::unique_lock data(data_mutex_);
      try {
        p.staged = attributes_.stage(p.key, p.row);
        p.is_staged = true;
      } catch (const std::bad_alloc&) {
        p.action = KeyPlan::Action::kFail;
        p.failure = IndexingFailure::kOutOfMemory;
      }
    }
    if (p.action == KeyPlan::Action::kUpsert) {
      bool out_of_memory = false;
      try {
        p.upsert = index_->try_upsert_blob(p.key, p.blob);
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
      if (out_of_memory || p.upsert.outcome == UpsertOutcome::kRejected) {
        p.action = KeyPlan::Action::kFail;
        p.failure = out_of_memory ? IndexingFailure::kOutOfMemory : to_indexing_failure(p.upsert.failure);
        drop_staged(p);
      }
    }
    if (p.action != KeyPlan::Action::kUpsert) p.erased = index_->erase(p.key);
    p.done = true;
  }

  // Gives back a staged attribute row that will not be committed.
  void drop_staged(KeyPlan& p) noexcept {
    if (!p.is_staged) return;
    std::unique_lock data(data_mutex_);
    p.staged = {};
    p.is_staged = false;
  }

  // Books an executed plan: attributes, failure counters. Mutating thread only.
  EntryOutcome settle(KeyPlan& p) {
    std::unique_lock data(data_mutex_);
    switch (p.action) {
      case KeyPlan::Action::kRemove:
        attributes_.erase(p.key);
        clear_failure(p.key);
        return p.erased ? EntryOutcome::kRemoved : EntryOutcome::kNotIndexed;
      case KeyPlan::Action::kFail:
        attributes_.erase(p.key);
        set_failure(p.key, p.failure);
        ++failure_events_[p.failure];
        return EntryOutcome::kFailed;
      case KeyPlan::Action::kUpsert: {
        bool attributes_changed = false;
        if (p.is_staged) {
          attributes_changed = attributes_.commit(std::move(p.staged));
          p.is_staged = false;
        } else if (!definition_.attributes.empty()) {
          try {
            attributes_changed = attributes_.set(p.key, p.row);
          } catch (const std::bad_alloc&) {
            // The vector went in (a multi-threaded step) but its attributes do not fit: the key fails.
            p.erased = index_->erase(p.key) && p.upsert.outcome != UpsertOutcome::kInserted;
            p.action = KeyPlan::Action::kFail;
            p.failure = IndexingFailure::kOutOfMemory;
            attributes_.erase(p.key);
            set_failure(p.key, p.failure);
            ++failure_events_[p.failure];
            return EntryOutcome::kFailed;
          }
        }
        clear_failure(p.key);
        if (p.upsert.outcome == UpsertOutcome::kInserted) return EntryOutcome::kInserted;
        if (p.upsert.outcome == UpsertOutcome::kUpdated || attributes_changed)
          return EntryOutcome::kUpdated;
        return EntryOutcome::kUnchanged;
      }
    }
    return EntryOutcome::kNotIndexed;
  }

  // Records `key` as failing for `why` (replacing an earlier reason). Caller holds data_mutex_ or is
  // the restoring constructor.
  void set_failure(KeyView key, IndexingFailure why) {
    auto it = failing_.find(key);
    if (it == failing_.end()) {
      failing_.emplace(key, why);
    } else {
      --failures_[it->second];
      it->second = why;
    }
    ++failures_[why];
  }
  // Forgets that `key` was failing, if it was. Caller holds data_mutex_.
  void clear_failure(KeyView key) {
    if (failing_.empty()) return;
    auto it = failing_.find(key);
    if (it == failing_.end()) return;
    --failures_[it->second];
    failing_.erase(it);
  }

  // Reads `key` from the source and applies it. Mutating thread only.
  EntryOutcome apply_from_source(KeyView key) {
    KeyPlan plan;
    std::exception_ptr inner;
    bool found = false;
    try {
      found = source_.read(key, [&](const FieldReader& fields) {
        try {
          plan = prepare(key, &fields);
          execute(plan, true);  // inside the callback: the blob is only valid here
        } catch (...) {
          inner = std::current_exception();
        }
      });
    } catch (const std::exception& e) {
      if (!plan.done)
        throw Error(ErrorCode::kSourceFailure,
                    "reading key " + printable_key(key) + " failed: " + e.what());
    }
    if (inner) std::rethrow_exception(inner);
    if (!found && !plan.done) {
      plan = prepare(key, nullptr);
      execute(plan);
    }
    const EntryOutcome outcome = settle(plan);
    mark_touched(key);
    return outcome;
  }

  // Applies the deletion of `key` (no source read). Mutating thread only.
  EntryOutcome apply_delete(KeyView key) {
    KeyPlan plan = prepare(key, nullptr);
    execute(plan);
    const EntryOutcome outcome = settle(plan);
    mark_touched(key);
    return outcome;
  }

  // Tells an open scan that a hook has applied `key`: the scan skips it, and a reconcile keeps it.
  void mark_touched(KeyView key) {
    if (!scan_open()) return;
    touched_.emplace(key);
    if (mode_ == ScanMode::kReconcile) seen_.emplace(key);
  }

  // Queues `key` for the next step or flush (once, however often it is written before then).
  EntryOutcome queue(KeyView key) {
    if (pending_set_.emplace(key).second) pending_.emplace_back(key);
    return EntryOutcome::kDeferred;
  }

  // Applies every queued key in order; returns how many. Throws like apply_from_source.
  std::size_t drain_pending() {
    std::size_t applied = 0;
    try {
      for (; applied < pending_.size(); ++applied) {
        apply_from_source(pending_[applied]);
        pending_set_.erase(pending_[applied]);
      }
    } catch (...) {
      // Keep the failed key and the rest queued; the next step or flush retries them.
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(applied));
      throw;
    }
    pending_.clear();
    return applied;
  }

  // drain_pending() at the start of a step: a failure fails the running scan (kFailed, with the
  // error) instead of throwing.
  void drain_pending_nothrow() {
    if (pending_.empty()) return;
    try {
      drain_pending();
    } catch (const std::exception& e) {
      std::unique_lock data(data_mutex_);
      error_ = e.what();
      if (state_ == BackfillState::kBackfilling) state_ = BackfillState::kFailed;
    }
  }
};

}  // namespace vindex::detail
