// vindex/source/keyspace_index.hpp — a vector index kept equal to a host's keyspace.
//
// `KeyspaceIndex<IndexT>` ties together an `IndexDefinition`, a vector index (FlatIndex or
// HnswIndex: anything satisfying `VectorIndex`), an attribute index for TAG/NUMERIC filters, failure
// counters, a backfill/reconcile scan over the host's `KeyValueSource`, and the mutation hooks
// `on_write(key)` / `on_delete(key)`. `search` answers hybrid queries: a vector, k, and a
// `FilterExpr` (or its RediSearch text) over the attribute fields.
//
// What an entry becomes. A key is indexed when it matches a prefix, its hash has the vector field,
// every NUMERIC attribute it has parses, and the vector is valid (size, finite, non-zero under
// COSINE). Otherwise it is not in the index (removed if it was); it is counted as a failure when it
// matches a prefix and has the vector field but fails a check — NUMERIC fields are checked first (in
// definition order), then the vector. See source/backfill.hpp for what the counters count.
//
// Writes during a scan. Hooks apply a write at once (read the key, then index/update/remove it),
// unless `KeyspaceOptions::defer_writes` is set: then hooks only queue the key, and the next step
// (or `flush_writes`) reads each queued key once, so repeated writes to one key between two steps
// cost one read and at most one index update. A scan never undoes a hook: it reads an entry's
// current fields at the moment it visits it, and it skips every key a hook applied since the scan
// started (that key's state is already current, and the hook runs again on any later change).
//
// Threads. Mutating calls (start_*, step*, pause/resume/cancel, on_write, on_delete, flush_writes)
// are serialised by an internal mutex and may come from any thread: a host may drive steps on a
// worker thread while its main thread calls the hooks. The source is only called from inside those
// calls, so from one thread at a time. `step(max_keys, executor, tasks)` reads the source on the
// calling thread, then inserts the step's vectors on `tasks` threads, returning when all are done.
// With HnswIndex (any index with `try_upsert_blobs`) the step's upserts go in as one batch whose
// workers are `tasks - 1` executor tasks plus the calling thread; HnswIndex plans them concurrently.
// Otherwise each of `tasks` executor tasks upserts its share (IndexT's writes must be thread-safe,
// as FlatIndex's are; there only the blob decoding overlaps).
// Searches, `progress()` and the other const members may run on any thread, concurrently with each
// other and with mutations; a search running during a mutation sees each key either before or after
// it (its attributes may briefly lag its vector).
//
// Memory. The keyspace index allocates from the vector index's memory resource (its
// `memory_resource()`, when it has one; else operator new): attribute values and their indexes
// capped like the vectors, and its bookkeeping — failing keys, the keys a scan has touched or seen,
// queued writes — uncapped (see core/memory.hpp: losing track of a key at a limit would be worse than
// exceeding it). memory_bytes() is exactly what the vector index, the attributes and the bookkeeping
// hold from that resource; memory_breakdown() splits it. A write that runs out of memory (std::bad_alloc
// or a MemoryAccount's limit) is a failure of that key, never of the scan or the hook: the key is not
// indexed (removed if it was), counted as IndexingFailure::kOutOfMemory, and the rest of the step goes
// on. On a hook and a single-threaded step the failed key leaves the vector and attribute indexes
// exactly as they were and gives back all it took: its attribute row is staged (allocated) before the
// vector is written and committed after, without allocating. On a multi-threaded step attributes are
// stored after the step's vectors; should they not fit, the key's vector is erased again (storage it
// took stays, counted in memory_bytes(), for later entries). Next: source/keyspace/types.hpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace/query.hpp"
#include "vindex/source/keyspace/types.hpp"

namespace vindex {

namespace detail {
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
struct KeyEqual {  // keys of any string type compare as bytes
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};
using KeySet = std::pmr::unordered_set<std::pmr::string, KeyHash, KeyEqual>;
}  // namespace detail

/// A vector index plus attribute filters over a host keyspace, with backfill, reconcile and hooks.
template <VectorIndex IndexT>
class KeyspaceIndex {
 public:
  /// The vector index type.
  using Index = IndexT;

  /// A keyspace index over `source` (which must outlive it) using `index` (normally empty; the caller
  /// builds it with whatever parameters its type takes). State kIdle: call `start_backfill()`.
  /// Throws kInvalidArgument for an invalid definition or a null index.
  KeyspaceIndex(IndexDefinition definition, KeyValueSource& source, std::unique_ptr<IndexT> index,
                KeyspaceOptions options = {})
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

