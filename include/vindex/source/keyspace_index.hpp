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
// it (its attributes may briefly lag its vector). One exception: an index that re-ranks from the host
// (HostRerankingIndex, e.g. an SQ8 FlatIndex with ExactVectors::kHost) reads its candidates' vectors
// from the source during a search, so such searches take the mutation mutex: they run one at a time,
// between steps and hooks, never beside them.
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
// took stays, counted in memory_bytes(), for later entries).
//
// Parts: this file is the façade — the public API, and the only place that takes the mutation lock.
// Under it, in source/keyspace/, a chain of bases each adding one concern: core.hpp (the shared state
// and its locks) ← writes.hpp (one key's prepare/execute/settle, failure records, deferred writes) ←
// scan.hpp (the backfill/reconcile state machine and its steps) ← restore.hpp (the snapshot state,
// out and back in); query.hpp plans a hybrid query's filter, types.hpp holds the plain types above.
// Reading order: this header's public part, then types, core, writes, scan, restore, query. Next:
// source/keyspace/types.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/capabilities.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/backfill.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/source/key_value_source.hpp"
#include "vindex/source/keyspace/core.hpp"
#include "vindex/source/keyspace/query.hpp"
#include "vindex/source/keyspace/restore.hpp"
#include "vindex/source/keyspace/scan.hpp"
#include "vindex/source/keyspace/types.hpp"
#include "vindex/source/keyspace/writes.hpp"

namespace vindex {

/// A vector index plus attribute filters over a host keyspace, with backfill, reconcile and hooks.
template <VectorIndex IndexT>
class KeyspaceIndex : private detail::KeyspaceRestore<IndexT> {
  // The parts (source/keyspace/), a chain of bases: state ← writes ← scan ← restore. Bases, not
  // members, so the moved code reads as it did and every call stays direct.
  using Parts = detail::KeyspaceRestore<IndexT>;

 public:
  /// The vector index type.
  using Index = IndexT;

  /// A keyspace index over `source` (which must outlive it) using `index` (normally empty; the caller
  /// builds it with whatever parameters its type takes). State kIdle: call `start_backfill()`.
  /// Throws kInvalidArgument for an invalid definition or a null index.
  KeyspaceIndex(IndexDefinition definition, KeyValueSource& source, std::unique_ptr<IndexT> index,
                KeyspaceOptions options = {})
      : Parts(std::move(definition), source, std::move(index), options) {}

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
  void start_backfill() {
    std::lock_guard mutation(mutation_mutex_);
    begin_scan(ScanMode::kBackfill);
  }

  /// Starts a reconcile scan (after a snapshot load): like a backfill, but entries that are already
  /// indexed as found cost one read and no insert, and when the scan completes every indexed entry it
  /// did not find (deleted, renamed out of the prefixes) is removed.
  void start_reconcile() {
    std::lock_guard mutation(mutation_mutex_);
    begin_scan(ScanMode::kReconcile);
  }

  /// Applies queued writes, then visits up to `max_keys` entries (at least 1) of the scan, indexing
  /// them on this thread. Never throws for a source failure: the scan stops in state kFailed with the
  /// error in progress().error, keeping what it did; `resume()` retries from the last cursor.
  /// Returns the state afterwards (kBackfilling while more remains, kReady when complete).
  BackfillState step(std::size_t max_keys) { return step(max_keys, Executor{}, 0); }

