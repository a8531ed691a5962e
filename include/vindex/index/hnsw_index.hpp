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
// plan_links, commit), the level generator and the maintenance rounds. Under it, in index/hnsw/, a
// chain of bases each adding one concern: graph.hpp (state, record layout, hot-loop helpers) ←
// search.hpp (descent, layer search, KNN, range, exact scan) ← linking.hpp (list updates, the
// heuristic re-prune, rehoming) ← repair.hpp (repair planning); restore.hpp builds a graph from saved
// data, types.hpp holds the plain types above. The upsert family and query checks are FlatIndex's
// too (index/front_end.hpp, a public base). Only this file takes locks. Reading order: this
// header's public part, then graph, search, linking, repair, restore.
//
// Maintenance runs in rounds of bounded steps (`maintain(work)`, `maintain_for(time)`; see
// "Maintenance" below). A round takes the tombstones pending when it starts; a cursor visits every
// node's lists, and a list that links to one of them keeps its other links and gets, in the freed
// places, nodes the tombstone linked to (the HNSW heuristic's choice first, then the closest, up to
// the list's former length), each of which links back as it would to a new neighbour; once the
// cursor has passed every node nothing links to those tombstones (no write links to one), so the
// entry point moves off them and their slots are freed; then, against the ageing of old nodes under
// churn, one live node per two tombstones freed (in id order) is linked into its neighbours' lists
// again as if it were new (a local rebuild); last, a walk of layer 0 from the entry point finds any
// live node no longer reachable (its in-links came through tombstones, or pruning cut a small group
// off) and links it from the closest reachable node with room. Searches are correct throughout: a
// tombstone is skipped in results from the moment it is made.
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
// the call returns. Storage grows one block at a time: INITIAL_CAP is a hint that allocates nothing
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
#include "vindex/core/error.hpp"
#include "vindex/core/executor.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/front_end.hpp"
#include "vindex/index/hnsw/graph.hpp"
#include "vindex/index/hnsw/linking.hpp"
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

/// Approximate KNN index. `T` is the stored element type (float); `MetricT` a policy of
/// distance/metric.hpp.
template <class T, class MetricT>
class HnswIndex : public detail::IndexFrontEnd<HnswIndex<T, MetricT>, MetricT>, private detail::HnswRepair<MetricT> {
  static_assert(std::is_same_v<T, float>, "HnswIndex stores float elements");
  using FrontEnd = detail::IndexFrontEnd<HnswIndex, MetricT>;
  friend FrontEnd;
  using FrontEnd::prepare_query;
  // The parts (index/hnsw/), a chain of bases each adding one concern: graph state, layout and hot
  // loop ← search walks ← linking ← repair planning. Bases, not members, so the moved code reads as
  // it did and every call stays direct (no virtual function, no pointer to follow).
  using Graph = detail::HnswGraph<MetricT>;
  using Search = detail::HnswSearch<MetricT>;
  using Linking = detail::HnswLinking<MetricT>;
  using Repair = detail::HnswRepair<MetricT>;  // the last part: the façade's one base
  using typename Graph::Candidate;
  using typename Graph::NodeGrowth;
  using typename Graph::Scratch;
  using Graph::blocks_;
  using Graph::closer;
  using Graph::distance;
  using Graph::entry_;
  using Graph::farther;
  using Graph::grow_nodes;
  using Graph::keys_;
  using Graph::level_of;
  using Graph::linked_back;
  using Graph::links0;
  using Graph::load_link;
  using Graph::m0_;
  using Graph::m_;
  using Graph::magnitudes_;
  using Graph::max_level_;
  using Graph::memory_;
  using Graph::neighbours;
  using Graph::nodes_;
  using Graph::params_;
  using Graph::record;
  using Graph::record_bytes_;
  using Graph::refresh_blocks;
  using Graph::retired_;
  using Graph::same_vector;
  using Graph::schema_;
  using Graph::select_by_heuristic;
  using Graph::slot_bytes;
  using Graph::store_link;
  using Graph::upper_;
  using Graph::vector_of;
  using Graph::work_done_;
  using Search::exact_scan;
  using Search::exact_search;
  using Search::greedy;
  using Search::knn;
  using Search::prefer_exact;
  using Search::range_walk;
  using Search::resolve;
  using Search::scratch_;
  using Search::search_layer;
  using typename Linking::LinkPlan;
  using typename Linking::LinkUpdate;
  using Linking::apply;
  using Linking::connect;
  using Linking::plan_update;
  using Linking::rehome;
  using typename Repair::ExportRepair;
  using typename Repair::Fix;
  using Repair::best_live_entry;
  using Repair::bit;
  using Repair::grow_bits;
  using Repair::kRelinkRounds;
  using Repair::plan_export_repair;
  using Repair::relink_unreachable;
  using Repair::repaired_list;
  using Repair::set_bit;

 public:
  using Metric = MetricT;
  /// One item of insert_batch: a key and its vector.
  using BatchItem = std::pair<KeyView, std::span<const float>>;

  /// An empty index taking its memory from `memory` (null: operator new), which must outlive it.
  /// Allocates nothing yet. Throws kInvalidArgument when the schema, parameters or metric don't fit.
  explicit HnswIndex(VectorSchema schema, HnswParams params = {}, Limits limits = {},
                     std::pmr::memory_resource* memory = nullptr)
      : Repair(checked(schema, params, limits), params, limits, memory),
        limits_(limits),
        level_mult_(1.0 / std::log(static_cast<double>(params.m))),
        level_rng_(params.seed) {}

