// vindex/index/hnsw_index.hpp — approximate KNN over a Hierarchical Navigable Small World graph.
//
// `HnswIndex<T, MetricT>` has the public shape of FlatIndex (see index/vector_index.hpp) and answers
// KNN, filtered KNN and range queries approximately, following Malkov & Yashunin (2016): every node
// has a random level (seeded: the same seed and insertion order give the same graph), links to at
// most M neighbours on each upper layer and 2·M on layer 0, chosen by the paper's heuristic.
//
// Layout: one record per node holds its vector followed by its layer-0 links, in blocks that never
// move (storage/block_array.hpp); upper-layer lists live in storage/upper_links.hpp; keys in
// storage/key_map.hpp. Deletion is real: `erase` (and replacing a key's vector, which gives it a new
// node) turns the node into a tombstone, never returned but still traversed, and never linked to
// again by any write.
//
// Parts: this file is the façade — the public API, both locks, insert orchestration (levels,
// batches, threads, memory failures) and the level generator. Under it, in index/hnsw/, a chain of
// bases each adding one concern: graph.hpp (state, record layout, hot-loop helpers) ← search.hpp
// (descent, layer search, KNN, range, exact scan) ← linking.hpp (list updates, the heuristic
// re-prune, rehoming) ← repair.hpp (repair, relink and export planning) ← maintenance.hpp (the
// rounds' state machine, in steps planned, applied and finished) ← insert.hpp (one node's plan and
// commit); restore.hpp builds a graph from saved data, types.hpp holds the plain types above. The
// upsert family and query checks are FlatIndex's too (index/front_end.hpp, a public base). Only this
// file takes locks: the parts say which lock each function needs. Reading order: this header's
// public part, then graph, search, linking, repair, maintenance, insert, restore.
//
// Maintenance runs in rounds of bounded steps (`maintain(work)`, `maintain_for(time)`; the state
// machine is index/hnsw/maintenance.hpp). A round takes the tombstones pending when it starts; a
// cursor visits every node's lists, and a list that links to one of them keeps its other links and
// gets, in the freed places, nodes the tombstone linked to (the HNSW heuristic's choice first, then
// the closest, up to the list's former length), each of which links back as it would to a new
// neighbour; once the cursor has passed every node nothing links to those tombstones (no write
// links to one), so the entry point moves off them and their slots are freed; then, against the
// ageing of old nodes under churn, one live node per two tombstones freed (in id order) is linked
// into its neighbours' lists again as if it were new (a local rebuild); last, a walk of layer 0
// from the entry point finds any live node no longer reachable (its in-links came through
// tombstones, or pruning cut a small group off) and links it from the closest reachable node with
// room. Searches are correct throughout: a tombstone is skipped in results from the moment it is
// made.
//
// Who runs it: a host calls `maintain` / `maintain_for` from a timer or its own threads (the Redis
// module: a few ms per timer tick). Writes do it only when the host falls behind: once tombstones
// (or inserts since the last round) reach 1/16 of the live entries, each write (each entry of a
// batch) runs at most `maintenance_work_per_write()` units (4 · EF_CONSTRUCTION · M, about twice the
// distance computations of the write's own neighbour search) before returning, and keeps doing so
// until that round ends. `sweep_tombstones()` and `compact()` do everything at once.
//
// Thread-safety contract:
//   * Every public member function may be called from any thread.
//   * Searches (search, range_search, contains, get_vector, size, memory_*, for_each, export_graph)
//     run concurrently with each other; each holds a shared lock for its duration and touches no
//     shared mutable state (per-query scratch comes from a pool).
//   * Writers (upsert*, try_upsert*, erase, insert_batch, maintain*, sweep_tombstones, compact,
//     clear) are serialised among themselves. A write runs its costly part — the neighbour search
//     for a new vector and the re-choice of the lists it joins, the repair planning of a maintenance
//     step — under the shared lock, concurrently with searches, and takes the exclusive lock only to
//     apply the result (write a few lists, free a few hundred slots), so searches pause for
//     microseconds, not for the whole write.
//   * `insert_batch` (its own threads) and `try_upsert_blobs` (threads the caller lends through a
//     spawn function) run several inserting threads at once. A batch reserves node storage for all
//     of its entries first; each thread then plans on layer 0 without the shared lock, reading neighbour
//     lists with atomic loads while other threads' updates are applied, and an update is applied only
//     to a list that is still as its planner read it (otherwise it is re-planned under the lock).
//   * A Filter predicate is called from the searching thread, under the shared lock: it must not call
//     back into this index.
// The concurrency test (tests/test_hnsw_concurrency.cpp) runs under ThreadSanitizer in CI.
//
// Memory: node blocks, keys, upper-layer lists, cached block addresses and the tombstone list come
// from the memory resource given to the constructor (default operator new; see core/memory.hpp), and
// memory_bytes() is exactly what the index holds from it. The tombstone list is charged uncapped (an
// erase never fails at a memory limit). Query scratch (visited bits, candidate heaps: about
// id_bound/8 + 16·ef bytes per concurrent search, kept in a pool) is not taken from the resource and
// not in memory_bytes(): it is per concurrent query rather than per entry, and a search must never fail
// because its index reached a limit; memory_breakdown().scratch reports it. Per-call temporaries (a
// query's copy, results, an insert's plan, a sweep's work lists) use operator new and are freed before
// the call returns; so does an SQ8 training's sample (at most Sq8::kSampleFloats floats, 16 MB). An
// SQ8 index's quantizer (two floats a dimension) is held from operator new too. Storage grows one
// block at a time: INITIAL_CAP is a hint that allocates nothing
// (the first insert takes one block of BLOCK_SIZE nodes), and BLOCK_SIZE × a node's bytes is clamped
// to Limits::max_block_bytes (params() reports the block size in effect).
//
// Errors: functions that take caller input throw `vindex::Error`; a throwing call leaves the index
// unchanged. Running out of memory (std::bad_alloc, or a MemoryAccount's MemoryLimitExceeded) in an
// upsert leaves the index exactly as it was — graph, keys, level generator — and gives back every
// byte the call took; insert_batch reserves all it will take from the resource before inserting, so
// a batch that does not fit changes nothing; try_upsert_blobs reports an entry that does not fit as
// kOutOfMemory and goes on with the others. Next: index/hnsw/types.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/element.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/executor.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/sq8_codec.hpp"
#include "vindex/distance/vector_codec.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/front_end.hpp"
#include "vindex/index/host_rerank.hpp"
#include "vindex/index/hnsw/graph.hpp"
#include "vindex/index/hnsw/insert.hpp"
#include "vindex/index/hnsw/linking.hpp"
#include "vindex/index/hnsw/maintenance.hpp"
#include "vindex/index/hnsw/repair.hpp"
#include "vindex/index/hnsw/restore.hpp"
#include "vindex/index/hnsw/search.hpp"
#include "vindex/index/hnsw/types.hpp"
#include "vindex/index/results.hpp"
#include "vindex/index/top_k.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/storage/block_array.hpp"
#include "vindex/storage/growth.hpp"
#include "vindex/storage/key_map.hpp"
#include "vindex/storage/upper_links.hpp"
#include "vindex/storage/visited_set.hpp"