  /// Like step(max_keys), but the vector inserts run as `tasks` tasks on `executor` while this thread
  /// waits; the source is read on this thread. With no executor or tasks <= 1 it runs inline.
  BackfillState step(std::size_t max_keys, const Executor& executor, std::size_t tasks) {
    std::lock_guard mutation(mutation_mutex_);
    return step_scan(max_keys, executor, tasks);
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
  bool pause() {
    std::lock_guard mutation(mutation_mutex_);
    return pause_scan();
  }

  /// Resumes a paused or failed scan from its last cursor; false when there was none.
  bool resume() {
    std::lock_guard mutation(mutation_mutex_);
    return resume_scan();
  }

  /// Abandons a running, paused or failed scan (entries already indexed stay); false when none.
  bool cancel() {
    std::lock_guard mutation(mutation_mutex_);
    return cancel_scan();
  }

  /// The scan's state.
  BackfillState state() const {
    std::shared_lock data(data_mutex_);
    return state_;
  }

  /// State, counts, percent complete and failure counters.
  BackfillProgress progress() const { return scan_progress(); }

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
    return apply_delete(key);
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
    // Re-ranking from the host reads the source, so the search holds the mutation lock (taken first,
    // as every mutation takes it): the source stays called from one thread at a time. The index reads
    // the source after releasing its own lock, and data_mutex_ is not taken, so no lock of vindex's
    // is held below the source's (a step holds the source's, if any, while it writes).
    std::unique_lock<std::mutex> reading_source;
    HostVectorReader host;
    if constexpr (HostRerankingIndex<IndexT>) {
      if (index_->reranks_from_host()) {
        reading_source = std::unique_lock(mutation_mutex_);
        host = [this](KeyView key, std::span<float> out) { return read_host_vector(key, out); };
        options.host_vectors = &host;
      }
    }
    if (const auto constant = constant_value(filter)) {
      const std::optional<Filter> f = detail::constant_filter(*constant, keep);
      options.filter = f ? &*f : nullptr;
      return index_->search(query, k, options);
    }
    // The filter reads the attributes until the search returns; the mutation lock, when held, keeps
    // them still already (every writer holds it), and the source is then read without data_mutex_.
    std::shared_lock data(data_mutex_, std::defer_lock);
    if (!reading_source) data.lock();
    const Filter f = detail::attribute_filter(attributes_, filter, keep, options.deadline, limits().max_filter_depth,
                                              options_.allow_list_max);
    options.filter = &f;
    return index_->search(query, k, options);
  }

  /// Re-ranking from the host (HostRerankingIndex): reads the vector of every entry from the source
  /// and retrains the index's quantizer on them (IndexT::retrain_quantizer(reader)); an index that
  /// still keeps its floats retrains on those. Holds the mutation lock throughout, so it waits for a
  /// running step and hooks wait for it: O(entries) source reads. Throws Error(kSourceFailure) when a
  /// read throws (the index is then as it was), std::bad_alloc likewise.
  void retrain_quantizer_from_source()
    requires HostRerankingIndex<IndexT>
  {
    if constexpr (HostRerankingIndex<IndexT>) {  // (clang 14 instantiates constrained members anyway)
      std::lock_guard mutation(mutation_mutex_);
      index_->retrain_quantizer([this](KeyView key, std::span<float> out) { return read_host_vector(key, out); });
    }
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
    if constexpr (BoundedIndex<IndexT>) {
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
    requires MaintainedIndex<IndexT>
  {
    return index_->maintain_for(budget);
  }

  /// True while the index has maintenance pending (HnswIndex::maintenance_pending()).
  bool maintenance_pending() const
    requires MaintainedIndex<IndexT>
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
    return exported_state();
  }

 private:
  using Parts::adopt;
  using Parts::apply_delete;
  using Parts::apply_from_source;
  using Parts::attributes_;
  using Parts::begin_scan;
  using Parts::bookkeeping_;
  using Parts::cancel_scan;
  using Parts::checkpoint_locked;
  using Parts::data_mutex_;
  using Parts::definition_;
  using Parts::drain_pending;
  using Parts::exported_state;
  using Parts::failing_;
  using Parts::failure_events_;
  using Parts::failures_;
  using Parts::index_;
  using Parts::mutation_mutex_;
  using Parts::options_;
  using Parts::pause_scan;
  using Parts::pending_;
  using Parts::queue;
  using Parts::resume_scan;
  using Parts::scan_progress;
  using Parts::state_;
  using Parts::step_scan;
  using Parts::source_;

  // The vector the source holds for `key`, decoded into `out` (DIM floats): false when the key, its
  // vector field or a valid vector is gone. Called with mutation_mutex_ held (the source's one thread
  // at a time). A read that throws becomes Error(kSourceFailure).
  bool read_host_vector(KeyView key, std::span<float> out) const {
    bool valid = false;
    try {
      source_.read(key, [&](const FieldReader& fields) {
        const std::optional<std::string_view> blob = fields.field(definition_.vector_field);
        valid = blob && decode_blob(index_->schema(), *blob, out) == VectorFailure::kNone;
      });
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kSourceFailure, "reading key " + printable_key(key) + " failed: " + e.what());
    }
    return valid;
  }
};

}  // namespace vindex