  /// Restores an index from saved graph data without re-inserting (persistence hook). Validates
  /// everything first — vector sizes and values, key lengths, duplicate keys and ids, neighbour ids
  /// (must name saved nodes of a high enough level), list lengths, levels, the entry point and the
  /// generator state — and throws Error(kCorruptData) naming the first problem. Memory as in the
  /// other constructor; running out of it throws std::bad_alloc (or MemoryLimitExceeded), and what
  /// was taken is given back.
  HnswIndex(VectorSchema schema, HnswParams params, Limits limits, const HnswGraphInfo& info,
            std::span<const HnswNodeData> nodes, std::pmr::memory_resource* memory = nullptr)
      : HnswIndex(schema, params, limits, memory) {
    level_rng_ = detail::restore_graph(static_cast<Graph&>(*this), limits_, info, nodes);
  }

  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  /// The schema every vector follows.
  const VectorSchema& schema() const noexcept { return schema_; }
  /// The parameters in effect: as given, but BLOCK_SIZE clamped to Limits::max_block_bytes.
  const HnswParams& params() const noexcept { return params_; }
  /// The memory resource the index allocates from (as given to the constructor, or operator new's).
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_.upstream(); }
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
    for (const auto& [key, vector] : items) {
      limits_.check_key(key.size());
      throw_if_failed(check_vector(schema_, vector), schema_, key, vector.size(), false);
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
        if (auto failure = decode_blob(schema_, items[i].second, v); failure != VectorFailure::kNone) {
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
    return round_active_.load(std::memory_order_relaxed) || !retired_.empty() || inserted_since_round_ > 0;
  }

  /// The most maintenance one write does (per entry, for a batch), in maintain()'s units: 4 ·
  /// EF_CONSTRUCTION · M, about twice the distance computations of the write's own neighbour search.
  std::size_t maintenance_work_per_write() const noexcept { return 4 * params_.ef_construction * m_; }

  /// What maintenance has done and what is pending.
  HnswMaintenanceStats maintenance_stats() const {
    HnswMaintenanceStats s;
    {
      std::shared_lock lock(graph_mutex_);
      s.pending_tombstones = retired_.size();
      s.round_in_progress = round_active_.load(std::memory_order_relaxed);
    }
    const auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    s.rounds = get(stats_.rounds);
    s.work = get(stats_.work);
    s.lists_repaired = get(stats_.lists_repaired);
    s.back_links = get(stats_.back_links);
    s.nodes_relinked = get(stats_.nodes_relinked);
    s.tombstones_freed = get(stats_.tombstones_freed);
    s.refreshed = get(stats_.refreshed);
    s.write_ns = get(stats_.write_ns);
    s.longest_write_ns = get(stats_.longest_write_ns);
    s.maintain_ns = get(stats_.maintain_ns);
    return s;
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
    std::vector<Id> remap;
    const std::size_t moved = keys_.compact([&](Id from, Id to) {
      if (remap.empty()) {
        remap.resize(keys_.id_bound());
        for (std::size_t i = 0; i < remap.size(); ++i) remap[i] = static_cast<Id>(i);
      }
      std::copy_n(record(from), record_bytes_, record(to));
      if constexpr (MetricT::kNormalizes) *magnitudes_.slot(to) = *magnitudes_.slot(from);
      upper_.rename(from, to);
      remap[from] = to;
    });
    if (moved != 0) {
      for (std::size_t id = 0; id < keys_.id_bound(); ++id) {
        const unsigned top = level_of(static_cast<Id>(id));
        for (unsigned l = 0; l <= top; ++l) {
          const auto [list, cap] = neighbours(static_cast<Id>(id), l);
          for (std::size_t i = 0; i < cap && list[i] != kInvalidId; ++i) list[i] = remap[list[i]];
        }
      }
      if (entry_ != kInvalidId) entry_ = remap[entry_];
    }
    nodes_.shrink_slots(keys_.id_bound());
    magnitudes_.shrink_slots(keys_.id_bound());
    refresh_blocks();
    decltype(retired_)(retired_.get_allocator()).swap(retired_);  // swept: empty
    scratch_.clear();
    return moved;
  }

  /// Removes every entry and releases all storage, memory_bytes() dropping to 0 (the level
  /// generator keeps its state).
  void clear() {
    std::lock_guard writer(writer_mutex_);
    std::unique_lock lock(graph_mutex_);
    keys_.clear();
    nodes_.shrink_slots(0);
    magnitudes_.shrink_slots(0);
    upper_.clear();
    decltype(retired_)(retired_.get_allocator()).swap(retired_);
    inserted_since_round_ = 0;
    refresh_cursor_ = 0;
    end_round();
    entry_ = kInvalidId;
    max_level_ = -1;
    decltype(blocks_)(blocks_.get_allocator()).swap(blocks_);
    scratch_.clear();
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
    const float* v = vector_of(*id);
    std::vector<float> out(v, v + schema_.dim);
    if constexpr (MetricT::kNormalizes) {
      const float magnitude = *magnitudes_.slot(*id);
      for (float& x : out) x *= magnitude;
    }
    return out;
  }

  /// Bytes the index holds from its memory resource (vectors, links, keys, directories, tombstones):
  /// exactly what the resource handed out and was not given back. Query scratch is not included
  /// (see memory_breakdown()).
  std::size_t memory_bytes() const noexcept { return memory_.in_use(); }

  /// memory_bytes() split into vectors, links, keys and other, plus the idle query scratch.
  HnswMemory memory_breakdown() const {
    std::shared_lock lock(graph_mutex_);  // writers allocate only under the exclusive lock
    HnswMemory m;
    const std::size_t slots = nodes_.capacity_slots();
    m.vectors = slots * schema_.dim * sizeof(float) + magnitudes_.memory_bytes();
    m.links = slots * m0_ * sizeof(Id) + upper_.memory_bytes();
    m.keys = keys_.memory_bytes();
    const std::size_t total = memory_.in_use(), parts = m.vectors + m.links + m.keys;
    m.other = total > parts ? total - parts : 0;
    m.scratch = scratch_.memory_bytes() + round_.memory_bytes();  // round_: maintenance in progress
    return m;
  }

  /// Bytes held by erased entries: tombstones awaiting a sweep and freed slots awaiting reuse or
  /// `compact()`.
  std::size_t deleted_memory_bytes() const {
    std::shared_lock lock(graph_mutex_);
    std::size_t bytes = (retired_.size() + keys_.free_count()) * slot_bytes();
    for (Id id : retired_) bytes += upper_.levels(id) * upper_.list_bytes();
    return bytes;
  }

  /// The k nearest entries to `query`, closest first, ties by key; fewer when fewer match.
  /// `options.ef` overrides EF_RUNTIME for this query (effective ef = max(ef, k)); `options.filter`
  /// restricts results (selective filters are answered by an exact scan of the matches).
  /// Throws kInvalidArgument for k or ef outside the limits, kSchemaMismatch / kInvalidVector for a
  /// bad query.
  std::vector<SearchResult> search(std::span<const float> query, std::size_t k,
                                   const SearchOptions& options = {}) const {
    limits_.check_k(k);
    const std::size_t ef = std::max(runtime_ef(options), k);
    const std::vector<float> q = prepare_query(query);
    std::shared_lock lock(graph_mutex_);
    if (entry_ == kInvalidId) return {};
    if (options.filter) {
      const Filter filter = resolve(*options.filter);
      if (prefer_exact(filter, ef)) return exact_search(q.data(), k, filter, options);
      return knn(q.data(), k, ef, options,
                 [&](Id id) { return keys_.is_live(id) && filter.matches(keys_.key(id), id); });
    }
    // Without tombstones every reachable node is live (nothing links to a freed slot).
    if (retired_.empty()) return knn(q.data(), k, ef, options, [](Id) { return true; });
    return knn(q.data(), k, ef, options, [&](Id id) { return keys_.is_live(id); });
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
    if (entry_ == kInvalidId) return {};
    const auto r = static_cast<Distance>(radius);
    std::vector<std::pair<Distance, Id>> hits;
    if (options.filter) {
      const Filter filter = resolve(*options.filter);
      if (prefer_exact(filter, params_.ef_runtime)) {
        exact_scan(q.data(), filter, options, [&](Distance d, Id id) {
          if (d <= r) hits.emplace_back(d, id);
        });
      } else {
        range_walk(q.data(), r, epsilon, hits, options,
                   [&](Id id) { return keys_.is_live(id) && filter.matches(keys_.key(id), id); });
      }
    } else {
      range_walk(q.data(), r, epsilon, hits, options, [&](Id id) { return keys_.is_live(id); });
    }
    detail::sort_by_distance_then_key(keys_, hits);
    return detail::to_results(keys_, hits);
  }

  /// Calls `visit(key, id, vector)` for every entry (stored, i.e. normalised, form) under a shared
  /// lock. `visit` must not call back into this index.
  template <class Visit>
  void for_each(Visit&& visit) const {
    std::shared_lock lock(graph_mutex_);
    for (std::size_t id = 0; id < keys_.id_bound(); ++id)
      if (keys_.is_live(static_cast<Id>(id)))
        visit(keys_.key(static_cast<Id>(id)), static_cast<Id>(id),
              std::span<const float>(vector_of(static_cast<Id>(id)), schema_.dim));
  }

  /// Persistence hook: calls `visit(const HnswNodeData&)` for every live node in id order (the
  /// argument is reused between calls) and returns the graph-wide state. With no tombstone pending
  /// this is exactly the graph searches walk. With tombstones pending it is the graph as
  /// maintenance would leave it: every list that links to a tombstone is repaired as a round
  /// repairs it (tombstones left out, their live neighbours in their place), a tombstoned entry point
  /// is replaced, and any live node the repaired layer 0 does not reach from the entry point is
  /// linked from the closest reached node with room — so every key stays findable after a load,
  /// and the data always passes the restoring constructor's validation. Costs O(entries) time and
  /// memory beyond the visit, under the shared lock.
  template <class Visit>
  HnswGraphInfo export_graph(Visit&& visit) const {
    std::shared_lock lock(graph_mutex_);
    HnswGraphInfo info;
    info.entry_point = entry_;
    info.max_level = max_level_;
    if (entry_ != kInvalidId && !keys_.is_live(entry_)) {
      info.entry_point = best_live_entry();
      info.max_level = info.entry_point == kInvalidId ? -1 : static_cast<int>(level_of(info.entry_point));
    }
    const ExportRepair repair = retired_.empty() ? ExportRepair{} : plan_export_repair(info.entry_point);
    {
      std::ostringstream state;
      state << level_rng_;
      info.level_generator_state = state.str();
    }
    HnswNodeData node;
    for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
      const Id id = static_cast<Id>(i);
      if (!keys_.is_live(id)) continue;
      node.id = id;
      node.key.assign(keys_.key(id));
      node.vector.assign(vector_of(id), vector_of(id) + schema_.dim);
      node.magnitude = MetricT::kNormalizes ? *magnitudes_.slot(id) : 1.0f;
      const unsigned top = level_of(id);
      node.links.resize(top + 1);
      for (unsigned l = 0; l <= top; ++l) {
        node.links[l].clear();
        if (const std::vector<Id>* fixed = repair.find(id, l)) {
          node.links[l] = *fixed;
          continue;
        }
        const auto [list, cap] = neighbours(id, l);
        for (std::size_t j = 0; j < cap && list[j] != kInvalidId; ++j)
          if (keys_.is_live(list[j])) node.links[l].push_back(list[j]);
      }
      visit(static_cast<const HnswNodeData&>(node));
    }
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

  // Reserves, under the exclusive lock, everything inserting `keys` at `levels` can take from the
  // memory resource: a node slot per entry (each takes a new id), their upper-layer lists, tombstone
  // room for the entries they replace, key-table room and each new long key's copy (into `rooms`),
  // so that the inserts allocate nothing from it. On failure nothing changes and nothing stays
  // allocated.
  void reserve_batch(std::span<const KeyView> keys, std::span<const unsigned> levels,
                     std::vector<KeyMap::Insertion>& rooms) {
    std::size_t fresh = 0, replaced = 0, long_keys = 0, lists = 0;
    rooms.clear();
    rooms.reserve(keys.size());
    for (std::size_t j = 0; j < keys.size(); ++j) {
      lists += levels[j];
      if (keys_.find(keys[j])) {
        ++replaced;
        rooms.emplace_back();
      } else {
        ++fresh;
        long_keys += KeyMap::stored_inline(keys[j]) ? 0 : 1;
        rooms.push_back(keys_.copy_key(keys[j]));
      }
    }
    NodeGrowth nodes = grow_nodes(keys_.id_bound() + keys.size());
    auto upper = upper_.grow(lists);
    GrowGuard retired(retired_, retired_.size() + replaced);
    keys_.reserve(keys_.size() + fresh, keys_.id_bound() + keys.size(), long_keys);  // strong: last
    nodes.commit();
    upper.commit();
    retired.commit();
  }

  Id entry_point_unlocked() const {
    std::shared_lock lock(graph_mutex_);
    return entry_;
  }

  // Whether `id` may be linked to by a new node: live (concurrent planners, which hold no lock, ask
  // batch_tombstones_ instead; commit() checks again).
  bool is_live_now(Id id, bool concurrent) const noexcept {
    return concurrent ? !bit(batch_tombstones_, id) : keys_.is_live(id);
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
        batch_tombstones_.clear();
        for (Id r : retired_) set_bit(batch_tombstones_, r);
      }
    } catch (const std::bad_alloc&) {
      level_rng_ = generator;
      rooms.clear();  // key copies made before the failure: give them back before going on
      batch_tombstones_ = {};
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
      nodes_.shrink_slots(keys_.id_bound());  // the blocks reserved for ids the batch did not take
      magnitudes_.shrink_slots(keys_.id_bound());
      refresh_blocks();
    }
    batch_tombstones_ = {};
    after_writes(count);
    if (failure) std::rethrow_exception(failure);
  }

  // Callable from several threads at once (insert_batch) while the caller holds writer_mutex_; with
  // `concurrent`, storage must already hold every id the batch can assign (see plan_links).
  // `replaced` is the key's current node (kInvalidId for a new key): it becomes a tombstone at commit,
  // so the plan never links to it. `room`: what reserve_batch set aside for this key, or null.
  UpsertResult insert_planned(KeyView key, std::span<const float> v, float magnitude, unsigned level, Id replaced,
                              bool concurrent = false, KeyMap::Insertion* room = nullptr) {
    const LinkPlan plan = plan_links(v.data(), level, replaced, concurrent);
    std::unique_lock lock(graph_mutex_);
    return commit(key, v.data(), magnitude, level, plan, room);
  }

  // Finds the new node's neighbours on each of its layers and the lists those neighbours will have
  // with it, so that commit() only writes. With `concurrent` (insert_batch's threads, node storage
  // reserved up front so no id's record moves) the layer-0 part, nearly all of the work, runs without
  // the shared lock: other threads' commits go on meanwhile, and commit() applies an update only to a
  // list still as it was read, re-planning the others under the exclusive lock.
  LinkPlan plan_links(const float* q, unsigned level, Id replaced, bool concurrent) const {
    LinkPlan plan;
    std::shared_lock lock(graph_mutex_);
    if (entry_ == kInvalidId) return plan;
    auto scratch = scratch_.take();
    scratch->start_walk({});
    const std::size_t id_bound = concurrent ? nodes_.capacity_slots() : keys_.id_bound();
    Id ep = entry_;
    Distance d_ep = distance(q, ep);
    for (int l = max_level_; l > static_cast<int>(level); --l)
      greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
    const int top = std::min(static_cast<int>(level), max_level_);
    plan.links.resize(static_cast<std::size_t>(top) + 1);
    std::vector<Candidate> sorted;
    std::vector<Candidate> live;
    for (int l = top; l >= 0; --l) {
      if (l == 0 && concurrent) lock.unlock();
      // The walk goes through tombstones, but the new node links to live nodes only, and not to the
      // node it replaces: no write ever links to a tombstone, which is what lets a maintenance round
      // free one once its cursor has passed every list. (Choosing the replaced node, the closest
      // one after a small update, and dropping it at commit would leave the new node with few
      // links: the heuristic skips whatever that node dominated.)
      search_layer(q, ep, d_ep, params_.ef_construction, static_cast<unsigned>(l), *scratch,
                   [](Id) { return true; }, id_bound);
      sorted = scratch->results;
      std::sort(sorted.begin(), sorted.end(), closer);
      live.clear();
      for (const Candidate& c : sorted)
        if (c.id != replaced && is_live_now(c.id, concurrent)) live.push_back(c);
      std::vector<Id>& chosen = plan.links[static_cast<std::size_t>(l)];
      select_by_heuristic(live, m_, chosen);
      for (Id n : chosen) plan_update(q, n, static_cast<unsigned>(l), plan);
      if (!sorted.empty()) {
        ep = sorted.front().id;
        d_ep = sorted.front().distance;
      }
    }
    return plan;
  }

  // `room`: what reserve_batch set aside for this key, or null.
  UpsertResult commit(KeyView key, const float* v, float magnitude, unsigned level, const LinkPlan& plan,
                      KeyMap::Insertion* room = nullptr) {
    UpsertOutcome outcome = UpsertOutcome::kInserted;
    const auto old = keys_.find(key);
    if (old) {
      if (same_vector(*old, v, magnitude)) return {UpsertOutcome::kUnchanged, VectorFailure::kNone, *old};
      outcome = UpsertOutcome::kUpdated;
    }
    // Allocate everything first: past this point nothing throws. Should one allocation fail, the
    // guards give back what the earlier ones took, so the index is exactly as it was. (A walk's
    // bitset and stack growing first is harmless: capacity only.)
    const bool walking = round_.phase == Phase::kWalk;
    if (walking) {
      grow_bits(round_.reached, keys_.next_id() + 1);
      reserve_for(round_.stack, round_.stack.size() + 1);
    }
    NodeGrowth nodes = grow_nodes(keys_.next_id() + std::size_t{1});  // one block at most
    auto upper = upper_.grow(level);
    GrowGuard retired(retired_, retired_.size() + (old ? 1 : 0));
    KeyMap::Insertion key_room = room ? std::move(*room) : old ? keys_.prepare_move() : keys_.prepare(key);
    nodes.commit();
    upper.commit();
    retired.commit();
    Id id;
    if (old) {
      id = keys_.reinsert(key, std::move(key_room)).second;  // the old id becomes a tombstone
      retired_.push_back(*old);
    } else {
      id = keys_.insert(key, std::move(key_room));
    }
    ++inserted_since_round_;

    // The new node's own vector and lists first: nothing links to it yet. Neighbours that are
    // tombstones by now (another thread of the batch replaced their key, or this key's old node)
    // are left out: no write links to a tombstone.
    std::copy_n(v, schema_.dim, vector_of(id));
    if constexpr (MetricT::kNormalizes) *magnitudes_.slot(id) = magnitude;
    std::fill_n(links0(id), m0_, kInvalidId);
    upper_.add(id, level);
    for (std::size_t l = 0; l < plan.links.size(); ++l)
      std::copy_if(plan.links[l].begin(), plan.links[l].end(), neighbours(id, static_cast<unsigned>(l)).first,
                   [&](Id n) { return keys_.is_live(n); });
    for (const LinkUpdate& u : plan.updates)
      if (keys_.is_live(u.node)) apply(u, plan, id);
    // A maintenance walk in progress counts the new node as reached and walks on from it.
    if (walking) {
      set_bit(round_.reached, id);
      round_.stack.push_back(id);
    }
    // Every neighbour may have pruned the new node (full lists of closer nodes): link it from near one.
    if (links0(id)[0] != kInvalidId && !linked_back(id, kInvalidId)) rehome(id, links0(id)[0]);
    if (entry_ == kInvalidId || static_cast<int>(level) > max_level_) {
      entry_ = id;
      max_level_ = static_cast<int>(level);
    }
    return {outcome, VectorFailure::kNone, id};
  }

  // ---------------------------------------------------------------------------------------------
  // Maintenance: rounds of bounded steps that repair the lists linking to tombstones, free the
  // tombstones, and check that layer 0 still reaches every live node. Round state belongs to the
  // writer (writer_mutex_ held); the graph is read under the shared lock and written under the
  // exclusive one, as by any write. What needs no lock and no round state — the repaired lists,
  // relinking the unreachable for an export, the next entry point — is planned in
  // index/hnsw/repair.hpp; this state machine takes the locks and applies it.
  //
  //   kRepair  The batch is retired_[0, round_.batch): the tombstones pending when the round
  //            started (later ones wait for the next round), marked in round_.dead. A cursor visits
  //            every id; a live node's list that links to a batch member is replaced by
  //            repaired_list(), a tombstone's own list just loses those links, and each node a
  //            repair added then links back to the list's owner (connect(), as a new node's
  //            neighbours do; one per exclusive lock). Lists the cursor has passed never gain a
  //            link to a batch member: no write links to a tombstone (plan_links, commit, rehome
  //            and the repairs take live nodes only).
  //   kFree    So once the cursor has passed every id nothing links to the batch: the entry point
  //            moves off it if it was on it, and the slots are freed, kFreeChunk per exclusive lock.
  //   kRefresh One local rebuild per kTombstonesPerRefresh slots freed (refresh_step): the next
  //            live nodes in id order are linked into their neighbours' lists again, as if new.
  //   kWalk    A depth-first walk of layer 0 from the entry point, through tombstones as searches
  //            go (a node inserted meanwhile counts as reached and is walked from), then a cursor
  //            over the ids: a live node the walk missed is searched for by its own vector. Found,
  //            it is walked from (a link appeared behind the walk); else it is linked from the
  //            closest node the search found that has room, or displaces that node's farthest link
  //            to a node someone else also links to, and then the walk runs again (at most
  //            kRelinkRounds walks per round).
  // Work units: one per list visited, node walked or slot freed, and one per distance computed or
  // neighbour list read by the repairs, links back and local rebuilds (work_done_); EF_CONSTRUCTION
  // · M per relink or rebuild search.

  enum class Phase : std::uint8_t { kIdle, kRepair, kFree, kRefresh, kWalk };

  // A link a repair planned back to `to` from `from`, a node it added to the list of `to`.
  struct LinkBack {
    Id from;
    Id to;
    unsigned level;
  };

  struct Round {
    Phase phase = Phase::kIdle;
    bool urgent = false;                 // writes maintain until it ends (see after_writes)
    bool displaced = false;              // a relink displaced a link: walk again
    int walks = 0;                       // walks started in this round
    std::size_t batch = 0;               // retired_[0, batch) is freed by this round
    std::size_t cursor = 0;              // next id (kRepair, kWalk) or batch position (kFree)
    std::vector<std::uint64_t> dead;     // bit per id: a batch member
    std::vector<std::uint64_t> reached;  // bit per id: reached by the walk
    std::vector<Id> stack;               // the walk's frontier
    std::vector<LinkBack> links_back;    // planned by repairs, done from next_link on
    std::size_t next_link = 0;
    std::size_t refreshes = 0;           // local rebuilds left (kRefresh)
    std::size_t memory_bytes() const noexcept {
      return (dead.capacity() + reached.capacity()) * sizeof(std::uint64_t) + stack.capacity() * sizeof(Id) +
             links_back.capacity() * sizeof(LinkBack);
    }
  };

  struct StatCounters {
    std::atomic<std::uint64_t> rounds{0}, work{0}, lists_repaired{0}, back_links{0}, nodes_relinked{0},
        tombstones_freed{0}, refreshed{0}, write_ns{0}, longest_write_ns{0}, maintain_ns{0};
  };
  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
  static std::uint64_t nanoseconds_since(std::chrono::steady_clock::time_point start) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  }

  // After `writes` writes (entries of a batch). Maintenance is the host's (maintain) until
  // tombstones, or inserts since the last round, reach 1/16 of the live entries; from then until
  // that round ends each write runs at most maintenance_work_per_write() units. Caller holds
  // writer_mutex_.
  void after_writes(std::size_t writes) {
    writes_ += writes;
    bool due;
    {
      std::shared_lock lock(graph_mutex_);
      const std::size_t threshold = std::max(kMinSweep, keys_.size() / kSweepFraction);
      due = round_.phase == Phase::kIdle ? retired_.size() >= threshold || inserted_since_round_ >= threshold
                                         : round_.urgent || retired_.size() >= threshold;
    }
    if (!due) return;
    const auto start = std::chrono::steady_clock::now();
    if (round_.phase == Phase::kIdle) start_round();
    round_.urgent = true;
    advance(writes * maintenance_work_per_write());
    const std::uint64_t ns = nanoseconds_since(start);
    add(stats_.write_ns, ns);
    if (ns > stats_.longest_write_ns.load(std::memory_order_relaxed))
      stats_.longest_write_ns.store(ns, std::memory_order_relaxed);
  }

  // maintain() and each step of maintain_for() (`call`: the first step of a call). Starts a round
  // when one is due for a host (tombstones at 1/64 of the live entries, inserts at 1/16, or anything
  // pending once kQuietCalls calls in a row saw no write), then advances it. Returns whether more
  // is to do right away.
  bool maintain_step(std::size_t work, bool call) {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard writer(writer_mutex_);
    if (call) {
      quiet_calls_ = writes_ == writes_at_maintain_ ? quiet_calls_ + 1 : 0;
      writes_at_maintain_ = writes_;
    }
    const bool more = maintain_locked(work);
    add(stats_.maintain_ns, nanoseconds_since(start));
    return more;
  }

  // Caller holds writer_mutex_.
  bool maintain_locked(std::size_t work) {
    if (round_.phase == Phase::kIdle) {
      if (!round_due()) return false;
      start_round();
    }
    advance(std::max<std::size_t>(work, 1));
    return round_.phase != Phase::kIdle || round_due();
  }

  bool round_due() const {
    std::shared_lock lock(graph_mutex_);
    const std::size_t live = keys_.size();
    return retired_.size() >= std::max<std::size_t>(1, live / kRoundFraction) ||
           inserted_since_round_ >= std::max(kMinSweep, live / kSweepFraction) ||
           ((!retired_.empty() || inserted_since_round_ > 0) && quiet_calls_ >= kQuietCalls);
  }

  // Does everything pending now (sweep_tombstones, compact). Caller holds writer_mutex_.
  void sweep_all() {
    advance(std::numeric_limits<std::size_t>::max());
    bool pending;
    {
      std::shared_lock lock(graph_mutex_);
      pending = !retired_.empty() || inserted_since_round_ > 0;
    }
    if (!pending) return;
    start_round();
    advance(std::numeric_limits<std::size_t>::max());
  }

  void start_round() {
    std::unique_lock lock(graph_mutex_);  // inserted_since_round_ and round_active_ are read under it
    round_.batch = retired_.size();
    round_.dead.assign((keys_.id_bound() + 63) / 64, 0);
    for (std::size_t i = 0; i < round_.batch; ++i) set_bit(round_.dead, retired_[i]);
    round_.cursor = 0;
    round_.walks = 0;
    round_.urgent = false;
    inserted_since_round_ = 0;
    round_active_.store(true, std::memory_order_relaxed);
    if (round_.batch > 0) {
      round_.phase = Phase::kRepair;
    } else {
      start_walk();
    }
  }

  void end_round() {
    round_ = Round{};
    round_active_.store(false, std::memory_order_relaxed);
  }

  // Advances the round by about `budget` units (stopping early when it ends).
  void advance(std::size_t budget) {
    std::size_t used = 0;
    while (used < budget && round_.phase != Phase::kIdle) {
      const std::size_t left = budget - used;
      switch (round_.phase) {
        case Phase::kRepair: used += repair_step(left); break;
        case Phase::kFree: used += free_step(left); break;
        case Phase::kRefresh: used += refresh_step(left); break;
        case Phase::kWalk: used += walk_step(left); break;
        case Phase::kIdle: break;
      }
    }
    add(stats_.work, used);
  }

  std::size_t repair_step(std::size_t budget) {
    const std::size_t start = work_done_;
    std::size_t visited = 0;
    // Links back first, one connect() per exclusive lock, within the budget.
    while (round_.next_link < round_.links_back.size() && work_done_ - start + visited < budget) {
      const LinkBack& b = round_.links_back[round_.next_link++];
      std::unique_lock lock(graph_mutex_);
      // Both ends were live when planned; a write since may have tombstoned either.
      if (!keys_.is_live(b.from) || !keys_.is_live(b.to)) continue;
      connect(b.from, b.to, b.level);
      add(stats_.back_links, 1);
      ++visited;
    }
    if (round_.next_link == round_.links_back.size()) {
      round_.links_back.clear();
      round_.next_link = 0;
    }
    std::vector<Fix> fixes;
    const auto dead = [this](Id n) { return bit(round_.dead, n); };
    if (round_.links_back.empty()) {
      std::shared_lock lock(graph_mutex_);
      const std::size_t bound = keys_.id_bound();
      while (work_done_ - start + visited < budget && round_.cursor < bound) {
        const Id u = static_cast<Id>(round_.cursor++);
        ++visited;
        if (dead(u)) continue;  // a batch member: its lists go with it
        const bool live = keys_.is_live(u);
        const unsigned top = level_of(u);
        for (unsigned l = 0; l <= top; ++l) {
          const auto [list, cap] = neighbours(u, l);
          std::size_t j = 0;
          while (j < cap && list[j] != kInvalidId && !dead(list[j])) ++j;
          if (j == cap || list[j] == kInvalidId) continue;
          Fix& fix = fixes.emplace_back(Fix{u, l, {}, {}});
          if (live) {
            repaired_list(u, l, {list, cap}, dead, fix.links, fix.added);
          } else {
            for (std::size_t i = 0; i < cap && list[i] != kInvalidId; ++i)
              if (!dead(list[i])) fix.links.push_back(list[i]);
          }
        }
      }
    }
    if (!fixes.empty()) {
      std::unique_lock lock(graph_mutex_);
      std::size_t repaired = 0;
      for (const Fix& fix : fixes) {
        const auto [list, cap] = neighbours(fix.node, fix.level);
        std::copy(fix.links.begin(), fix.links.end(), list);
        std::fill(list + fix.links.size(), list + cap, kInvalidId);
        repaired += keys_.is_live(fix.node) ? 1 : 0;
      }
      add(stats_.lists_repaired, repaired);
    }
    // Each node a repair added links back, as a new node's neighbours do (in the next steps):
    // without this the graph drifts away from a fresh build's under churn (bench_churn, 64-d
    // Gaussian: own-vector rate at EF 200 0.981 against 0.998 fresh; with it 0.998).
    for (const Fix& fix : fixes)
      for (Id c : fix.added) round_.links_back.push_back({c, fix.node, fix.level});
    if (round_.cursor >= keys_.id_bound() && round_.links_back.empty()) {
      round_.phase = Phase::kFree;
      round_.cursor = 0;
    }
    return std::max<std::size_t>(work_done_ - start + visited, 1);
  }

  std::size_t free_step(std::size_t budget) {
    std::size_t used = 0;
    if (round_.cursor == 0 && entry_ != kInvalidId && bit(round_.dead, entry_)) {
      Id entry;
      {
        std::shared_lock lock(graph_mutex_);
        entry = best_live_entry();
      }
      used += upper_.list_count() + 1;
      std::unique_lock lock(graph_mutex_);
      entry_ = entry;
      max_level_ = entry == kInvalidId ? -1 : static_cast<int>(level_of(entry));
    }
    std::unique_lock lock(graph_mutex_);
    const std::size_t end = std::min(round_.batch, round_.cursor + std::clamp<std::size_t>(budget, 1, kFreeChunk));
    for (; round_.cursor < end; ++round_.cursor, ++used) {
      const Id r = retired_[round_.cursor];
      upper_.remove(r);
      std::fill_n(links0(r), m0_, kInvalidId);
      keys_.release_retired(r);
    }
    if (round_.cursor == round_.batch) {
      retired_.erase(retired_.begin(), retired_.begin() + static_cast<std::ptrdiff_t>(round_.batch));
      add(stats_.tombstones_freed, round_.batch);
      round_.refreshes = (round_.batch + kTombstonesPerRefresh - 1) / kTombstonesPerRefresh;
      round_.batch = 0;
      round_.dead = {};
      round_.phase = Phase::kRefresh;
    }
    return std::max<std::size_t>(used, 1);
  }

  // Local rebuilds: a churned graph ages its old nodes. Every write adds links to lists and every
  // full list then drops one, by the heuristic; a node inserted long ago has lived through more of
  // that than the average node of a fresh build, so fewer of its near neighbours still link to it
  // and a search at a small ef misses it more often (bench_churn, 64-d Gaussian, 30,000 keys,
  // 10,000 writes: own-vector top-10 at EF 10 of untouched keys 0.711 against 0.752 fresh, of keys
  // written during the churn 0.839). So each round re-links one live node per kTombstonesPerRefresh
  // tombstones it freed, in id order across rounds (every node in turn), as an insert links a new
  // node into its neighbours' lists: search for its own vector, choose M of what the search finds
  // by the heuristic, and add it to those lists (plan_update / apply, as for an insert).
  std::size_t refresh_step(std::size_t budget) {
    std::size_t used = 0;
    while (used < budget && round_.refreshes > 0) {
      --round_.refreshes;
      const std::size_t bound = keys_.id_bound();
      if (keys_.size() < 2) break;
      Id v;
      do {
        v = static_cast<Id>(refresh_cursor_++ % bound);
        ++used;
      } while (!keys_.is_live(v));
      used += refresh(v);
    }
    if (round_.refreshes == 0 || keys_.size() < 2) start_walk();
    return std::max<std::size_t>(used, 1);
  }

  std::size_t refresh(Id v) {
    const std::size_t start = work_done_;
    LinkPlan plan;
    {
      std::shared_lock lock(graph_mutex_);
      auto scratch = scratch_.take();
      scratch->start_walk({});  // no deadline: a pooled scratch may hold a query's
      const float* q = vector_of(v);
      Id ep = entry_;
      Distance d_ep = distance(q, ep);
      for (int l = max_level_; l > 0; --l) greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
      search_layer(q, ep, d_ep, params_.ef_construction, 0, *scratch, [](Id) { return true; }, keys_.id_bound());
      std::vector<Candidate> live;
      for (const Candidate& c : scratch->results)
        if (c.id != v && keys_.is_live(c.id)) live.push_back(c);
      std::sort(live.begin(), live.end(), closer);
      std::vector<Id> chosen;
      select_by_heuristic(live, m_, chosen);
      for (Id n : chosen) {
        const Id* list = links0(n);
        if (std::find(list, list + m0_, v) == list + m0_) plan_update(q, n, 0, plan);
      }
    }
    if (!plan.updates.empty()) {
      std::unique_lock lock(graph_mutex_);
      for (const LinkUpdate& u : plan.updates) apply(u, plan, v);
    }
    add(stats_.refreshed, 1);
    return work_done_ - start + params_.ef_construction * m_;  // + the search, roughly
  }

  void start_walk() {
    round_.phase = Phase::kWalk;
    round_.cursor = 0;
    round_.displaced = false;
    ++round_.walks;
    round_.reached.assign((keys_.id_bound() + 63) / 64, 0);
    round_.stack.clear();
    if (entry_ != kInvalidId) {
      set_bit(round_.reached, entry_);
      round_.stack.push_back(entry_);
    }
  }

  std::size_t walk_step(std::size_t budget) {
    std::size_t used = 0;
    Id missed = kInvalidId;
    bool done = false;
    {
      std::shared_lock lock(graph_mutex_);
      const std::size_t bound = keys_.id_bound();
      while (used < budget) {
        ++used;
        if (!round_.stack.empty()) {
          const Id u = round_.stack.back();
          round_.stack.pop_back();
          const Id* list = links0(u);
          for (std::size_t j = 0; j < m0_ && list[j] != kInvalidId; ++j)
            if (!bit(round_.reached, list[j])) {
              set_bit(round_.reached, list[j]);
              round_.stack.push_back(list[j]);
            }
          continue;
        }
        if (round_.cursor >= bound) {
          done = true;
          break;
        }
        const Id x = static_cast<Id>(round_.cursor++);
        if (keys_.is_live(x) && !bit(round_.reached, x)) {
          missed = x;
          break;
        }
      }
    }
    if (missed != kInvalidId) used += relink(missed);
    if (done) {
      if (round_.displaced && round_.walks < kRelinkRounds) {
        start_walk();
      } else {
        end_round();
        add(stats_.rounds, 1);
      }
    }
    return used;
  }

  // Live node `x`, which the walk did not reach, is searched for by its own vector. Found, it is
  // reachable after all; else it is linked from the closest node the search found (reachable, by
  // construction) that has room, or, when none has, in place of that node's farthest link to a
  // node another neighbour also links to (then the walk runs again: the displaced node may be cut
  // off). Either way it is then walked from. Returns the work charged.
  std::size_t relink(Id x) {
    bool found = false;
    Id host = kInvalidId;
    std::size_t slot = 0;
    bool displace = false;
    {
      std::shared_lock lock(graph_mutex_);
      if (entry_ == kInvalidId || entry_ == x) {
        found = true;
      } else {
        auto scratch = scratch_.take();
        scratch->start_walk({});  // no deadline: a pooled scratch may hold a query's
        const float* q = vector_of(x);
        Id ep = entry_;
        Distance d_ep = distance(q, ep);
        for (int l = max_level_; l > 0; --l) greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
        search_layer(q, ep, d_ep, params_.ef_construction, 0, *scratch, [](Id) { return true; }, keys_.id_bound());
        std::vector<Candidate>& r = scratch->results;
        std::sort(r.begin(), r.end(), closer);
        found = std::any_of(r.begin(), r.end(), [&](const Candidate& c) { return c.id == x; });
        for (std::size_t pass = 0; !found && host == kInvalidId && pass < 2; ++pass)
          for (const Candidate& c : r) {
            if (c.id == x || !keys_.is_live(c.id)) continue;
            const Id* hl = links0(c.id);
            if (pass == 0 && hl[m0_ - 1] != kInvalidId) continue;
            host = c.id;
            if (pass == 0) {
              slot = static_cast<std::size_t>(std::find(hl, hl + m0_, kInvalidId) - hl);
            } else {  // every host found is full: displace
              displace = true;
              Distance worst = -std::numeric_limits<Distance>::infinity();
              for (bool shared : {true, false}) {
                for (std::size_t j = 0; j < m0_; ++j)
                  if ((!shared || linked_back(hl[j], c.id)) && distance(vector_of(c.id), hl[j]) > worst) {
                    worst = distance(vector_of(c.id), hl[j]);
                    slot = j;
                  }
                if (worst > -std::numeric_limits<Distance>::infinity()) break;
              }
            }
            break;
          }
      }
    }
    if (!found && host != kInvalidId) {
      std::unique_lock lock(graph_mutex_);
      store_link(links0(host), slot, x);
      round_.displaced |= displace;
      add(stats_.nodes_relinked, 1);
    }
    set_bit(round_.reached, x);
    round_.stack.push_back(x);
    return params_.ef_construction * m_;  // the search's distances, roughly (search_layer does not count)
  }

  // ---------------------------------------------------------------------------------------------
  // Input checks: the schema and parameters, and the per-query ef (queries: index/front_end.hpp).

  static VectorSchema checked(const VectorSchema& schema, const HnswParams& params, const Limits& limits) {
    FrontEnd::check_schema(schema, limits);
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

  static constexpr std::size_t kMinSweep = 16;
  static constexpr std::size_t kSweepFraction = 16;  // writes maintain from 1/16 (see after_writes)
  static constexpr std::size_t kRoundFraction = 64;  // maintain() starts a round from 1/64
  static constexpr std::size_t kQuietCalls = 8;      // ... or after this many calls with no write
  static constexpr std::size_t kMaintainStep = 512;  // maintain_for's step, in work units
  static constexpr std::size_t kFreeChunk = 256;     // slots freed per exclusive lock
  static constexpr std::size_t kTombstonesPerRefresh = 2;  // local rebuilds: one per this many freed

  // The graph's state is in the bases (index/hnsw/graph.hpp, search.hpp); the façade keeps the
  // limits, the locks, the level generator and the writer's maintenance state.
  Limits limits_;
  double level_mult_;

  mutable std::shared_mutex graph_mutex_;  // searches: shared; applying a write: exclusive
  std::mutex writer_mutex_;                // one writer at a time (batch threads share it)

  std::size_t inserted_since_round_ = 0;  // nodes inserted since the last round started
  Round round_;                            // maintenance in progress (writer's)
  std::atomic<bool> round_active_{false};  // round_.phase != kIdle, for maintenance_pending()
  std::vector<std::uint64_t> batch_tombstones_;  // tombstones when a concurrent batch began
  std::uint64_t writes_ = 0;               // writes so far (entries of batches count one each)
  std::uint64_t writes_at_maintain_ = 0;   // writes_ at the last maintain() call
  std::size_t quiet_calls_ = 0;            // maintain() calls in a row that saw no write
  std::size_t refresh_cursor_ = 0;         // next id to consider for a local rebuild
  StatCounters stats_;
  std::mt19937_64 level_rng_;
};

static_assert(VectorIndex<HnswIndex<float, metric::L2>>);

}  // namespace vindex
