// vindex/source/keyspace/scan.hpp — the backfill/reconcile scan: its state machine and its steps.
//
// `detail::KeyspaceScan<IndexT>` (over writes.hpp) drives the host's cursor scan. States (see
// source/backfill.hpp): kIdle → begin_scan → kBackfilling ⇄ kPaused; a step that completes the
// scan → kReady; a source or indexing failure → kFailed (resume_scan retries from the last cursor);
// cancel_scan → kCancelled. A step first applies queued writes, then visits up to max_keys entries:
// `admit` skips a key a hook applied since the scan started (and marks a reconcile's keys seen),
// then each entry is prepared, executed and settled (writes.hpp) — one by one on this thread
// (`serial_step`), or read here and inserted on executor tasks (`parallel_step`: `run_tasks`, or
// `run_batch` for an index that inserts a batch on its own workers). When a reconcile completes,
// `remove_unseen` removes the indexed entries (and failure records) the scan did not see.
//
// Thread-safety: the caller holds mutation_mutex_ (see core.hpp); `scan_progress` is a const reader
// and takes data_mutex_ shared. Errors: a step never throws for the source or for indexing; it
// stops the scan in kFailed with the reason in error_. Next: source/keyspace/restore.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vindex/core/executor.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace/core.hpp"
#include "vindex/source/keyspace/types.hpp"
#include "vindex/source/keyspace/writes.hpp"

namespace vindex::detail {

/// A keyspace index's state and writes plus the scan (see the header comment).
template <VectorIndex IndexT>
struct KeyspaceScan : KeyspaceWrites<IndexT> {
  using Writes = KeyspaceWrites<IndexT>;
  using typename Writes::KeyPlan;
  using Writes::approximate_total_;
  using Writes::attributes_;
  using Writes::clear_failure;
  using Writes::counts_;
  using Writes::cursor_;
  using Writes::data_mutex_;
  using Writes::definition_;
  using Writes::drain_pending_nothrow;
  using Writes::error_;
  using Writes::execute;
  using Writes::failing_;
  using Writes::failures_;
  using Writes::forget_scan_keys;
  using Writes::index_;
  using Writes::mode_;
  using Writes::prepare;
  using Writes::scan_open;
  using Writes::seen_;
  using Writes::settle;
  using Writes::source_;
  using Writes::state_;
  using Writes::touched_;

  using Writes::Writes;

  /// A key plan whose key and blob are copied out of the source callback (parallel steps), with the
  /// exception its execution threw.
  struct CopiedKeyPlan {
    Key key;
    std::string blob;
    KeyPlan plan;
    std::exception_ptr error;
  };

  // ---- the state machine ------------------------------------------------------------------------

  // Starts (or restarts) a scan from the beginning of the keyspace.
  void begin_scan(ScanMode mode) {
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kBackfilling;
    mode_ = mode;
    cursor_ = 0;
    counts_ = {};
    error_.clear();
    forget_scan_keys();
  }

  // kBackfilling → kPaused; false when no scan was running.
  bool pause_scan() {
    if (state_ != BackfillState::kBackfilling) return false;
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kPaused;
    return true;
  }

  // kPaused or kFailed → kBackfilling, from the last cursor; false when there was no such scan.
  bool resume_scan() {
    if (state_ != BackfillState::kPaused && state_ != BackfillState::kFailed) return false;
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kBackfilling;
    error_.clear();
    return true;
  }

  // An open scan → kCancelled (entries already indexed stay); false when there was none.
  bool cancel_scan() {
    if (!scan_open()) return false;
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kCancelled;
    forget_scan_keys();
    return true;
  }

  // Applies queued writes, then visits up to `max_keys` entries (at least 1) when a scan is running.
  BackfillState step_scan(std::size_t max_keys, const Executor& executor, std::size_t tasks) {
    drain_pending_nothrow();
    if (state_ != BackfillState::kBackfilling) return state_;
    refresh_total();
    if (executor && tasks > 1) return parallel_step(std::max<std::size_t>(max_keys, 1), executor, tasks);
    return serial_step(std::max<std::size_t>(max_keys, 1));
  }

