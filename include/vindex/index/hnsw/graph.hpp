// vindex/index/hnsw/graph.hpp — the state of an HNSW graph, its record layout and the hot loop's
// helpers: where a node's vector and lists are, prefetching, measuring a list of neighbours, the
// atomic link loads and stores, the neighbour heuristic and the "links back" test.
//
// `detail::HnswGraph<Codec>` is a plain state struct: HnswIndex (index/hnsw_index.hpp) derives
// from it through detail::HnswSearch (index/hnsw/search.hpp), and restore (index/hnsw/restore.hpp)
// takes it by reference. Everything here is non-virtual and inline, so the hot loop compiles to what
// it was when it lived in one class. The graph reads and writes vector bytes only through its
// `Codec` (distance/vector_codec.hpp: bytes per vector, encode/decode, query-to-stored and
// stored-to-stored distances), so a codec of another element type or of codes plugs in there.
//
// Thread-safety: none of its own. The owner (HnswIndex) takes the locks; the comments say which
// functions are also called by inserting threads that hold no lock (load_link/store_link,
// linked_back). Next: index/hnsw/search.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/sq8_codec.hpp"
#include "vindex/distance/vector_codec.hpp"
#include "vindex/index/hnsw/candidate_pool.hpp"
#include "vindex/index/hnsw/types.hpp"
#include "vindex/storage/block_array.hpp"
#include "vindex/storage/growth.hpp"
#include "vindex/storage/key_map.hpp"
#include "vindex/storage/record_array.hpp"
#include "vindex/storage/upper_links.hpp"
#include "vindex/storage/visited_set.hpp"

namespace vindex::detail {


// Distance computations and neighbour lists read by this thread's HNSW code (distance(), the
// heuristic, linked_back): maintenance measures its work units by how much this grows during a step.
// Thread-local, so searches and batch threads may bump it freely; one counter for every index type.
// Not a static member of HnswGraph: g++ 12 calls a TLS init function that no object defines for a
// thread_local static member of a class template declared `extern template` (a crash in a program
// that instantiates the index in one file and uses it from another).
inline thread_local std::size_t hnsw_work_done = 0;

/// An HNSW graph's nodes (vectors, layer-0 lists, magnitudes), upper-layer lists, keys, tombstones
/// and entry point, with the layout accessors and hot-loop helpers over them.
template <class Codec>
struct HnswGraph {
  using MetricT = typename Codec::Metric;
  /// Empty storage for `schema` (already validated) and `params` (BLOCK_SIZE clamped here by
  /// in_effect), allocating nothing yet; `memory` as in HnswIndex's constructor.
  HnswGraph(const VectorSchema& schema, const HnswParams& params, const Limits& limits,
            std::pmr::memory_resource* memory)
      : schema_(schema),
        params_(in_effect(params, schema, limits)),
        m_(params.m),
        m0_(2 * params.m),
        record_bytes_(Codec::bytes(schema.dim) + 2 * params.m * sizeof(Id)),
        vector_bytes_(Codec::bytes(schema.dim)),
        fetch_ahead_(std::clamp<std::size_t>(2048 / (Codec::bytes(schema.dim) + 1) + 1, 2, 4)),
        prefetch_heads_(Codec::bytes(schema.dim) >= kHeadPrefetchBytes),
        memory_(memory, MemoryAccount::kUnlimited, "the HNSW index"),
        huge_pages_(memory == nullptr),
        keys_(&memory_),
        nodes_(record_bytes_, params_.block_size, &memory_, huge_pages_),
        floats_(kKeepsFloats ? float_bytes() : 1, params_.block_size, &memory_, huge_pages_),
        magnitudes_(1, params_.block_size, &memory_),
        upper_(params.m, std::max<std::size_t>(1, params_.block_size / 8), &memory_),
        retired_(memory_.uncapped()) {}

  HnswGraph(const HnswGraph&) = delete;
  HnswGraph& operator=(const HnswGraph&) = delete;

  /// `params` with BLOCK_SIZE clamped so that a block of nodes (or of an SQ8 index's floats, which
  /// are larger at high DIM) takes at most Limits::max_block_bytes.
  static HnswParams in_effect(HnswParams params, const VectorSchema& schema, const Limits& limits) {
    std::size_t node_bytes = Codec::bytes(schema.dim) + 2 * params.m * sizeof(Id);
    if constexpr (kKeepsFloats) node_bytes = std::max(node_bytes, Codec::float_bytes(schema.dim));
    params.block_size = limits.effective_block_size(params.block_size, node_bytes);
    return params;
  }