  /// Restores a keyspace index from a snapshot: `index` holds the saved vectors, `state` the rest
  /// (see export_state()). Throws kCorruptData when they disagree (an attribute row for a key the
  /// index lacks, a row of the wrong width, a count mismatch, an unknown code).
  KeyspaceIndex(KeyValueSource& source, std::unique_ptr<IndexT> index, KeyspaceState state,
                KeyspaceOptions options = {})
      : KeyspaceIndex(std::move(state.definition), source, std::move(index), options) {
    adopt(std::move(state));
  }

  /// The definition.
  const IndexDefinition& definition() const noexcept { return definition_; }
  /// The vector index, for reading (size, get_vector, saving). Write only through the hooks.
  const IndexT& index() const noexcept { return *index_; }
  /// The options.
  const KeyspaceOptions& options() const noexcept { return options_; }

  // ---- backfill and reconcile -------------------------------------------------------------------

  /// Starts (or restarts) a backfill scan from the beginning of the keyspace: state kBackfilling.
  void start_backfill() { start(ScanMode::kBackfill); }

  /// Starts a reconcile scan (after a snapshot load): like a backfill, but entries that are already
  /// indexed as found cost one read and no insert, and when the scan completes every indexed entry it
  /// did not find (deleted, renamed out of the prefixes) is removed.
  void start_reconcile() { start(ScanMode::kReconcile); }

  /// Applies queued writes, then visits up to `max_keys` entries (at least 1) of the scan, indexing
  /// them on this thread. Never throws for a source failure: the scan stops in state kFailed with the
  /// error in progress().error, keeping what it did; `resume()` retries from the last cursor.
  /// Returns the state afterwards (kBackfilling while more remains, kReady when complete).
  BackfillState step(std::size_t max_keys) { return step(max_keys, Executor{}, 0); }

  /// Like step(max_keys), but the vector inserts run as `tasks` tasks on `executor` while this thread
  /// waits; the source is read on this thread. With no executor or tasks <= 1 it runs inline.
  BackfillState step(std::size_t max_keys, const Executor& executor, std::size_t tasks) {
    std::lock_guard mutation(mutation_mutex_);
    drain_pending_nothrow();
    if (state_ != BackfillState::kBackfilling) return state_;
    refresh_total();
    if (executor && tasks > 1) return parallel_step(std::max<std::size_t>(max_keys, 1), executor, tasks);
    return serial_step(std::max<std::size_t>(max_keys, 1));
  }

  /// Runs steps of `batch_keys` entries until `budget` has elapsed or the scan stops; at least one
  /// step. Returns the state afterwards.
  BackfillState step_for(std::chrono::nanoseconds budget, std::size_t batch_keys = 64) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    BackfillState s;
    do {
      s = step(batch_keys);
    } while (s == BackfillState::kBackfilling && std::chrono::steady_clock::now() < deadline);
    return s;
  }

  /// Pauses a running scan; false when none was running.
  bool pause() { return transition(BackfillState::kBackfilling, BackfillState::kPaused); }

  /// Resumes a paused or failed scan from its last cursor; false when there was none.
  bool resume() {
    std::lock_guard mutation(mutation_mutex_);
    if (state_ != BackfillState::kPaused && state_ != BackfillState::kFailed) return false;
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kBackfilling;
    error_.clear();
    return true;
  }

  /// Abandons a running, paused or failed scan (entries already indexed stay); false when none.
  bool cancel() {
    std::lock_guard mutation(mutation_mutex_);
    if (!scan_open()) return false;
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kCancelled;
    forget_scan_keys();
    return true;
  }

  /// The scan's state.
  BackfillState state() const {
    std::shared_lock data(data_mutex_);
    return state_;
  }