  // State, counts, percent complete and failure counters. Any thread.
  BackfillProgress scan_progress() const {
    BackfillProgress p;
    {
      std::shared_lock data(data_mutex_);
      p.state = state_;
      p.mode = mode_;
      p.counts = counts_;
      p.approximate_total = approximate_total_;
      p.failures = failures_;
      p.error = error_;
    }
    p.entries_indexed = index_->size();
    if (p.state == BackfillState::kReady) {
      p.percent = 100;
    } else if (p.state != BackfillState::kIdle) {
      const double total = static_cast<double>(std::max<std::uint64_t>(p.approximate_total, 1));
      p.percent = std::min(99.9, 100.0 * static_cast<double>(p.counts.keys_scanned) / total);
    }
    return p;
  }

  // Where the scan stands. Every writer of these fields holds mutation_mutex_, as the caller does, so
  // no data lock is needed.
  BackfillCheckpoint checkpoint_locked() const {
    BackfillCheckpoint c;
    c.state = state_;
    c.mode = mode_;
    c.cursor = cursor_;
    c.counts = counts_;
    c.touched.assign(touched_.begin(), touched_.end());
    c.seen.assign(seen_.begin(), seen_.end());
    std::sort(c.touched.begin(), c.touched.end());
    std::sort(c.seen.begin(), c.seen.end());
    return c;
  }

  // ---- steps ------------------------------------------------------------------------------------

  // Asks the source for its approximate entry count (a progress estimate: a failure keeps the last).
  void refresh_total() {
    std::size_t total = approximate_total_;
    try {
      total = source_.approximate_count();
    } catch (...) {  // only a progress estimate: keep the last one
    }
    std::unique_lock data(data_mutex_);
    approximate_total_ = total;
  }

  // Adds one visit's outcome to a step's counts (a failing key that was indexed counts as removed).
  void tally(EntryOutcome outcome, bool erased, ScanCounts& c) {
    switch (outcome) {
      case EntryOutcome::kInserted: ++c.inserted; break;
      case EntryOutcome::kUpdated: ++c.updated; break;
      case EntryOutcome::kUnchanged: ++c.unchanged; break;
      case EntryOutcome::kRemoved: ++c.removed; break;
      case EntryOutcome::kFailed: c.removed += erased ? 1 : 0; break;
      case EntryOutcome::kNotIndexed:
      case EntryOutcome::kDeferred: break;
    }
  }

  // True when the scan should process `key` (and marks it for reconcile).
  bool admit(KeyView key, ScanCounts& delta) {
    ++delta.keys_scanned;
    if (!touched_.empty() && touched_.find(key) != touched_.end()) {
      ++delta.skipped;
      return false;
    }
    if (mode_ == ScanMode::kReconcile && definition_.matches_key(key)) seen_.emplace(key);
    return true;
  }

  // A step on this thread: each admitted key is prepared, executed (its attribute row staged) and
  // settled inside the source callback, while its blob is valid.
  BackfillState serial_step(std::size_t max_keys) {
    ScanCounts delta;
    std::exception_ptr internal;  // never thrown across the host's scan
    std::optional<Cursor> next;
    std::string error;
    try {
      next = source_.scan(cursor_, max_keys, [&](KeyView key, const FieldReader& fields) {
        if (internal) return;
        try {
          if (!admit(key, delta)) return;
          KeyPlan plan = prepare(key, &fields);
          execute(plan, true);
          const EntryOutcome outcome = settle(plan);
          tally(outcome, plan.erased, delta);
        } catch (...) {
          internal = std::current_exception();
        }
      });
    } catch (const std::exception& e) {
      error = std::string("source scan failed: ") + e.what();
    }
    return finish_step(delta, next, error, internal);
  }