  // ---------------------------------------------------------------------------------------------
  // Node storage: record(id) = [the stored vector: vector_bytes()][2·M layer-0 ids], in blocks
  // that never move (storage/record_array.hpp). The stored vector is Codec::bytes(dim): the vector
  // itself, or for SQ8 its code slot, whose floats are kept apart in floats_ (same ids, same block
  // size) until the index releases them (release_floats). Apart, the records a walk reads are
  // dense: on glove-100 a probe walking SQ8 codes in 228-byte records (codes and list) ran 1.11-1.13×
  // the queries/s of 628-byte records that also held the floats, the same graph (ef 16-128).

  /// Whether the codec keeps floats apart from the node records (SQ8).
  static constexpr bool kKeepsFloats = is_approximate_codec_v<Codec>;

  /// The record of node `id`: its vector, then its layer-0 list.
  std::byte* record(Id id) const noexcept { return nodes_.record(id); }
  /// The stored vector of `id` as exact reads take it (read through Codec only): the record's, or an
  /// SQ8 index's floats while it keeps them.
  const std::byte* stored(Id id) const noexcept { return keeps_floats() ? floats_.record(id) : record(id); }
  /// The vector of `id` as the walk measures it (read through Codec only): the record's, or an SQ8
  /// index's floats until its codes are trained.
  const std::byte* walked(Id id) const noexcept {
    if constexpr (kKeepsFloats)
      if (!codec_.trained()) return floats_.record(id);
    return record(id);
  }
  /// Bytes of one stored vector in a record.
  std::size_t vector_bytes() const noexcept { return vector_bytes_; }
  /// The layer-0 list of `id` (2·M slots, kInvalidId after the last link).
  Id* links0(Id id) const noexcept { return reinterpret_cast<Id*>(record(id) + vector_bytes()); }
  /// A float query made from the stored vector of `id` (a walk that starts from a node).
  typename Codec::Query query_of(Id id) const { return codec_.query(stored(id), schema_.dim); }
  /// Writes the prepared vector `v` (and, under COSINE, its magnitude) as the vector of `id`.
  void write_vector(Id id, const float* v, float magnitude) noexcept {
    if (keeps_floats()) std::copy_n(v, schema_.dim, reinterpret_cast<float*>(floats_.record(id)));
    codec_.encode(v, magnitude, record(id), schema_.dim);
    if constexpr (MetricT::kNormalizes) *magnitudes_.slot(id) = magnitude;
  }
  /// SQ8 keeping its floats: writes the codes of `id` again from its floats (after a training).
  void encode_codes(Id id) noexcept {
    if (keeps_floats())
      codec_.encode(reinterpret_cast<const float*>(floats_.record(id)), 1.0f, record(id), schema_.dim);
  }

  /// The list of `id` at `level` and its capacity; an absent list is empty.
  std::pair<Id*, std::size_t> neighbours(Id id, unsigned level) const noexcept {
    if (level == 0) return {links0(id), m0_};
    Id* list = const_cast<UpperLinks&>(upper_).links(id, level);
    return {list, list ? m_ : 0};
  }

  /// The top layer of `id` (0: layer 0 only).
  unsigned level_of(Id id) const noexcept { return upper_.levels(id); }

  /// The distance from `q` to the vector of `id`, counted in hnsw_work_done.
  Distance distance(const float* q, Id id) const noexcept {
    ++hnsw_work_done;
    return codec_.distance(q, walked(id), schema_.dim);
  }
  /// The exact distance from `q` to the vector of `id`: distance() unless the codec is approximate
  /// (then `q` is in its query form and this reads the exact vector), counted in hnsw_work_done.
  Distance exact_distance(const float* q, Id id) const noexcept {
    if constexpr (is_approximate_codec_v<Codec>) {
      ++hnsw_work_done;
      return codec_.exact(q, stored(id), schema_.dim);
    } else {
      return distance(q, id);
    }
  }
  /// Whether exact_distance() is exact: false once an SQ8 index has released its floats (it is then
  /// the code distance, and the caller re-ranks on the host's vectors).
  bool exact_in_index() const noexcept {
    if constexpr (requires { codec_.released(); }) return !codec_.released();
    else return true;
  }
  /// Calls `walk(q)` with the prepared query `q` in the form the codec measures (for an approximate
  /// codec, a buffer made here; otherwise `q` itself). Caller holds the shared lock.
  template <class Walk>
  decltype(auto) with_query_form(const float* q, Walk&& walk) const {
    if constexpr (is_approximate_codec_v<Codec>) {
      const auto form = codec_.form(q, schema_.dim);
      return walk(form.data());
    } else {
      return walk(q);
    }
  }
  /// The distance between the stored vectors of `a` and `b`, counted in hnsw_work_done.
  Distance distance_between(Id a, Id b) const noexcept {
    ++hnsw_work_done;
    return codec_.between(stored(a), stored(b), schema_.dim);
  }