  /// State, counts, percent complete and failure counters.
  BackfillProgress progress() const {
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

  /// Where an unfinished scan stands, for a snapshot.
  BackfillCheckpoint checkpoint() const {
    std::lock_guard mutation(mutation_mutex_);
    return checkpoint_locked();
  }

  // ---- mutation hooks ---------------------------------------------------------------------------

  /// The host changed `key` (written, renamed to, expired fields…): reads it and indexes, updates or
  /// removes it. Throws Error(kSourceFailure) when the read throws (the index is then unchanged for
  /// that key), or what IndexT throws for an internal failure.
  EntryOutcome on_write(KeyView key) {
    std::lock_guard mutation(mutation_mutex_);
    if (options_.defer_writes) return queue(key);
    return apply_from_source(key);
  }

  /// The host deleted `key`: removes it from the index and the failure counters. Does not read the
  /// source. Returns kRemoved, kNotIndexed (nothing to do) or kDeferred.
  EntryOutcome on_delete(KeyView key) {
    std::lock_guard mutation(mutation_mutex_);
    if (options_.defer_writes) return queue(key);
    KeyPlan plan = prepare(key, nullptr);
    execute(plan);
    const EntryOutcome outcome = settle(plan);
    mark_touched(key);
    return outcome;
  }

  /// Applies every queued write now (one source read per key). Returns the number applied; throws
  /// like on_write, leaving the failed key and the rest queued.
  std::size_t flush_writes() {
    std::lock_guard mutation(mutation_mutex_);
    return drain_pending();
  }

  /// Number of queued writes.
  std::size_t pending_writes() const {
    std::lock_guard mutation(mutation_mutex_);
    return pending_.size();
  }

  // ---- queries ----------------------------------------------------------------------------------

  /// The k nearest entries to `query` among those matching `filter` (and `keep`, when given: a
  /// predicate on keys the host adds, e.g. "the key's slot is served here" or "the key has not
  /// expired"), closest first, ties by key. The predicate is applied inside the search, so up to k
  /// entries that pass it come back, not k entries some of which are then dropped; it is called
  /// under the index's shared lock and must not call back into this index. `options.filter` must be
  /// null (the filter comes from `filter` and `keep`); the other options pass through, and
  /// `options.deadline` also bounds the evaluation of `filter`. Throws kInvalidArgument for an unknown
  /// field in `filter`, kLimit for a filter nested deeper than the index's Limits::max_filter_depth,
  /// kTimeout at the deadline, and what IndexT::search throws.
  std::vector<SearchResult> search(std::span<const float> query, std::size_t k,
                                   const FilterExpr& filter = FilterExpr::all(),
                                   SearchOptions options = {}, const KeyPredicate& keep = {}) const {
    if (options.filter)
      throw Error(ErrorCode::kInvalidArgument,
                  "KeyspaceIndex::search takes its filter as a FilterExpr, not SearchOptions::filter");
    if (const auto constant = constant_value(filter)) {
      const std::optional<Filter> f = detail::constant_filter(*constant, keep);
      options.filter = f ? &*f : nullptr;
      return index_->search(query, k, options);
    }
    std::shared_lock data(data_mutex_);  // the filter reads the attributes until the search returns
    const Filter f = detail::attribute_filter(attributes_, filter, keep, options.deadline, limits().max_filter_depth,
                                              options_.allow_list_max);
    options.filter = &f;
    return index_->search(query, k, options);
  }

  /// Same, with the filter in RediSearch syntax (see source/filter_expression.hpp), parsed within the
  /// index's Limits (max_filter_bytes, max_filter_depth, max_filter_terms: kLimit past them).
  std::vector<SearchResult> search(std::span<const float> query, std::size_t k, std::string_view filter_text,
                                   SearchOptions options = {}, const KeyPredicate& keep = {}) const {
    return search(query, k, parse_filter(filter_text, limits()), options, keep);
  }

  /// The bounds requests are checked against: the vector index's, or the defaults for an index type
  /// without limits().
  Limits limits() const {
    if constexpr (requires(const IndexT& i) { { i.limits() } -> std::convertible_to<const Limits&>; }) {
      return index_->limits();
    } else {
      return Limits{};
    }
  }

  /// Number of indexed entries matching `filter`.
  std::size_t count(const FilterExpr& filter) const {
    if (const auto constant = constant_value(filter)) return *constant ? size() : 0;
    std::shared_lock data(data_mutex_);
    return attributes_.evaluate(filter).count;
  }

  // ---- index maintenance ------------------------------------------------------------------------

  /// For an index with incremental maintenance (HnswIndex: tombstone repair, slot freeing,
  /// reachability), runs it for about `budget` and returns true while more is pending; see
  /// HnswIndex::maintain_for. Thread-safe on its own (the index serialises it with its writes); it
  /// does not read the source or change which keys are indexed. A host calls it from a timer.
  bool maintain_for(std::chrono::nanoseconds budget)
    requires requires(IndexT& i) { i.maintain_for(std::chrono::nanoseconds{}); }
  {
    return index_->maintain_for(budget);
  }

  /// True while the index has maintenance pending (HnswIndex::maintenance_pending()).
  bool maintenance_pending() const
    requires requires(const IndexT& i) { i.maintenance_pending(); }
  {
    return index_->maintenance_pending();
  }

  /// Number of indexed entries.
  std::size_t size() const { return index_->size(); }
  /// True when `key` is indexed.
  bool contains(KeyView key) const { return index_->contains(key); }

  /// The attribute values stored for an indexed key, or nullopt.
  std::optional<AttributeRow> attributes(KeyView key) const {
    std::shared_lock data(data_mutex_);
    return attributes_.find(key);
  }

  /// Keys currently failing, by reason (see source/backfill.hpp).
  FailureCounts failures() const {
    std::shared_lock data(data_mutex_);
    return failures_;
  }
  /// Every rejection ever made, by reason.
  FailureCounts failure_events() const {
    std::shared_lock data(data_mutex_);
    return failure_events_;
  }
  /// Why `key` is currently failing, or nullopt.
  std::optional<IndexingFailure> failure_of(KeyView key) const {
    std::shared_lock data(data_mutex_);
    auto it = failing_.find(key);
    if (it == failing_.end()) return std::nullopt;
    return it->second;
  }

  /// Bytes held from the memory resource by the attribute index and the bookkeeping (not the vector
  /// index): exact.
  std::size_t attribute_memory_bytes() const noexcept {
    return attributes_.memory_bytes() + bookkeeping_.in_use();
  }

  /// Bytes held from the memory resource by the vector index, the attribute index and the
  /// bookkeeping: exactly what the resource handed out to this keyspace index and was not given back
  /// (when the vector index reports its memory exactly, as FlatIndex and HnswIndex do).
  std::size_t memory_bytes() const { return memory_breakdown().total(); }

  /// memory_bytes() split into the vector index, attributes and bookkeeping.
  KeyspaceMemory memory_breakdown() const {
    return {index_->memory_bytes(), attributes_.memory_bytes(), bookkeeping_.in_use()};
  }

  // ---- snapshots --------------------------------------------------------------------------------

  /// Everything but the vector index, as plain data for a snapshot (lists sorted by key, so equal
  /// indexes export equal states). Consistent with index() as long as no mutation runs between the
  /// two reads (the host saves from its mutating thread).
  KeyspaceState export_state() const {
    std::lock_guard mutation(mutation_mutex_);
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

 private:
  // One key's fate, decided on the mutating thread (prepare), carried out on the vector index on any
  // thread (execute), then booked on the mutating thread (settle).
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
  // A key plan whose key and blob are copied out of the source callback (parallel steps), with the
  // exception its execution threw.
  struct CopiedKeyPlan {
    Key key;
    std::string blob;
    KeyPlan plan;
    std::exception_ptr error;
  };

  static IndexDefinition validated(IndexDefinition definition) {
    definition.validate();
    return definition;
  }
  static std::unique_ptr<IndexT> validated(std::unique_ptr<IndexT> index) {
    if (!index) throw Error(ErrorCode::kInvalidArgument, "KeyspaceIndex needs a vector index");
    return index;
  }
  // The memory resource of a vector index that has one, else null (operator new).
  static std::pmr::memory_resource* memory_of(const IndexT& index) noexcept {
    if constexpr (requires { { index.memory_resource() } -> std::convertible_to<std::pmr::memory_resource*>; }) {
      return index.memory_resource();
    } else {
      return nullptr;
    }
  }

  bool scan_open() const noexcept {
    return state_ == BackfillState::kBackfilling || state_ == BackfillState::kPaused ||
           state_ == BackfillState::kFailed;
  }

  void start(ScanMode mode) {
    std::lock_guard mutation(mutation_mutex_);
    std::unique_lock data(data_mutex_);
    state_ = BackfillState::kBackfilling;
    mode_ = mode;
    cursor_ = 0;
    counts_ = {};
    error_.clear();
    forget_scan_keys();
  }

  bool transition(BackfillState from, BackfillState to) {
    std::lock_guard mutation(mutation_mutex_);
    if (state_ != from) return false;
    std::unique_lock data(data_mutex_);
    state_ = to;
    return true;
  }

  void refresh_total() {
    std::size_t total = approximate_total_;
    try {
      total = source_.approximate_count();
    } catch (...) {  // only a progress estimate: keep the last one
    }
    std::unique_lock data(data_mutex_);
    approximate_total_ = total;
  }

  // Caller holds mutation_mutex_; every writer of these fields does too, so no data lock is needed.
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

  // ---- one key ----------------------------------------------------------------------------------

  // Decides what to do with `key` given its fields (null: the key does not exist).
  KeyPlan prepare(KeyView key, const FieldReader* fields) const {
    KeyPlan p;
    p.key = key;
    if (!fields || !definition_.matches_key(key)) return p;
    const std::optional<std::string_view> blob = fields->field(definition_.vector_field);
    if (!blob) return p;
    if constexpr (requires(const IndexT& i) { i.limits().max_key_bytes; }) {
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

  // Empties touched_ and seen_, giving back their bucket arrays too (a reconcile's seen_ has one
  // bucket per key of the keyspace). Mutating thread.
  void forget_scan_keys() {
    detail::KeySet(&bookkeeping_).swap(touched_);
    detail::KeySet(&bookkeeping_).swap(seen_);
  }

  void mark_touched(KeyView key) {
    if (!scan_open()) return;
    touched_.emplace(key);
    if (mode_ == ScanMode::kReconcile) seen_.emplace(key);
  }

  EntryOutcome queue(KeyView key) {
    if (pending_set_.emplace(key).second) pending_.emplace_back(key);
    return EntryOutcome::kDeferred;
  }

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

  // ---- scan steps -------------------------------------------------------------------------------

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

  BackfillState parallel_step(std::size_t max_keys, const Executor& executor, std::size_t tasks) {
    ScanCounts delta;
    std::vector<CopiedKeyPlan> plans;
    std::unordered_map<Key, std::size_t, detail::KeyHash, std::equal_to<>> slot;
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

  void run_tasks(std::vector<CopiedKeyPlan>& plans, const Executor& executor, std::size_t tasks) {
    if (plans.empty()) return;
    if constexpr (requires(IndexT& index, std::span<const std::pair<KeyView, std::string_view>> items,
                           std::span<UpsertResult> results, const Executor& spawn) {
                    index.try_upsert_blobs(items, results, tasks, spawn);
                  }) {
      // An index that inserts a batch on several threads itself (HnswIndex, whose single upserts
      // are serialised): it gets the step's upserts at once, and its workers run on the executor.
      return run_batch(plans, executor, tasks);
    }
    tasks = std::min(tasks, plans.size());
    std::latch done(static_cast<std::ptrdiff_t>(tasks));
    const std::size_t per = (plans.size() + tasks - 1) / tasks;
    for (std::size_t t = 0; t < tasks; ++t) {
      const std::size_t first = std::min(plans.size(), t * per);
      const std::size_t last = std::min(plans.size(), first + per);
      auto task = [this, &plans, &done, first, last] {
        for (std::size_t i = first; i < last; ++i) {
          try {
            execute(plans[i].plan);
          } catch (...) {
            plans[i].error = std::current_exception();
          }
        }
        done.count_down();
      };
      bool submitted = false;
      try {
        executor(task);
        submitted = true;
      } catch (...) {
      }
      if (!submitted) task();
    }
    done.wait();
  }

  // The step's upserts as one batch (the index's workers are executor tasks, inline when the
  // executor refuses one), then the erases: of removed entries and of rejected blobs. Keys within a
  // step are distinct, so the order between the two does not matter. Should the batch throw, every
  // upsert of the step is marked failed; the step then fails and `resume()` redoes it (upserts
  // already made come back kUnchanged).
  void run_batch(std::vector<CopiedKeyPlan>& plans, const Executor& executor, std::size_t tasks) {
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

  // ---- restore ----------------------------------------------------------------------------------

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

  IndexDefinition definition_;
  KeyValueSource& source_;
  std::unique_ptr<IndexT> index_;
  KeyspaceOptions options_;

  mutable std::mutex mutation_mutex_;  // serialises mutating calls (and all source calls)
  // Guards everything below against readers. Every writer also holds mutation_mutex_, so code that
  // holds mutation_mutex_ may read without it.
  mutable std::shared_mutex data_mutex_;
  AttributeIndex attributes_;
  MemoryAccount bookkeeping_;  // counts the bookkeeping below (uncapped: see the header comment)
  std::pmr::unordered_map<std::pmr::string, IndexingFailure, detail::KeyHash, detail::KeyEqual> failing_;
  FailureCounts failures_;
  FailureCounts failure_events_;
  BackfillState state_ = BackfillState::kIdle;
  ScanMode mode_ = ScanMode::kBackfill;
  Cursor cursor_ = 0;
  ScanCounts counts_;
  std::uint64_t approximate_total_ = 0;
  std::string error_;
  // Written only under mutation_mutex_ (readers of these also hold it).
  detail::KeySet touched_;
  detail::KeySet seen_;
  std::pmr::vector<std::pmr::string> pending_;
  detail::KeySet pending_set_;
};

}  // namespace vindex