namespace vindex {

/// Approximate KNN index. `T` is the stored element type: float, or Float16 / BFloat16
/// (core/element.hpp), which take vectors of their own schema TYPE and store each element in 16 bits
/// as given (half the vector memory; distances are measured on exactly those values; a float vector
/// given to a 16-bit index is rounded to nearest, and one with an element beyond the type's range is
/// rejected as kNonFinite). `MetricT` is a policy of distance/metric.hpp. `Compression` is
/// Uncompressed, or, for float, Sq8: the walk reads 8-bit codes (distance/sq8_codec.hpp) and the
/// best SearchOptions::rerank·k candidates are measured again on the float vectors the index also
/// keeps, so results carry exact distances. An Sq8 index is a float index until it holds
/// Sq8::kTrainAt vectors; it then trains its quantizer on them and trains again as it grows
/// Sq8::kRetrainGrowth-fold while its sample is below the cap, on compact() and on
/// retrain_quantizer() (see quantizer_stats() for drift); snapshots keep its quantizer. With
/// HnswParams::exact_vectors = ExactVectors::kHost it re-ranks on the host's vectors instead: once its
/// quantizer's training is final (Sq8Codes::training_final) it frees its floats (kept apart from the
/// [codes][layer-0 links] records) and keeps none, links are chosen on the distances between
/// decoded codes, and every search needs SearchOptions::host_vectors (the candidates' exact vectors
/// are read after the lock is let go; one the host no longer has is left out). get_vector, for_each
/// and snapshots then give the decoded codes.
template <class T, class MetricT, class Compression = Uncompressed>
class HnswIndex : public detail::IndexFrontEnd<HnswIndex<T, MetricT, Compression>, MetricT>,
                  private detail::HnswInsert<typename detail::CodecFor<T, MetricT, Compression>::type> {
  static_assert(std::is_same_v<T, float> || is_narrow_element_v<T>,
                "HnswIndex stores float, Float16, BFloat16, Int8 or UInt8");
  static_assert(std::is_same_v<Compression, Uncompressed> || (std::is_same_v<Compression, Sq8> && std::is_same_v<T, float>),
                "HnswIndex compresses float vectors with Sq8 (or stores them Uncompressed)");
  static constexpr bool kQuantized = std::is_same_v<Compression, Sq8>;
  using FrontEnd = detail::IndexFrontEnd<HnswIndex, MetricT>;
  friend FrontEnd;
  using FrontEnd::prepare_query;
  using FrontEnd::check_rerank;
  // The parts (index/hnsw/), a chain of bases each adding one concern: graph state, layout and hot
  // loop ← search walks ← linking ← repair planning. Bases, not members, so the moved code reads as
  // it did and every call stays direct (no virtual function, no pointer to follow).
  // The graph reads and writes vector bytes only through Codec (distance/vector_codec.hpp).
  using Codec = typename detail::CodecFor<T, MetricT, Compression>::type;
  using Graph = detail::HnswGraph<Codec>;
  using Search = detail::HnswSearch<Codec>;
  using Linking = detail::HnswLinking<Codec>;
  using Repair = detail::HnswRepair<Codec>;
  using Maintenance = detail::HnswMaintenance<Codec>;
  using Insert = detail::HnswInsert<Codec>;  // the last part: the façade's one base
  using Graph::codec_;
  using Graph::distance;
  using Graph::entry_;
  using Graph::keys_;
  using Graph::m_;
  using Graph::magnitudes_;
  using Graph::memory_;
  using Graph::nodes_;
  using Graph::params_;
  using Graph::shrink_nodes;
  using Graph::retired_;
  using Graph::same_vector;
  using Graph::schema_;
  using Graph::stored;
  using Search::scratch_;
  using typename Linking::LinkPlan;
  using typename Maintenance::Step;
  using Maintenance::add;
  using Maintenance::anything_pending;
  using Maintenance::apply_step;
  using Maintenance::begin_round;
  using Maintenance::count_work;
  using Maintenance::finish_step;
  using Maintenance::kMaintainStep;
  using Maintenance::maintenance_pending_locked;
  using Maintenance::maintenance_stats_locked;
  using Maintenance::mark_urgent;
  using Maintenance::note_maintain_call;
  using Maintenance::note_writes;
  using Maintenance::plan_step;
  using Maintenance::reset_maintenance;
  using Maintenance::round_active;
  using Maintenance::round_due;
  using Maintenance::round_memory_bytes;
  using Maintenance::stats_;
  using Maintenance::write_round_due;
  using Graph::clear_graph;
  using Graph::release_floats;
  using Graph::compact_ids;
  using Graph::deleted_bytes;
  using Graph::given_vector;
  using Graph::memory_parts;
  using Search::range_search_graph;
  using Search::search_graph;
  using Repair::export_nodes;
  using Insert::commit;
  using Insert::drop_tombstone_snapshot;
  using Insert::plan_links;
  using Insert::reserve_batch;
  using Insert::snapshot_tombstones;

 public:
  using Metric = MetricT;
  /// One item of insert_batch: a key and its vector.
  using BatchItem = std::pair<KeyView, std::span<const float>>;

  /// An empty index taking its memory from `memory` (null: operator new), which must outlive it.
  /// Allocates nothing yet. Throws kInvalidArgument when the schema, parameters or metric don't fit.
  explicit HnswIndex(VectorSchema schema, HnswParams params = {}, Limits limits = {},
                     std::pmr::memory_resource* memory = nullptr)
      : Insert(validated(schema, params, limits), params, limits, memory),
        limits_(limits),
        level_mult_(1.0 / std::log(static_cast<double>(params.m))),
        level_rng_(params.seed) {}

  /// Restores an index from saved graph data without re-inserting (persistence hook). Validates
  /// everything first — vector sizes and values, key lengths, duplicate keys and ids, neighbour ids
  /// (must name saved nodes of a high enough level), list lengths, levels, the entry point and the
  /// generator state — and throws Error(kCorruptData) naming the first problem. Memory as in the
  /// other constructor; running out of it throws std::bad_alloc (or MemoryLimitExceeded), and what
  /// was taken is given back.
  /// An Sq8 index trains on the restored vectors when Sq8's rule says so.
  HnswIndex(VectorSchema schema, HnswParams params, Limits limits, const HnswGraphInfo& info,
            std::span<const HnswNodeData> nodes, std::pmr::memory_resource* memory = nullptr)
      : HnswIndex(schema, params, limits, info, nodes, SavedQuantizer{}, memory) {}
  /// The same, and an Sq8 index takes `saved` (when trained: it must have the schema's DIM, else
  /// kCorruptData) instead of training; other indexes ignore it.
  HnswIndex(VectorSchema schema, HnswParams params, Limits limits, const HnswGraphInfo& info,
            std::span<const HnswNodeData> nodes, const SavedQuantizer& saved,
            std::pmr::memory_resource* memory = nullptr)
      : HnswIndex(schema, params, limits, memory) {
    bool codes_only = false;  // host re-ranking with a final quantizer: the saved vectors are decoded codes
    if constexpr (kQuantized) {
      if (saved.quantizer.trained() && saved.quantizer.dim() != schema_.dim)
        throw Error(ErrorCode::kCorruptData, "the saved SQ8 quantizer has " + std::to_string(saved.quantizer.dim()) +
                                                 " dimensions, the schema " + std::to_string(schema_.dim));
      if (params_.exact_vectors == ExactVectors::kHost && saved.quantizer.trained()) {
        codec_.restore(saved);
        codes_only = codec_.training_final(schema_.dim);
        if (codes_only) {
          release_floats();  // nothing stored yet: no floats are kept from the start
        } else {
          codec_.reset();
        }
      }
    }
    level_rng_ = detail::restore_graph(static_cast<Graph&>(*this), limits_, info, nodes);
    if constexpr (kQuantized) {
      std::lock_guard writer(writer_mutex_);
      if (codes_only) return;
      if (!saved.quantizer.trained()) {
        train_if_due();
        return;
      }
      std::unique_lock lock(graph_mutex_);
      codec_.restore(saved);
      encode_all_locked();
      release_if_final_locked();
    } else {
      (void)saved;
      (void)codes_only;
    }
  }

  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  /// The schema every vector follows.
  const VectorSchema& schema() const noexcept { return schema_; }
  /// The parameters in effect: as given, but BLOCK_SIZE clamped to Limits::max_block_bytes.
  const HnswParams& params() const noexcept { return params_; }
  /// The memory resource the index allocates from (as given to the constructor, or operator new's).
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_.upstream(); }
  /// Whether the 2 MiB huge pages inside node blocks are advised as such (storage/huge_pages.hpp):
  /// when the index owns its memory (no resource given) and a block is 2 MiB or more.
  bool huge_page_nodes() const noexcept { return nodes_.huge_page_blocks(); }
  /// The limits requests are checked against.
  const Limits& limits() const noexcept { return limits_; }