  // A step whose inserts run on executor tasks: each admitted key is prepared and copied out of the
  // source callback, all are executed by run_tasks, then settled here.
  BackfillState parallel_step(std::size_t max_keys, const Executor& executor, std::size_t tasks) {
    ScanCounts delta;
    std::vector<CopiedKeyPlan> plans;
    std::unordered_map<Key, std::size_t, KeyHash, std::equal_to<>> slot;
    std::optional<Cursor> next;
    std::string error;
    std::exception_ptr internal;
    try {
      next = source_.scan(cursor_, max_keys, [&](KeyView key, const FieldReader& fields) {
        if (internal) return;
        try {
          if (!admit(key, delta)) return;
          KeyPlan p = prepare(key, &fields);
          CopiedKeyPlan copied{Key(key), std::string(p.blob), std::move(p), nullptr};
          // A key visited twice in one batch: the later visit wins (both read current data).
          auto [it, fresh] = slot.emplace(Key(key), plans.size());
          if (fresh) {
            plans.push_back(std::move(copied));
          } else {
            plans[it->second] = std::move(copied);
          }
        } catch (...) {
          internal = std::current_exception();
        }
      });
    } catch (const std::exception& e) {
      error = std::string("source scan failed: ") + e.what();
    }
    for (CopiedKeyPlan& o : plans) {  // views into the copied strings, now that they no longer move
      o.plan.key = o.key;
      o.plan.blob = o.blob;
    }
    run_tasks(plans, executor, tasks);
    for (CopiedKeyPlan& o : plans) {
      if (o.error) {
        if (!internal) internal = o.error;
        continue;
      }
      const EntryOutcome outcome = settle(o.plan);
      tally(outcome, o.plan.erased, delta);
    }
    return finish_step(delta, next, error, internal);
  }

  // Executes `plans` as one batch (run_batch) when the index takes one, else as up to `tasks`
  // executor tasks of a contiguous share each (run inline when the executor refuses one). A plan's
  // exception is recorded in it, not thrown.
  void run_tasks(std::vector<CopiedKeyPlan>& plans, const Executor& executor, std::size_t tasks) {
    if (plans.empty()) return;
    if constexpr (BatchingIndex<IndexT>) {
      // An index that inserts a batch on several threads itself (HnswIndex, whose single upserts
      // are serialised): it gets the step's upserts at once, and its workers run on the executor.
      return run_batch(plans, executor, tasks);
    }
    tasks = std::min(tasks, plans.size());
    const std::size_t per = (plans.size() + tasks - 1) / tasks;
    vindex::run_tasks(executor, tasks, [this, &plans, per](std::size_t t) {
      const std::size_t first = std::min(plans.size(), t * per);
      const std::size_t last = std::min(plans.size(), first + per);
      for (std::size_t i = first; i < last; ++i) {
        try {
          execute(plans[i].plan);
        } catch (...) {
          plans[i].error = std::current_exception();
        }
      }
    });
  }

  // The step's upserts as one batch (the index's workers are executor tasks, inline when the
  // executor refuses one), then the erases: of removed entries and of rejected blobs. Keys within a
  // step are distinct, so the order between the two does not matter. Should the batch throw, every
  // upsert of the step is marked failed; the step then fails and `resume()` redoes it (upserts
  // already made come back kUnchanged).
  void run_batch(std::vector<CopiedKeyPlan>& plans, const Executor& executor, std::size_t tasks)
    requires BatchingIndex<IndexT>
  {
    std::vector<std::size_t> upserts;
    std::vector<std::pair<KeyView, std::string_view>> items;
    for (std::size_t i = 0; i < plans.size(); ++i)
      if (plans[i].plan.action == KeyPlan::Action::kUpsert) {
        upserts.push_back(i);
        items.emplace_back(plans[i].plan.key, plans[i].plan.blob);
      }
    std::vector<UpsertResult> results(items.size());
    try {
      if (!items.empty()) index_->try_upsert_blobs(std::span<const std::pair<KeyView, std::string_view>>(items),
                                                   std::span<UpsertResult>(results), tasks, executor);
      for (std::size_t k = 0; k < upserts.size(); ++k) {
        KeyPlan& p = plans[upserts[k]].plan;
        p.upsert = results[k];
        if (p.upsert.outcome == UpsertOutcome::kRejected) {
          p.action = KeyPlan::Action::kFail;
          p.failure = to_indexing_failure(p.upsert.failure);
        } else if (p.upsert.outcome == UpsertOutcome::kOutOfMemory) {
          p.action = KeyPlan::Action::kFail;
          p.failure = IndexingFailure::kOutOfMemory;
        }
      }
    } catch (const std::bad_alloc&) {  // before inserting anything (the batch's own set-up)
      for (std::size_t i : upserts) {
        plans[i].plan.action = KeyPlan::Action::kFail;
        plans[i].plan.failure = IndexingFailure::kOutOfMemory;
      }
    } catch (...) {
      for (std::size_t i : upserts) plans[i].error = std::current_exception();
    }
    for (CopiedKeyPlan& o : plans) {
      if (o.error) continue;
      try {
        if (o.plan.action != KeyPlan::Action::kUpsert) o.plan.erased = index_->erase(o.plan.key);
        o.plan.done = true;
      } catch (...) {
        o.error = std::current_exception();
      }
    }
  }