  // Starts loading the whole walked vector of `id` into cache.
  void prefetch(Id id) const noexcept {
#if defined(__GNUC__)
    const char* p = reinterpret_cast<const char*>(walked(id));
    const std::size_t bytes = vector_bytes_;
    for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
    __builtin_prefetch(p + bytes - 1, 0, 3);  // the last line, when the record is not line-aligned
#else
    (void)id;
#endif
  }
  // Starts loading the first cache line of the walked vector of `id`.
  void prefetch_head(Id id) const noexcept {
#if defined(__GNUC__)
    __builtin_prefetch(walked(id), 0, 3);
#else
    (void)id;
#endif
  }

  // Measures the distance from `q` to each of `ids` in order, calling `visit(id, distance)`, for a
  // caller that keeps only distances below `bound` (read again before each vector, so it may shrink
  // as visit runs): a distance at or above it may be reported as any value at or above it, which
  // lets an L2 kernel stop part-way through the vector (see l2_squared_within_fetching). Distances
  // below the bound are exact.
  // Vectors are fetched as a pipeline: the first `fetch_ahead_` whole at once (and, for long
  // vectors, the first line of every other one), then each distance kernel fetches the vector
  // `fetch_ahead_` places further on while it runs. Measured on AVX-512 EPYC (clustered 100k×128
  // and fashion-mnist 784-d): 1.5-1.7× the queries/s of asking for every vector of the list up
  // front, which floods the miss buffers and (at 784-d) the L1 with lines that are evicted before
  // they are read. The first lines help only long vectors (see kHeadPrefetchBytes).
  template <class Visit>
  void measure_below(const float* q, std::span<const Id> ids, const Distance& bound, Visit&& visit) const {
    const std::size_t count = ids.size();
    const std::size_t ahead = std::min(fetch_ahead_, count);
    if (prefetch_heads_)
      for (std::size_t i = ahead; i < count; ++i) prefetch_head(ids[i]);
    for (std::size_t i = 0; i < ahead; ++i) prefetch(ids[i]);
    std::size_t i = 0;
    for (; i + ahead < count; ++i)
      visit(ids[i],
            codec_.distance_within_fetching(q, walked(ids[i]), schema_.dim, bound, walked(ids[i + ahead])));
    for (; i < count; ++i) {
      ++hnsw_work_done;
      visit(ids[i], codec_.distance_within(q, walked(ids[i]), schema_.dim, bound));
    }
  }

  // Starts loading the neighbour list of `id` at `level` into cache.
  void prefetch_list(Id id, unsigned level) const noexcept {
#if defined(__GNUC__)
    if (level == 0) {
      const char* p = reinterpret_cast<const char*>(links0(id));
      for (std::size_t off = 0; off < m0_ * sizeof(Id); off += 64) __builtin_prefetch(p + off, 0, 3);
    }
#else
    (void)id;
    (void)level;
#endif
  }

  // Node storage grown for one change (see grow_nodes): records and, under COSINE, magnitudes.
  // Unless committed, its destruction gives back what the growth took. Caller holds the exclusive
  // lock (or has the index to itself) until it is committed or destroyed.
  class [[nodiscard]] NodeGrowth {
   public:
    NodeGrowth() = default;
    NodeGrowth(NodeGrowth&&) noexcept = default;
    NodeGrowth& operator=(NodeGrowth&&) = delete;
    void commit() noexcept {
      records_.commit();
      floats_.commit();
      magnitudes_.commit();
    }

   private:
    friend struct HnswGraph;
    NodeGrowth(RecordArray::Growth records, RecordArray::Growth floats, BlockArray<float>::Growth magnitudes) noexcept
        : records_(std::move(records)), floats_(std::move(floats)), magnitudes_(std::move(magnitudes)) {}
    // Destroyed in reverse: magnitudes, floats, records, each giving back what it took.
    RecordArray::Growth records_;
    RecordArray::Growth floats_;
    BlockArray<float>::Growth magnitudes_;
  };