  // ---------------------------------------------------------------------------------------------
  // Writing

  // upsert, upsert_blob, try_upsert, try_upsert_blob: index/front_end.hpp.

  /// Upserts many entries using `threads` inserting threads (0: one per hardware thread). Every
  /// vector is validated first: on a bad one this throws like `upsert` and inserts nothing. When a key
  /// appears more than once, its last vector wins. Levels are drawn in item order, so the set of
  /// levels is deterministic; with more than one thread the links depend on scheduling. Returns the
  /// number of entries inserted or updated. Everything the batch takes from the memory resource is
  /// reserved before the first insert: when it does not fit (std::bad_alloc, MemoryLimitExceeded) the
  /// call throws that and the index is exactly as before. (A failure of operator new itself later, in
  /// a per-insert temporary, keeps the entries inserted before it.)
  std::size_t insert_batch(std::span<const BatchItem> items, unsigned threads = 0) {
    const std::size_t dim = schema_.dim;
    {
      std::vector<float> narrowed;
      for (const auto& [key, vector] : items) {
        limits_.check_key(key.size());
        throw_if_failed(check_vector(schema_, vector), schema_, key, vector.size(), false);
        if constexpr (is_narrow_element_v<T>) {
          narrowed.assign(vector.begin(), vector.end());
          throw_if_failed(narrow_to<T>(schema_, narrowed), schema_, key, vector.size(), false);
        }
      }
    }
    // Last occurrence of each key wins; keep the items' order otherwise.
    std::vector<std::size_t> order;
    order.reserve(items.size());
    {
      std::unordered_set<KeyView> seen;
      for (std::size_t i = items.size(); i-- > 0;)
        if (seen.insert(items[i].first).second) order.push_back(i);
      std::reverse(order.begin(), order.end());
    }
    std::vector<float> prepared(order.size() * dim);
    std::vector<float> magnitudes(order.size());
    for (std::size_t j = 0; j < order.size(); ++j) {
      std::span<float> v(prepared.data() + j * dim, dim);
      std::copy(items[order[j]].second.begin(), items[order[j]].second.end(), v.begin());
      (void)narrow_to<T>(schema_, v);  // checked above
      magnitudes[j] = metric::prepare<MetricT>(v);
    }

    std::vector<KeyView> keys(order.size());
    for (std::size_t j = 0; j < order.size(); ++j) keys[j] = items[order[j]].first;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<UpsertResult> results(order.size());
    std::vector<std::thread> pool;
    auto spawn = [&pool](std::function<void()> task) { pool.emplace_back(std::move(task)); };
    std::exception_ptr failure;
    {
      std::lock_guard writer(writer_mutex_);
      try {
        insert_prepared(keys, prepared.data(), magnitudes.data(), results, threads, spawn, false);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
    return static_cast<std::size_t>(std::count_if(results.begin(), results.end(), [](const UpsertResult& r) {
      return r.outcome != UpsertOutcome::kUnchanged;
    }));
  }

  /// One item of try_upsert_blobs: a key and its blob (schema element type, little-endian).
  using BlobItem = std::pair<KeyView, std::string_view>;

  /// Upserts blob entries with distinct keys on up to `workers` threads the host lends:
  /// `spawn(task)` must run `task` (a `std::function<void()>`) once on some thread, or throw, and
  /// then the task runs inline. The call returns when every task has finished. `results[i]` gets
  /// what `try_upsert_blob(items[i])` would: a bad blob is rejected on its own, an unchanged vector
  /// is found without a search. Throws kInvalidArgument, changing nothing, for an over-long or
  /// repeated key or a `results` of another size. An entry that does not fit in memory
  /// (std::bad_alloc, MemoryLimitExceeded) gets kOutOfMemory, leaves no trace, and the others go on:
  /// the batch's memory is reserved up front, and when that fails the entries are inserted one at a
  /// time, as many as fit. Another failure is rethrown, the entries before it staying inserted.
  template <class Spawn>
  void try_upsert_blobs(std::span<const BlobItem> items, std::span<UpsertResult> results, std::size_t workers,
                        Spawn&& spawn) {
    if (results.size() != items.size())
      throw Error(ErrorCode::kInvalidArgument, "try_upsert_blobs needs one result per item");
    {
      std::unordered_set<KeyView> seen;
      for (const auto& item : items) {
        limits_.check_key(item.first.size());
        if (!seen.insert(item.first).second)
          throw Error(ErrorCode::kInvalidArgument, "try_upsert_blobs: key '" + std::string(item.first) + "' repeats");
      }
    }
    const std::size_t dim = schema_.dim;
    std::vector<float> prepared(items.size() * dim);
    std::vector<float> magnitudes;
    std::vector<KeyView> keys;
    std::vector<std::size_t> where;  // item index of each entry to insert
    std::lock_guard writer(writer_mutex_);
    {
      std::shared_lock lock(graph_mutex_);
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::span<float> v(prepared.data() + keys.size() * dim, dim);
        auto failure = decode_blob(schema_, items[i].second, v);
        if (failure == VectorFailure::kNone) failure = narrow_to<T>(schema_, v);
        if (failure != VectorFailure::kNone) {
          results[i] = {UpsertOutcome::kRejected, failure, kInvalidId};
          continue;
        }
        const float magnitude = metric::prepare<MetricT>(v);
        if (const auto id = keys_.find(items[i].first); id && same_vector(*id, v.data(), magnitude)) {
          results[i] = {UpsertOutcome::kUnchanged, VectorFailure::kNone, *id};
          continue;
        }
        keys.push_back(items[i].first);
        where.push_back(i);
        magnitudes.push_back(magnitude);
      }
    }
    std::vector<UpsertResult> inserted(keys.size());
    std::exception_ptr failure;
    try {
      insert_prepared(keys, prepared.data(), magnitudes.data(), inserted, workers, spawn, true);
    } catch (...) {
      failure = std::current_exception();
    }
    for (std::size_t j = 0; j < keys.size(); ++j) results[where[j]] = inserted[j];
    if (failure) std::rethrow_exception(failure);
  }

  /// Removes `key` from results at once; returns false (and does nothing) when it was absent. The
  /// node stays as a tombstone until a maintenance round repairs the lists that link to it and
  /// frees its slot; the write itself maintains at most maintenance_work_per_write() units.
  bool erase(KeyView key) {
    std::lock_guard writer(writer_mutex_);
    {
      std::unique_lock lock(graph_mutex_);
      if (!keys_.find(key)) return false;  // an absent key allocates nothing
      reserve_for(retired_, retired_.size() + 1);
      const auto id = keys_.retire(key);
      if (!id) return false;
      retired_.push_back(*id);
    }
    after_writes(1);
    return true;
  }

  /// Runs up to about `work` units of pending maintenance (a unit is about one distance
  /// computation or one neighbour list read; one step may overrun by the cost of repairing one
  /// node's lists) and returns true while more is pending, i.e. until a call finds nothing to do.
  /// A round starts once tombstones reach 1/64 of the live entries (or inserts since the last
  /// round 1/16), or, when no write came since the previous call, as soon as there is any
  /// tombstone: a host that calls this from a timer tidies up fully while it is idle. Plans under
  /// the shared lock and applies under the exclusive one, like a write; searches stay correct.
  bool maintain(std::size_t work) { return maintain_step(work, true); }

  /// Runs maintenance for about `budget` (steps of kMaintainStep units, at least one) and returns
  /// true while more is pending. The writer lock is released between steps, so writes from other
  /// threads interleave.
  bool maintain_for(std::chrono::nanoseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    bool more = maintain_step(kMaintainStep, true);
    while (more && std::chrono::steady_clock::now() < deadline) more = maintain_step(kMaintainStep, false);
    return more;
  }

  /// True when maintain() has something to do (a round in progress, or any tombstone, or inserts
  /// since the last round): a host keeps its maintenance timer running while this holds.
  bool maintenance_pending() const {
    std::shared_lock lock(graph_mutex_);
    return maintenance_pending_locked();
  }

  /// The most maintenance one write does (per entry, for a batch), in maintain()'s units: 4 ·
  /// EF_CONSTRUCTION · M, about twice the distance computations of the write's own neighbour search.
  std::size_t maintenance_work_per_write() const noexcept { return 4 * params_.ef_construction * m_; }

  /// What maintenance has done and what is pending.
  HnswMaintenanceStats maintenance_stats() const {
    std::shared_lock lock(graph_mutex_);
    return maintenance_stats_locked();
  }

  /// Does all pending maintenance now: finishes the current round, then runs one over every
  /// remaining tombstone, so that every list that linked to one is repaired, the slots are free
  /// and any live node that had lost its path from the entry point is linked back in. After it,
  /// export_graph() describes exactly the graph searches walk.
  void sweep_tombstones() {
    std::lock_guard writer(writer_mutex_);
    sweep_all();
  }

  /// Does all pending maintenance (sweep_tombstones()), then moves nodes into the freed slots and
  /// releases the emptied blocks. Ids of moved entries change. Returns the number of entries moved.
  std::size_t compact() {
    std::lock_guard writer(writer_mutex_);
    sweep_all();
    std::unique_lock lock(graph_mutex_);
    const std::size_t moved = compact_ids();
    scratch_.clear();
    if constexpr (kQuantized) {
      if (keys_.size() != 0 && !codec_.released()) {  // released: nothing to sample (retrain_quantizer(host))
        train_quantizer_locked();
        release_if_final_locked();
      }
    }
    return moved;
  }

  /// SQ8: trains the quantizer again now on a sample of the live vectors (at most
  /// Sq8::kSampleFloats floats) and re-encodes every node; an empty index stays untrained. Costs
  /// O(entries · dim) under the exclusive lock. Throws std::bad_alloc with the index as before, and
  /// kInvalidArgument once the floats are released (use the overload taking a reader).
  void retrain_quantizer()
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::lock_guard writer(writer_mutex_);
      std::unique_lock lock(graph_mutex_);
      if (codec_.released())
        throw Error(ErrorCode::kInvalidArgument,
                    "this SQ8 index has released its floats: retrain it with vectors read from the host");
      if (keys_.size() != 0) {
        train_quantizer_locked();
        release_if_final_locked();
      }
    }
  }

  /// SQ8: retrain_quantizer(), with the vectors read through `host` when the index has released its
  /// floats (otherwise `host` is not called): the sample and then every node, one read each, under
  /// the exclusive lock. A node the host no longer has (or a tombstone) keeps its codes, decoded
  /// with the old quantizer and encoded with the new. Whatever `host` throws (and std::bad_alloc)
  /// leaves the index as it was: the new codes are built aside first.
  void retrain_quantizer(const HostVectorReader& host)
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::lock_guard writer(writer_mutex_);
      std::unique_lock lock(graph_mutex_);
      if (keys_.size() == 0) return;
      if (!codec_.released()) {
        train_quantizer_locked();
        release_if_final_locked();
        return;
      }
      retrain_from_host_locked(host);
    }
  }

  /// SQ8: whether searches re-rank on vectors read from the host (HnswParams::exact_vectors kHost).
  bool reranks_from_host() const noexcept
    requires kQuantized
  {
    return params_.exact_vectors == ExactVectors::kHost;
  }
  /// Whether the index has released its floats (re-ranking from the host, once trained for good):
  /// every search then needs SearchOptions::host_vectors.
  bool floats_released() const {
    std::shared_lock lock(graph_mutex_);
    return !this->exact_in_index();
  }
  // (The bodies below and those of the training helpers are `if constexpr`: clang 14 instantiates
  // constrained members in an explicit instantiation of the class.)

  /// SQ8: the quantizer as snapshots save it (untrained before the first training).
  SavedQuantizer saved_quantizer() const
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::shared_lock lock(graph_mutex_);
      return {codec_.quantizer(), codec_.stats().trained_on};
    } else {
      return {};
    }
  }

  /// SQ8: what the quantizer was trained on and the drift since (elements clamped to its range).
  QuantizerStats quantizer_stats() const
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::shared_lock lock(graph_mutex_);
      return codec_.stats();
    } else {
      return {};
    }
  }

  /// Removes every entry and releases all storage, memory_bytes() dropping to 0 (the level
  /// generator keeps its state).
  void clear() {
    std::lock_guard writer(writer_mutex_);
    std::unique_lock lock(graph_mutex_);
    clear_graph();
    reset_maintenance();
    scratch_.clear();
    if constexpr (kQuantized) {
      codec_.reset();  // floats kept again (clear_graph freed every block)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /// True when `key` is indexed.
  bool contains(KeyView key) const {
    std::shared_lock lock(graph_mutex_);
    return keys_.find(key).has_value();
  }

  /// Number of indexed entries (tombstones excluded).
  std::size_t size() const {
    std::shared_lock lock(graph_mutex_);
    return keys_.size();
  }

  /// The vector stored for `key` as it was given (COSINE: de-normalised), or nullopt.
  std::optional<std::vector<float>> get_vector(KeyView key) const {
    std::shared_lock lock(graph_mutex_);
    const auto id = keys_.find(key);
    if (!id) return std::nullopt;
    return given_vector(*id);
  }

  /// Bytes the index holds from its memory resource (vectors, links, keys, directories, tombstones):
  /// exactly what the resource handed out and was not given back. Query scratch is not included
  /// (see memory_breakdown()).
  std::size_t memory_bytes() const noexcept { return memory_.in_use(); }

  /// memory_bytes() split into vectors, links, keys and other, plus the idle query scratch.
  HnswMemory memory_breakdown() const {
    std::shared_lock lock(graph_mutex_);  // writers allocate only under the exclusive lock
    HnswMemory m = memory_parts();
    m.scratch = scratch_.memory_bytes() + round_memory_bytes();  // + maintenance in progress
    return m;
  }

  /// Bytes held by erased entries: tombstones awaiting a sweep and freed slots awaiting reuse or
  /// `compact()`.
  std::size_t deleted_memory_bytes() const {
    std::shared_lock lock(graph_mutex_);
    return deleted_bytes();
  }

  /// The k nearest entries to `query`, closest first, ties by key; fewer when fewer match.
  /// `options.ef` overrides EF_RUNTIME for this query (effective ef = max(ef, k)); `options.filter`
  /// restricts results (selective filters are answered by an exact scan of the matches).
  /// Throws kInvalidArgument for k or ef outside the limits, kSchemaMismatch / kInvalidVector for a
  /// bad query.
  std::vector<SearchResult> search(std::span<const float> query, std::size_t k,
                                   const SearchOptions& options = {}) const {
    limits_.check_k(k);
    check_rerank(options);
    const std::size_t ef = std::max(runtime_ef(options), k);
    const std::vector<float> q = prepare_query(query);
    std::shared_lock lock(graph_mutex_);
    if constexpr (kQuantized) {
      if (codec_.released()) {
        // The walk keeps the rerank·k closest by code distance (as the float-keeping index does);
        // they are measured on the host's vectors after the lock is let go.
        const HostVectorReader& host = detail::host_reader_of(options, "HnswIndex");
        SearchOptions walk = options;
        walk.rerank = 1;
        std::vector<SearchResult> picked =
            search_graph(q.data(), k * options.rerank.value_or(Sq8::kDefaultRerank), ef, walk);
        lock.unlock();  // the host is read without the index's lock
        detail::measure_on_host<MetricT>(picked, host, q.data(), schema_, options);
        if (picked.size() > k) picked.resize(k);
        return picked;
      }
    }
    return search_graph(q.data(), k, ef, options);
  }

  /// Every entry within `radius` of `query` (distance <= radius), closest first, ties by key.
  /// The graph walk explores candidates up to radius × (1 + epsilon) (`options.epsilon`, default
  /// params().epsilon); a larger epsilon finds more of the entries near the boundary.
  std::vector<SearchResult> range_search(std::span<const float> query, double radius,
                                         const SearchOptions& options = {}) const {
    if (!(radius >= 0) || !std::isfinite(radius))
      throw Error(ErrorCode::kInvalidArgument, "radius must be a finite number >= 0");
    const double epsilon = options.epsilon.value_or(params_.epsilon);
    if (!(epsilon >= 0) || !std::isfinite(epsilon))
      throw Error(ErrorCode::kInvalidArgument, "epsilon must be a finite number >= 0");
    const std::vector<float> q = prepare_query(query);
    std::shared_lock lock(graph_mutex_);
    if constexpr (kQuantized) {
      if (codec_.released()) {
        // Every entry within the radius is within the code-distance radius the walk keeps; each of
        // those is measured on the host's vector after the lock is let go.
        const HostVectorReader& host = detail::host_reader_of(options, "HnswIndex");
        std::vector<SearchResult> picked =
            range_search_graph(q.data(), static_cast<Distance>(radius), epsilon, options);
        lock.unlock();  // the host is read without the index's lock
        detail::measure_on_host<MetricT>(picked, host, q.data(), schema_, options);
        const auto beyond = std::find_if(picked.begin(), picked.end(),
                                         [&](const SearchResult& h) { return h.distance > radius; });
        picked.erase(beyond, picked.end());
        return picked;
      }
    }
    return range_search_graph(q.data(), static_cast<Distance>(radius), epsilon, options);
  }

  /// Calls `visit(key, id, vector)` for every entry (stored, i.e. normalised, form) under a shared
  /// lock. `visit` must not call back into this index.
  template <class Visit>
  void for_each(Visit&& visit) const {
    std::shared_lock lock(graph_mutex_);
    std::vector<float> vector(schema_.dim);
    for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
      const Id id = static_cast<Id>(i);
      if (!keys_.is_live(id)) continue;
      codec_.decode(stored(id), vector.data(), schema_.dim);
      visit(keys_.key(id), id, std::span<const float>(vector));
    }
  }

  /// Persistence hook: calls `visit(const HnswNodeData&)` for every live node in graph order (the order
  /// a breadth-first walk of layer 0 from the entry point meets them, which a snapshot makes their ids:
  /// index/hnsw/graph_order.hpp; the argument is reused between calls) and returns the graph-wide
  /// state. With no tombstone pending this is exactly the graph searches walk. With tombstones pending
  /// it is the graph as maintenance would leave it: every list that links to a tombstone is repaired as
  /// a round repairs it (tombstones left out, their live neighbours in their place), a tombstoned entry
  /// point is replaced, and any live node the repaired layer 0 does not reach from the entry point is
  /// linked from the closest reached node with room — so every key stays findable after a load, and the
  /// data always passes the restoring constructor's validation. Costs O(entries) time and memory beyond
  /// the visit, under the shared lock.
  template <class Visit>
  HnswGraphInfo export_graph(Visit&& visit) const {
    std::shared_lock lock(graph_mutex_);
    HnswGraphInfo info = export_nodes(visit);
    std::ostringstream state;
    state << level_rng_;
    info.level_generator_state = state.str();
    return info;
  }

 private:
  // ---------------------------------------------------------------------------------------------
  // Insert: draw a level, plan the links under the shared lock, commit them under the exclusive one.
  // The planning and applying of one list's change are in index/hnsw/linking.hpp.

  unsigned draw_level() {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double r = uniform(level_rng_);
    const double level = -std::log(std::max(r, 1e-300)) * level_mult_;
    return static_cast<unsigned>(std::min<double>(level, UpperLinks::kMaxLevel));
  }

  UpsertResult store(KeyView key, std::vector<float>& v) {
    if (const auto failure = narrow_to<T>(schema_, v); failure != VectorFailure::kNone)
      return {UpsertOutcome::kRejected, failure, kInvalidId};
    const float magnitude = metric::prepare<MetricT>(v);
    std::lock_guard writer(writer_mutex_);
    Id replaced = kInvalidId;
    {
      std::shared_lock lock(graph_mutex_);
      if (const auto id = keys_.find(key)) {
        if (same_vector(*id, v.data(), magnitude)) return {UpsertOutcome::kUnchanged, VectorFailure::kNone, *id};
        replaced = *id;
      }
    }
    const std::mt19937_64 generator = level_rng_;  // a failed insert leaves the generator as it was, too
    UpsertResult r;
    try {
      r = insert_planned(key, v, magnitude, draw_level(), replaced);
    } catch (...) {
      level_rng_ = generator;
      throw;
    }
    after_writes(1);
    return r;
  }

  // insert_planned with a level of its own, reporting running out of memory as kOutOfMemory (the
  // index then exactly as before, generator included). Caller holds writer_mutex_.
  UpsertResult insert_or_report(KeyView key, std::span<const float> v, float magnitude, Id replaced) {
    const std::mt19937_64 generator = level_rng_;
    try {
      return insert_planned(key, v, magnitude, draw_level(), replaced);
    } catch (const std::bad_alloc&) {
      level_rng_ = generator;
      return {UpsertOutcome::kOutOfMemory, VectorFailure::kNone, kInvalidId};
    }
  }

  Id entry_point_unlocked() const {
    std::shared_lock lock(graph_mutex_);
    return entry_;
  }

  // Inserts prepared (validated, normalised) vectors under distinct keys, writing each outcome to
  // results[j]; the caller holds writer_mutex_. Levels are drawn in order first. With `workers` > 1,
  // node storage for every id the batch can assign is reserved, then workers - 1 tasks are handed to
  // `spawn` (see try_upsert_blobs; a refused task runs inline) and this thread works too; returns
  // once all are done. The first node of an empty index goes in alone, so every worker starts from
  // an entry point. Maintenance runs at the batch's end (at most the per-write bound per entry).
  //
  // Memory: everything the inserts take from the resource is reserved first (reserve_batch). When
  // that fails, the generator is put back and, with `report_out_of_memory`, the entries go in one at
  // a time (as many as fit; the others get kOutOfMemory), else the failure is rethrown with the index
  // as before. With `report_out_of_memory`, an entry whose insert fails anyway (operator new, in its
  // plan) gets kOutOfMemory too. Room reserved for ids the batch did not take is given back.
  template <class Spawn>
  void insert_prepared(std::span<const KeyView> keys, const float* prepared, const float* magnitudes,
                       std::span<UpsertResult> results, std::size_t workers, Spawn& spawn,
                       bool report_out_of_memory) {
    const std::size_t count = keys.size(), dim = schema_.dim;
    const std::mt19937_64 generator = level_rng_;
    std::vector<unsigned> levels(count);
    for (unsigned& level : levels) level = draw_level();
    workers = std::clamp<std::size_t>(workers, 1, std::max<std::size_t>(count, 1));
    const bool concurrent = workers > 1;
    std::vector<Id> replaced(count, kInvalidId);  // each key's current node (keys are distinct)
    std::vector<KeyMap::Insertion> rooms;
    try {
      std::unique_lock lock(graph_mutex_);
      for (std::size_t j = 0; j < count; ++j)
        if (const auto id = keys_.find(keys[j])) replaced[j] = *id;
      reserve_batch(keys, levels, rooms);
      if (concurrent) {
        // Planners that run without the shared lock tell tombstones by this copy (the batch frees
        // none; those it makes itself are left out at commit).
        snapshot_tombstones();
      }
    } catch (const std::bad_alloc&) {
      level_rng_ = generator;
      rooms.clear();  // key copies made before the failure: give them back before going on
      drop_tombstone_snapshot();
      if (!report_out_of_memory) throw;
      for (std::size_t j = 0; j < count; ++j)
        results[j] = insert_or_report(keys[j], {prepared + j * dim, dim}, magnitudes[j], replaced[j]);
      after_writes(count);
      return;
    }
    std::atomic<std::size_t> next{0};
    auto insert_one = [&](std::size_t j) {
      if (!report_out_of_memory) {
        results[j] = insert_planned(keys[j], {prepared + j * dim, dim}, magnitudes[j], levels[j], replaced[j],
                                    concurrent, &rooms[j]);
        return;
      }
      try {
        results[j] = insert_planned(keys[j], {prepared + j * dim, dim}, magnitudes[j], levels[j], replaced[j],
                                    concurrent, &rooms[j]);
      } catch (const std::bad_alloc&) {
        results[j] = {UpsertOutcome::kOutOfMemory, VectorFailure::kNone, kInvalidId};
      }
    };
    if (count && entry_point_unlocked() == kInvalidId) insert_one(next++);
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto work = [&] {
      try {
        for (std::size_t j; (j = next.fetch_add(1)) < count;) insert_one(j);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(count);
      }
    };
    run_tasks(spawn, workers - 1, [&work](std::size_t) { work(); }, work);  // this thread works too
    {
      std::unique_lock lock(graph_mutex_);
      shrink_nodes(keys_.id_bound());  // the blocks reserved for ids the batch did not take
    }
    drop_tombstone_snapshot();
    after_writes(count);
    if (failure) std::rethrow_exception(failure);
  }

  // Callable from several threads at once (insert_batch) while the caller holds writer_mutex_; with
  // `concurrent`, storage must already hold every id the batch can assign (see plan_links).
  // `replaced` is the key's current node (kInvalidId for a new key): it becomes a tombstone at commit,
  // so the plan never links to it. `room`: what reserve_batch set aside for this key, or null.
  UpsertResult insert_planned(KeyView key, std::span<const float> v, float magnitude, unsigned level, Id replaced,
                              bool concurrent = false, KeyMap::Insertion* room = nullptr) {
    LinkPlan plan;
    {
      std::shared_lock lock(graph_mutex_);
      plan = plan_links(v.data(), magnitude, level, replaced, concurrent, [&] {
        if (concurrent) lock.unlock();  // storage is reserved: layer 0 is planned without the lock
      });
    }
    std::unique_lock lock(graph_mutex_);
    return commit(key, v.data(), magnitude, level, plan, room);
  }

  // ---------------------------------------------------------------------------------------------
  // Maintenance: the rounds' state machine is index/hnsw/maintenance.hpp; here it is locked. The
  // caller holds writer_mutex_ throughout; each step is planned under the shared lock, applied under
  // the exclusive one when it writes, and finished with no lock.

  static std::uint64_t nanoseconds_since(std::chrono::steady_clock::time_point start) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  }

  // After `writes` writes (entries of a batch). Maintenance is the host's (maintain) until
  // tombstones, or inserts since the last round, reach 1/16 of the live entries; from then until
  // that round ends each write runs at most maintenance_work_per_write() units.
  void after_writes(std::size_t writes) {
    if constexpr (kQuantized) train_if_due();
    note_writes(writes);
    bool due;
    {
      std::shared_lock lock(graph_mutex_);
      due = write_round_due();
    }
    if (!due) return;
    const auto start = std::chrono::steady_clock::now();
    if (!round_active()) start_round();
    mark_urgent();
    advance(writes * maintenance_work_per_write());
    const std::uint64_t ns = nanoseconds_since(start);
    add(stats_.write_ns, ns);
    if (ns > stats_.longest_write_ns.load(std::memory_order_relaxed))
      stats_.longest_write_ns.store(ns, std::memory_order_relaxed);
  }

  // SQ8: trains when Sq8's rule says so (see the class comment), after writes that have already
  // succeeded: without memory for the sample the quantizer stays as it was (the rule asks again
  // after the next write). Caller holds writer_mutex_.
  void train_if_due() noexcept {
    if constexpr (kQuantized) {
      {
        std::shared_lock lock(graph_mutex_);
        if (!codec_.training_due(keys_.size(), schema_.dim) && !release_due_locked()) return;
      }
      std::unique_lock lock(graph_mutex_);
      try {
        if (codec_.training_due(keys_.size(), schema_.dim)) train_quantizer_locked();
      } catch (const std::bad_alloc&) {
      }
      release_if_final_locked();
    }
  }

  // Re-ranking from the host: whether the floats should go now (the quantizer's training is final).
  bool release_due_locked() const noexcept {
    if constexpr (kQuantized) {
      return params_.exact_vectors == ExactVectors::kHost && !codec_.released() && codec_.training_final(schema_.dim);
    } else {
      return false;
    }
  }

  // Re-ranking from the host: releases the floats once the quantizer's training is final (see
  // Graph::release_floats). Caller holds both locks.
  void release_if_final_locked() noexcept {
    if (!release_due_locked()) return;
    release_floats();
  }

  // SQ8, floats released: retrain_quantizer(host) under both locks (strong guarantee: the new codes
  // are built aside and copied in only when every read succeeded).
  void retrain_from_host_locked(const HostVectorReader& host) {
    if constexpr (kQuantized) {
      const std::size_t dim = schema_.dim, slot = Codec::bytes(dim);
      std::vector<float> v(dim);
      // The host's vector of `id` prepared, or (a tombstone, or gone from the host) what its codes
      // decode to.
      auto read = [&](Id id, float* out) {
        std::span<float> into(out, dim);
        if (keys_.is_live(id) && host(keys_.key(id), into) && check_vector(schema_, into) == VectorFailure::kNone) {
          metric::prepare<MetricT>(into);
        } else {
          codec_.decode(stored(id), out, dim);
        }
      };
      const std::vector<float> sample = detail::training_sample(keys_, dim, read);
      detail::Sq8Codes<MetricT> fresh;
      fresh.train(sample, sample.size() / dim, dim);
      std::vector<Id> ids;
      for (std::size_t i = 0; i < keys_.id_bound(); ++i)
        if (keys_.is_live(static_cast<Id>(i))) ids.push_back(static_cast<Id>(i));
      ids.insert(ids.end(), retired_.begin(), retired_.end());
      std::vector<std::byte> encoded(ids.size() * slot);
      for (std::size_t j = 0; j < ids.size(); ++j) {
        read(ids[j], v.data());
        fresh.encode(v.data(), encoded.data() + j * slot, dim);
      }
      codec_.take_quantizer(fresh);
      for (std::size_t j = 0; j < ids.size(); ++j) std::copy_n(encoded.data() + j * slot, slot, Graph::record(ids[j]));
      scratch_.clear();
    }
  }

  // SQ8: trains on live vectors at evenly spread ids (Sq8::sample_size of them), then re-encodes
  // the codes of every node a walk can reach (live ones and tombstones). Caller holds both locks.
  void train_quantizer_locked() {
    if constexpr (kQuantized) {
      const std::size_t dim = schema_.dim;
      const std::vector<float> sample =
          detail::training_sample(keys_, dim, [&](Id id, float* out) { codec_.decode(stored(id), out, dim); });
      codec_.train(sample, sample.size() / dim, dim);
      encode_all_locked();
    }
  }

  // SQ8: re-encodes the codes of every node a walk can reach (live ones and tombstones) with the
  // quantizer in use. Caller holds both locks.
  void encode_all_locked() {
    if constexpr (kQuantized) {
      for (std::size_t i = 0; i < keys_.id_bound(); ++i)
        if (keys_.is_live(static_cast<Id>(i))) Graph::encode_codes(static_cast<Id>(i));
      for (const Id id : retired_) Graph::encode_codes(id);
      scratch_.clear();
    }
  }

  // maintain() and each step of maintain_for() (`call`: the first step of a call). Starts a round
  // when one is due for a host (round_due), then advances it. Returns whether more is to do now.
  bool maintain_step(std::size_t work, bool call) {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard writer(writer_mutex_);
    if (call) note_maintain_call();
    if (!round_active() && round_due_now()) start_round();
    bool more = false;
    if (round_active()) {
      advance(std::max<std::size_t>(work, 1));
      more = round_active() || round_due_now();
    }
    add(stats_.maintain_ns, nanoseconds_since(start));
    return more;
  }

  bool round_due_now() const {
    std::shared_lock lock(graph_mutex_);
    return round_due();
  }

  // Does everything pending now (sweep_tombstones, compact).
  void sweep_all() {
    advance(std::numeric_limits<std::size_t>::max());
    bool pending;
    {
      std::shared_lock lock(graph_mutex_);
      pending = anything_pending();
    }
    if (!pending) return;
    start_round();
    advance(std::numeric_limits<std::size_t>::max());
  }

  void start_round() {
    std::unique_lock lock(graph_mutex_);
    begin_round();
  }

  // Advances the round by about `budget` units (stopping early when it ends).
  void advance(std::size_t budget) {
    std::size_t used = 0;
    while (used < budget && round_active()) {
      Step step;
      {
        std::shared_lock lock(graph_mutex_);
        step = plan_step(budget - used);
      }
      if (step.writes()) {
        std::unique_lock lock(graph_mutex_);
        apply_step(step);
      }
      used += finish_step(step);
    }
    count_work(used);
  }

  // ---------------------------------------------------------------------------------------------
  // Input checks: the schema and parameters, and the per-query ef (queries: index/front_end.hpp).

  static VectorSchema validated(const VectorSchema& schema, const HnswParams& params, const Limits& limits) {
    FrontEnd::check_schema(schema, limits);
    if (is_narrow_element_v<T> && schema.type != element_type_v<T>)
      throw Error(ErrorCode::kInvalidArgument, "an HnswIndex of " + std::string(to_string(element_type_v<T>)) +
                                                   " elements takes TYPE " + std::string(to_string(element_type_v<T>)) +
                                                   ", not " + std::string(to_string(schema.type)));
    if (params.exact_vectors == ExactVectors::kHost && !kQuantized)
      throw Error(ErrorCode::kInvalidArgument,
                  "only an SQ8 index re-ranks from the host (ExactVectors::kHost; EXACT_VECTORS HASH in Redis)");
    limits.check_m(params.m);
    limits.check_ef(params.ef_construction, "EF_CONSTRUCTION");
    limits.check_ef(params.ef_runtime, "EF_RUNTIME");
    FrontEnd::check_storage(params.block_size, params.initial_cap, limits);
    if (!(params.epsilon >= 0) || !std::isfinite(params.epsilon))
      throw Error(ErrorCode::kInvalidArgument, "EPSILON must be a finite number >= 0");
    return schema;
  }

  std::size_t runtime_ef(const SearchOptions& options) const {
    if (!options.ef) return params_.ef_runtime;
    limits_.check_ef(*options.ef, "EF_RUNTIME");
    return *options.ef;
  }

  // The graph's state is in the bases (index/hnsw/graph.hpp, search.hpp); the façade keeps the
  // limits, the locks, the level generator and the writer's maintenance state.
  Limits limits_;
  double level_mult_;

  mutable std::shared_mutex graph_mutex_;  // searches: shared; applying a write: exclusive
  std::mutex writer_mutex_;                // one writer at a time (batch threads share it)

  std::mt19937_64 level_rng_;
};

static_assert(VectorIndex<HnswIndex<float, metric::L2>>);

}  // namespace vindex