  // Books a step's counts and moves the state: kFailed on an error, kReady when the source's cursor
  // came back to 0 (a reconcile first removes what it did not see).
  // finish_step after indexing threw `internal` (null: it did not): the step fails with it as the
  // error, and the cursor stays where it was.
  BackfillState finish_step(const ScanCounts& delta, std::optional<Cursor> next, std::string error,
                            const std::exception_ptr& internal) {
    if (internal) {
      next.reset();
      try {
        std::rethrow_exception(internal);
      } catch (const std::exception& e) {
        error = std::string("indexing failed: ") + e.what();
      }
    }
    return finish_step(delta, next, error);
  }

  BackfillState finish_step(const ScanCounts& delta, std::optional<Cursor> next,
                            const std::string& error) {
    const bool complete = error.empty() && next && *next == 0;
    ScanCounts unseen;
    if (complete && mode_ == ScanMode::kReconcile) remove_unseen(unseen);
    std::unique_lock data(data_mutex_);
    counts_.keys_scanned += delta.keys_scanned;
    counts_.inserted += delta.inserted;
    counts_.updated += delta.updated;
    counts_.unchanged += delta.unchanged;
    counts_.removed += delta.removed + unseen.removed;
    counts_.skipped += delta.skipped;
    if (!error.empty()) {
      state_ = BackfillState::kFailed;
      error_ = error;
      return state_;
    }
    cursor_ = next.value_or(cursor_);  // a step without error always has a next cursor
    if (complete) {
      state_ = BackfillState::kReady;
      forget_scan_keys();
    }
    return state_;
  }

  // The end of a reconcile: removes indexed entries and failure records the scan did not see. One
  // pass over the index's keys; no source reads.
  void remove_unseen(ScanCounts& unseen) {
    std::vector<Key> gone;
    index_->for_each([&](KeyView key, auto&&...) {  // (key, id, vector) on every index type
      if (seen_.find(key) == seen_.end()) gone.emplace_back(key);
    });
    for (const Key& key : gone) {
      KeyPlan plan = prepare(key, nullptr);
      execute(plan);
      if (settle(plan) == EntryOutcome::kRemoved) ++unseen.removed;
    }
    std::unique_lock data(data_mutex_);
    std::vector<Key> stale;
    for (const auto& [key, why] : failing_)
      if (seen_.find(key) == seen_.end()) stale.emplace_back(key);
    for (const Key& key : stale) clear_failure(key);
    // Attribute rows without a vector cannot exist, but a restored state might carry some.
    std::vector<Key> orphans;
    attributes_.for_each([&](KeyView key, const AttributeRow&) {
      if (seen_.find(key) == seen_.end()) orphans.emplace_back(key);
    });
    for (const Key& key : orphans) attributes_.erase(key);
  }
};

}  // namespace vindex::detail