  // Makes node slots [0, slots) exist: whole blocks, only as many as that takes (INITIAL_CAP
  // reserves nothing). On failure nothing changes and nothing stays allocated.
  NodeGrowth grow_nodes(std::size_t slots) {
    if (slots <= nodes_.capacity_slots()) return {};
    RecordArray::Growth records = nodes_.grow(slots);
    RecordArray::Growth floats = floats_.grow(keeps_floats() ? slots : 0);  // grow(0) takes nothing
    BlockArray<float>::Growth magnitudes;
    if constexpr (MetricT::kNormalizes) magnitudes = magnitudes_.grow(slots);
    return NodeGrowth(std::move(records), std::move(floats), std::move(magnitudes));
  }
  /// Frees the node blocks past those slots [0, slots) need.
  void shrink_nodes(std::size_t slots) noexcept {
    nodes_.shrink_slots(slots);
    floats_.shrink_slots(slots);
    magnitudes_.shrink_slots(slots);
  }

  /// Whether floats_ holds the nodes' floats now (SQ8 until released).
  bool keeps_floats() const noexcept {
    if constexpr (kKeepsFloats) return !codec_.released();
    else return false;
  }
  /// Bytes of one node's floats in floats_ (SQ8; 0 otherwise).
  std::size_t float_bytes() const noexcept {
    if constexpr (kKeepsFloats) return Codec::float_bytes(schema_.dim);
    else return 0;
  }

  /// Bytes one node slot takes: its record, an SQ8 index's floats while kept and, under COSINE, its
  /// magnitude.
  std::size_t slot_bytes() const noexcept {
    return record_bytes_ + (keeps_floats() ? float_bytes() : 0) + (MetricT::kNormalizes ? sizeof(float) : 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Walk state and link access shared by search, linking and repair.

  /// A node met by a walk and its distance to the query.
  struct Candidate {
    Distance distance;
    Id id;
  };
  // Orderings as function objects (not function pointers) so the heap operations inline them.
  /// Closer first, ties by id.
  struct Closer {
    bool operator()(const Candidate& a, const Candidate& b) const noexcept {
      return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
    }
  };
  /// Farther first, ties by id (the reverse of Closer).
  struct Farther {
    bool operator()(const Candidate& a, const Candidate& b) const noexcept { return Closer{}(b, a); }
  };
  static constexpr Closer closer{};
  static constexpr Farther farther{};
  /// Measures `sorted`'s candidates again from the stored-form vector `base` with exact distances
  /// and sorts them again, when the codec's walk distances are approximate: lists are chosen on
  /// exact distances only (the heuristic compares these with exact stored-to-stored ones).
  void measure_exactly(const std::byte* base, std::vector<Candidate>& sorted) const noexcept {
    if constexpr (is_approximate_codec_v<Codec>) {
      for (Candidate& c : sorted) {
        ++hnsw_work_done;
        c.distance = codec_.between(base, stored(c.id), schema_.dim);
      }
      std::sort(sorted.begin(), sorted.end(), closer);
    } else {
      (void)base;
      (void)sorted;
    }
  }

  /// One walk's reusable memory (visited bits, heaps) and its counters; pooled per query.
  struct Scratch {
    VisitedSet visited;
    std::vector<Candidate> candidates;  // min-heap on distance (via `farther`)
    std::vector<Candidate> results;     // max-heap on distance (via `closer`)
    std::vector<Id> fresh;              // unvisited neighbours of the node being expanded
    CandidatePool<Candidate, Closer> pool;  // the walk of every node instead of the two heaps
    // Per walk: when to stop, whether it stopped there, and what it cost (see SearchStats).
    Deadline deadline;
    bool timed_out = false;
    std::size_t distances = 0;
    std::size_t expansions = 0;
    void start_walk(const Deadline& d) noexcept {
      deadline = d;
      timed_out = false;
      distances = expansions = 0;
    }
    std::size_t memory_bytes() const noexcept {
      return visited.memory_bytes() + (candidates.capacity() + results.capacity()) * sizeof(Candidate) +
             fresh.capacity() * sizeof(Id) + pool.memory_bytes();
    }
  };

  // Neighbour lists are read with atomic loads and written with atomic stores wherever inserting
  // threads may read them without the shared lock (insert_batch): acquire/release, so a node's vector
  // and lists, written before a link to it is stored, are seen by whoever loads that link.
  static Id load_link(const Id* list, std::size_t i) noexcept {
    return std::atomic_ref<Id>(const_cast<Id&>(list[i])).load(std::memory_order_acquire);
  }
  static void store_link(Id* list, std::size_t i, Id id) noexcept {
    std::atomic_ref<Id>(list[i]).store(id, std::memory_order_release);
  }

  /// Whether `id` stores exactly `v` (prepared) with `magnitude`: an upsert that changes nothing
  /// (once an SQ8 index has released its floats: `v` encodes to its codes). May throw std::bad_alloc.
  bool same_vector(Id id, const float* v, float magnitude) const {
    return codec_.equals(v, magnitude, stored(id), schema_.dim) &&
           (!MetricT::kNormalizes || *magnitudes_.slot(id) == magnitude);
  }

  // Whether some layer-0 neighbour of `id` other than `except` links back to `id`.
  bool linked_back(Id id, Id except) const noexcept {
    const Id* out = links0(id);
    for (std::size_t i = 0; i < m0_; ++i) {
      const Id o = load_link(out, i);
      if (o == kInvalidId) break;
      if (o == except) continue;
      const Id* back = links0(o);
      ++hnsw_work_done;
      for (std::size_t j = 0; j < m0_; ++j) {
        const Id b = load_link(back, j);
        if (b == kInvalidId) break;
        if (b == id) return true;
      }
    }
    return false;
  }

  // The HNSW paper's neighbour heuristic (Algorithm 4): walking candidates closest first, keep one
  // only when it is closer to the base than to every neighbour kept so far, up to `max_count`. This
  // spreads links over directions, which is what keeps clustered data navigable. `out` may already
  // hold links, which count as kept (a repaired list keeps its surviving links); `on_keep(i)` is
  // told the index in `sorted` of each candidate kept; `vector_of_candidate(id)` gives a candidate's
  // stored vector (one not in the graph yet may be anywhere). Counts its distances in hnsw_work_done.
  template <class VectorOf, class OnKeep>
  void extend_by_heuristic(std::span<const Candidate> sorted, std::size_t max_count, std::vector<Id>& out,
                           VectorOf&& vector_of_candidate, OnKeep&& on_keep) const {
    for (std::size_t i = 0; i < sorted.size() && out.size() < max_count; ++i) {
      const Candidate& c = sorted[i];
      const std::byte* cv = vector_of_candidate(c.id);
      bool keep = true;
      for (Id s : out) {
        ++hnsw_work_done;
        if (codec_.between_within(cv, vector_of_candidate(s), schema_.dim, c.distance) < c.distance) {
          keep = false;
          break;
        }
      }
      if (keep) {
        out.push_back(c.id);
        on_keep(i);
      }
    }
  }
  /// The heuristic's choice from `sorted` alone (see extend_by_heuristic).
  template <class VectorOf>
  void select_by_heuristic(const std::vector<Candidate>& sorted, std::size_t max_count, std::vector<Id>& out,
                           VectorOf&& vector_of_candidate) const {
    out.clear();
    extend_by_heuristic(sorted, max_count, out, vector_of_candidate, [](std::size_t) {});
  }
  void select_by_heuristic(const std::vector<Candidate>& sorted, std::size_t max_count,
                           std::vector<Id>& out) const {
    select_by_heuristic(sorted, max_count, out, [this](Id c) { return stored(c); });
  }

  // ---------------------------------------------------------------------------------------------
  // Whole-graph reads and rewrites; HnswIndex takes the lock each names.

  /// The vector of `id` as it was given (COSINE: de-normalised). Caller holds the shared lock.
  std::vector<float> given_vector(Id id) const {
    std::vector<float> out(schema_.dim);
    codec_.decode_given(stored(id), MetricT::kNormalizes ? *magnitudes_.slot(id) : 1.0f, out.data(), schema_.dim);
    return out;
  }

  /// What the graph holds from its memory resource, split into vectors, links, keys and other
  /// (scratch is the caller's to add). Caller holds the shared lock: writers allocate only under
  /// the exclusive one.
  HnswMemory memory_parts() const {
    HnswMemory m;
    const std::size_t slots = nodes_.capacity_slots();
    if constexpr (kKeepsFloats) {
      m.codes = slots * vector_bytes();
      m.vectors = floats_.capacity_slots() * float_bytes() + magnitudes_.memory_bytes();
    } else {
      m.vectors = slots * vector_bytes() + magnitudes_.memory_bytes();
    }
    m.links = slots * m0_ * sizeof(Id) + upper_.memory_bytes();
    m.keys = keys_.memory_bytes();
    const std::size_t total = memory_.in_use(), parts = m.vectors + m.codes + m.links + m.keys;
    m.other = total > parts ? total - parts : 0;
    return m;
  }

  /// Bytes held by tombstones awaiting a sweep and freed slots awaiting reuse or compaction. Caller
  /// holds the shared lock.
  std::size_t deleted_bytes() const {
    std::size_t bytes = (retired_.size() + keys_.free_count()) * slot_bytes();
    for (Id id : retired_) bytes += upper_.levels(id) * upper_.list_bytes();
    return bytes;
  }

  /// Moves nodes into the freed slots (the ids of moved entries change; every list and the entry
  /// point follow), releases the emptied blocks and returns the number of entries moved. Every
  /// tombstone must have been freed (a maintenance round over all of them). Caller holds the
  /// exclusive lock.
  std::size_t compact_ids() {
    std::vector<Id> remap;
    const std::size_t moved = keys_.compact([&](Id from, Id to) {
      if (remap.empty()) {
        remap.resize(keys_.id_bound());
        for (std::size_t i = 0; i < remap.size(); ++i) remap[i] = static_cast<Id>(i);
      }
      std::copy_n(record(from), record_bytes_, record(to));
      if (keeps_floats()) std::copy_n(floats_.record(from), float_bytes(), floats_.record(to));
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
    shrink_nodes(keys_.id_bound());
    decltype(retired_)(retired_.get_allocator()).swap(retired_);  // swept: empty
    return moved;
  }

  /// SQ8 re-ranking from the host: gives the floats back (the codec reads code slots only from then
  /// on). Caller holds the exclusive lock and no walk runs without it (no batch in progress).
  void release_floats() noexcept {
    if constexpr (kKeepsFloats) {
      floats_.clear();
      codec_.release();
    }
  }

  /// Drops every node, key, list and tombstone and releases all storage. Caller holds the exclusive
  /// lock.
  void clear_graph() {
    keys_.clear();
    nodes_.clear();
    floats_.clear();
    magnitudes_.shrink_slots(0);
    upper_.clear();
    decltype(retired_)(retired_.get_allocator()).swap(retired_);
    entry_ = kInvalidId;
    max_level_ = -1;
  }

  VectorSchema schema_;
  HnswParams params_;
  std::size_t m_;
  std::size_t m0_;
  std::size_t record_bytes_;
  std::size_t vector_bytes_;  // of a record: Codec::bytes(dim)
  // Vectors of at least this many hot bytes get their first line asked for up front in
  // measure_below. Measured on AMD EPYC (a probe alternating both on one loaded graph, ef 16-128;
  // README, Performance): without those first lines, glove-100's 100-byte SQ8 codes gain 6-8 % q/s
  // and its 400-byte floats 5-7 % (a burst of ~20 extra lines a hop fills the miss buffers);
  // fashion-mnist's 784-byte SQ8 codes are unchanged, and its 3,136-byte floats lose 8-16 %.
  static constexpr std::size_t kHeadPrefetchBytes = 1024;
  std::size_t fetch_ahead_;  // vectors fetched ahead in measure_below: about 2 KB, 2 to 4 vectors
  bool prefetch_heads_;      // measure_below also asks for the first line of every vector up front
  Codec codec_{};            // stateless, or (SQ8) the trained quantizer

  MemoryAccount memory_;  // counts what the members below take from the host's resource
  // The huge pages inside node blocks of 2 MiB or more are advised: only when the index owns its
  // memory (no resource given), since a host's resource has its own page policy.
  bool huge_pages_;
  KeyMap keys_;
  RecordArray nodes_;  // a record per node id
  RecordArray floats_;  // SQ8 until released: the floats of each node id (see kKeepsFloats)
  BlockArray<float> magnitudes_;
  UpperLinks upper_;
  // Tombstones not freed yet, oldest first (a round's batch is a prefix); uncapped: an erase never
  // fails at a limit.
  std::pmr::vector<Id> retired_;
  Id entry_ = kInvalidId;
  int max_level_ = -1;
};

}  // namespace vindex::detail
