// vindex/index/flat_index.hpp — exact (brute-force) KNN over block-allocated vectors.
//
// `FlatIndex<T, MetricT>` stores one vector per binary-safe key and answers KNN and range queries
// exactly: single queries with the SIMD kernels, many queries at once with a register-blocked
// dot-product kernel (distance/batch_dot.hpp), whose candidates are re-ranked with the single-query
// kernels, so batched results equal single-query results.
//
// Thread-safety: every public member function may be called from any thread. Searches take a shared
// lock and run concurrently with each other; upsert, erase, compact and clear take an exclusive lock,
// so a writer waits for running searches and searches wait for the writer.
//
// Memory: every block, key and table comes from the memory resource given to the constructor (default
// operator new; see core/memory.hpp), and memory_bytes() is exactly what the index holds from it.
// Storage grows one block at a time: INITIAL_CAP is a hint that allocates nothing (the first insert
// takes one block of BLOCK_SIZE vectors), and BLOCK_SIZE × DIM × 4 is clamped to
// Limits::max_block_bytes (params() reports the block size in effect).
//
// SQ8 (`FlatIndex<float, M, Sq8>`): beside the floats, each vector's 8-bit codes are kept in a store of
// their own (distance/sq8_codec.hpp's Sq8Codes), so a single-query scan reads a quarter of the bytes;
// the best SearchOptions::rerank·k candidates by code distance are measured again on the floats, so
// the distances returned are exact. The quantizer is trained as HnswIndex's is (Sq8's constants: at
// Sq8::kTrainAt live vectors, again at each Sq8::kRetrainGrowth-fold growth while the sample is below
// its cap, on compact() and retrain_quantizer()); until then the index scans floats. Range search,
// search_batch and key-list filters read the floats, so they stay exact.
//
// SQ8 re-ranking from the host (FlatParams::exact_vectors = ExactVectors::kHost): the index keeps
// its floats only until its quantizer's training is final (Sq8Codes::training_final: the last
// sample reached its cap, so growth will not train it again — at most 4 × max(2^22 floats, 1,024
// vectors) of floats, held while the index grows to that size), then releases them and keeps codes,
// COSINE magnitudes and keys only. From then on every search measures its candidates exactly on
// vectors read through SearchOptions::host_vectors (required; KeyspaceIndex passes one reading its
// KeyValueSource), and a candidate the host no longer has is left out: single queries and key lists
// re-rank their rerank·k best by code distance, search_batch runs them one by one, range_search
// re-reads every entry within the radius widened by the code error. compact() then no longer
// retrains (there is nothing to sample); retrain_quantizer(reader) does, reading every entry from
// the host. get_vector, for_each and snapshots give the vectors the codes decode to.
//
// Errors: functions that take caller input throw `vindex::Error` (see core/error.hpp); a throwing
// call leaves the index unchanged. An upsert that cannot get memory (std::bad_alloc, or a
// MemoryAccount's MemoryLimitExceeded) throws it and leaves the index exactly as it was, having given
// back everything it took. Next: index/hnsw_index.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/element.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/batch_dot.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/sq8_codec.hpp"
#include "vindex/distance/vector_codec.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/front_end.hpp"
#include "vindex/index/host_rerank.hpp"
#include "vindex/index/top_k.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/storage/block_array.hpp"
#include "vindex/storage/key_map.hpp"

namespace vindex {

/// FLAT parameters (Redis names in brackets).
struct FlatParams {
  /// [INITIAL_CAP] expected number of vectors: a hint kept for compatibility (0..2^32), never
  /// allocated up front (RediSearch deprecates it too); storage grows a block at a time.
  std::size_t initial_cap = 1024;
  /// [BLOCK_SIZE] vectors per storage block; clamped so that a block takes at most
  /// Limits::max_block_bytes (see Limits::effective_block_size).
  std::size_t block_size = 1024;
  /// FlatIndex<float, M, Sq8> only: where re-ranking reads exact vectors (see the header comment);
  /// other indexes reject kHost.
  ExactVectors exact_vectors = ExactVectors::kIndex;
};

/// A FlatIndex's memory by part (memory_breakdown()); the parts add up to memory_bytes().
struct FlatMemory {
  std::size_t vectors = 0;  ///< vector elements (and COSINE magnitudes), with their block directories
  std::size_t codes = 0;    ///< SQ8: the 8-bit codes single queries scan (0 for other indexes)
  std::size_t keys = 0;     ///< key bytes and the key ↔ id map
  std::size_t other = 0;    ///< anything else taken from the memory resource
  /// Sum of the parts.
  std::size_t total() const noexcept { return vectors + codes + keys + other; }
};

/// Exact KNN index. `T` is the stored element type: float, or Float16 / BFloat16 (core/element.hpp),
/// which store each element in 16 bits as given, as HnswIndex does (see there); `MetricT` a policy
/// of distance/metric.hpp. Vectors are read and written through detail::VectorCodec<T, MetricT>.
/// `Compression` is Uncompressed, or, for float, Sq8: single-query scans read 8-bit codes and re-rank
/// exactly (see the header comment).
template <class T, class MetricT, class Compression = Uncompressed>
class FlatIndex : public detail::IndexFrontEnd<FlatIndex<T, MetricT, Compression>, MetricT> {
  static_assert(std::is_same_v<T, float> || is_narrow_element_v<T>,
                "FlatIndex stores float, Float16, BFloat16, Int8 or UInt8");
  static_assert(std::is_same_v<Compression, Uncompressed> || (std::is_same_v<Compression, Sq8> && std::is_same_v<T, float>),
                "FlatIndex compresses float vectors with Sq8 (or stores them Uncompressed)");
  static constexpr bool kQuantized = std::is_same_v<Compression, Sq8>;
  using FrontEnd = detail::IndexFrontEnd<FlatIndex, MetricT>;
  friend FrontEnd;
  using FrontEnd::prepare_query;
  using FrontEnd::check_rerank;
  using Codec = detail::VectorCodec<T, MetricT>;
  using Codes = detail::Sq8Codes<MetricT>;

 public:
  using Metric = MetricT;

  /// An empty index taking its memory from `memory` (null: operator new), which must outlive it.
  /// Allocates nothing yet. Throws kInvalidArgument when the schema, parameters or metric don't fit.
  explicit FlatIndex(VectorSchema schema, FlatParams params = {}, Limits limits = {},
                     std::pmr::memory_resource* memory = nullptr)
      : schema_(validated(schema, params, limits)),
        params_(in_effect(params, schema, limits)),
        limits_(limits),
        memory_(memory, MemoryAccount::kUnlimited, "the FLAT index"),
        keys_(&memory_),
        vectors_(Codec::bytes(schema.dim), params_.block_size, &memory_),
        magnitudes_(1, params_.block_size, &memory_),
        code_slots_(Codes::bytes(schema.dim), params_.block_size, &memory_) {}

  /// The schema every vector follows.
  const VectorSchema& schema() const noexcept { return schema_; }
  /// The parameters in effect: as given, but BLOCK_SIZE clamped to Limits::max_block_bytes.
  const FlatParams& params() const noexcept { return params_; }
  /// The memory resource the index allocates from (as given to the constructor, or operator new's).
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_.upstream(); }
  /// The limits requests are checked against.
  const Limits& limits() const noexcept { return limits_; }
  /// Whether searches re-rank on vectors read from the host (FlatParams::exact_vectors kHost).
  bool reranks_from_host() const noexcept { return params_.exact_vectors == ExactVectors::kHost; }
  /// Whether the index has released its floats (re-ranking from the host, once trained for good).
  bool floats_released() const {
    std::shared_lock lock(mutex_);
    return floats_released_;
  }

  // upsert, upsert_blob, try_upsert, try_upsert_blob: index/front_end.hpp.

  /// Removes `key`; returns false (and does nothing) when it was absent.
  bool erase(KeyView key) {
    std::unique_lock lock(mutex_);
    return keys_.erase(key).has_value();
  }

  /// True when `key` is indexed.
  bool contains(KeyView key) const {
    std::shared_lock lock(mutex_);
    return keys_.find(key).has_value();
  }

  /// Number of indexed entries.
  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return keys_.size();
  }

  /// The vector stored for `key` as it was given (COSINE: de-normalised), or nullopt.
  std::optional<std::vector<float>> get_vector(KeyView key) const {
    std::shared_lock lock(mutex_);
    const auto id = keys_.find(key);
    if (!id) return std::nullopt;
    std::vector<float> out(schema_.dim);
    const float magnitude = MetricT::kNormalizes ? *magnitudes_.slot(*id) : 1.0f;
    if (floats_released_) {
      stored_vector(*id, out.data());
      if constexpr (MetricT::kNormalizes)
        for (float& x : out) x *= magnitude;
      return out;
    }
    Codec::decode_given(vectors_.slot(*id), magnitude, out.data(), schema_.dim);
    return out;
  }

  /// Bytes the index holds from its memory resource (vectors, magnitudes, SQ8 codes, keys, block
  /// directories): exactly what the resource handed out and was not given back.
  std::size_t memory_bytes() const noexcept { return memory_.in_use(); }

  /// memory_bytes() split into vectors (and magnitudes), SQ8 codes, keys and the rest.
  FlatMemory memory_breakdown() const {
    std::shared_lock lock(mutex_);
    FlatMemory m;
    m.vectors = vectors_.memory_bytes() + magnitudes_.memory_bytes();
    m.codes = code_slots_.memory_bytes();
    m.keys = keys_.memory_bytes();
    const std::size_t total = memory_.in_use();
    m.other = total - std::min(total, m.vectors + m.codes + m.keys);
    return m;
  }

  /// Bytes held by the slots of erased entries, waiting for reuse or `compact()`.
  std::size_t deleted_memory_bytes() const {
    std::shared_lock lock(mutex_);
    return keys_.free_count() * slot_bytes();
  }

  /// Moves entries into the slots of erased ones and releases the emptied blocks. Ids of moved entries
  /// change. Returns the number of entries moved.
  std::size_t compact() {
    std::unique_lock lock(mutex_);
    const std::size_t moved = keys_.compact([&](Id from, Id to) {
      if (!floats_released_) std::copy_n(vectors_.slot(from), vector_bytes(), vectors_.slot(to));
      if constexpr (MetricT::kNormalizes) *magnitudes_.slot(to) = *magnitudes_.slot(from);
      if constexpr (kQuantized) std::copy_n(code_slots_.slot(from), Codes::bytes(schema_.dim), code_slots_.slot(to));
    });
    vectors_.shrink_slots(keys_.id_bound());
    magnitudes_.shrink_slots(keys_.id_bound());
    if constexpr (kQuantized) {
      code_slots_.shrink_slots(keys_.id_bound());
      if (keys_.size() != 0 && !floats_released_) try_train_locked();
    }
    return moved;
  }

  /// SQ8: trains the quantizer again now on a sample of the live vectors (at most
  /// Sq8::kSampleFloats floats) and re-encodes every entry; an empty index stays untrained. Costs
  /// O(entries · dim) under the exclusive lock. Throws std::bad_alloc with the index as before, and
  /// kInvalidArgument once the floats are released (use the overload taking a reader).
  void retrain_quantizer()
    requires kQuantized
  {
    std::unique_lock lock(mutex_);
    if (floats_released_)
      throw Error(ErrorCode::kInvalidArgument,
                  "this SQ8 index has released its floats: retrain it with vectors read from the host");
    if (keys_.size() != 0) train_locked();
  }

  /// SQ8: retrain_quantizer(), with the vectors read through `host` when the index has released its
  /// floats (otherwise `host` is not called): the sample and then every entry, one read each, under
  /// the exclusive lock. An entry the host no longer has keeps its codes, decoded with the old
  /// quantizer and encoded with the new. Whatever `host` throws (and std::bad_alloc) leaves the index
  /// as it was.
  void retrain_quantizer(const HostVectorReader& host)
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::unique_lock lock(mutex_);
      if (!floats_released_) {
        if (keys_.size() != 0) train_locked();
        return;
      }
      retrain_from_host_locked(host);
    }
  }
  // (The bodies below are `if constexpr`: clang 14 instantiates constrained members in an explicit
  // instantiation of the class.)

  /// SQ8: the quantizer as snapshots save it (untrained before the first training).
  SavedQuantizer saved_quantizer() const
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::shared_lock lock(mutex_);
      return {codes_.quantizer(), codes_.stats().trained_on};
    } else {
      return {};
    }
  }

  /// SQ8: what the quantizer was trained on and the drift since (elements clamped to its range).
  QuantizerStats quantizer_stats() const
    requires kQuantized
  {
    if constexpr (kQuantized) {
      std::shared_lock lock(mutex_);
      return codes_.stats();
    } else {
      return {};
    }
  }

  /// Removes every entry and releases all storage (memory_bytes() is 0 afterwards).
  void clear() {
    std::unique_lock lock(mutex_);
    keys_.clear();
    vectors_.shrink_slots(0);
    magnitudes_.shrink_slots(0);
    code_slots_.shrink_slots(0);
    codes_.reset();
    floats_released_ = false;
  }

  /// The k nearest entries to `query`, closest first, ties by key; fewer when fewer match.
  /// Throws kInvalidArgument for k outside 1..max_k or options.rerank outside 1..Sq8::kMaxRerank,
  /// kSchemaMismatch / kInvalidVector for a bad query, kTimeout when options.deadline passes (unless
  /// options.partial_on_timeout: then the best of the entries scanned so far). SQ8, once trained:
  /// the rerank·k closest by code distance (key lists: every listed entry) are measured exactly and
  /// the k closest of them returned, with exact distances.
  std::vector<SearchResult> search(std::span<const float> query, std::size_t k,
                                   const SearchOptions& options = {}) const {
    limits_.check_k(k);
    check_rerank(options);
    std::vector<float> q = prepare_query(query);
    std::shared_lock lock(mutex_);
    const Filter resolved = resolve(options.filter);
    const Filter* filter = options.filter ? &resolved : nullptr;
    const std::size_t dim = schema_.dim;
    if constexpr (kQuantized) {
      if (floats_released_) {
        const HostVectorReader& host = host_of(options);
        std::vector<float> form(Codes::form_floats(dim));
        codes_.form(q.data(), form.data(), dim);
        const std::size_t listed = filter && filter->is_id_list() ? filter->ids().size() : keys_.size();
        TopK candidates(std::min(k * options.rerank.value_or(Sq8::kDefaultRerank), listed), key_of());
        scan(
            code_slots_, Codes::bytes(dim), [&](const std::byte* c) { return codes_.distance(form.data(), c, dim); },
            filter, options, [&](Distance d, Id id) { candidates.push(d, id); },
            [&] { return candidates.threshold(); });
        std::vector<SearchResult> picked = to_results(candidates.take_sorted());
        lock.unlock();  // the host is read without the index's lock
        measure_on_host(picked, host, q.data(), options);
        if (picked.size() > k) picked.resize(k);
        return picked;
      }
      if (codes_.trained() && !(filter && filter->is_id_list())) {
        std::vector<float> form(Codes::form_floats(dim));
        codes_.form(q.data(), form.data(), dim);
        TopK candidates(std::min(k * options.rerank.value_or(Sq8::kDefaultRerank), keys_.size()), key_of());
        scan(
            code_slots_, Codes::bytes(dim), [&](const std::byte* c) { return codes_.distance(form.data(), c, dim); },
            filter, options, [&](Distance d, Id id) { candidates.push(d, id); },
            [&] { return candidates.threshold(); });
        TopK top(k, key_of());
        for (auto [approx, id] : candidates.take_sorted())
          top.push(Codec::distance(q.data(), vectors_.slot(id), dim), id);
        return to_results(top.take_sorted());
      }
    }
    TopK top(k, key_of());
    scan(
        vectors_, vector_bytes(), [&](const std::byte* v) { return Codec::distance(q.data(), v, dim); }, filter,
        options, [&](Distance d, Id id) { top.push(d, id); }, [&] { return top.threshold(); });
    return to_results(top.take_sorted());
  }

  /// The k nearest entries to each of `queries` (row-major, queries × dim floats). Equal to calling
  /// `search` on each query; faster for many queries because distances come from blocked dot products.
  std::vector<std::vector<SearchResult>> search_batch(std::span<const float> queries, std::size_t k,
                                                      const SearchOptions& options = {}) const {
    limits_.check_k(k);
    const std::size_t dim = schema_.dim;
    if (queries.size() % dim != 0)
      throw Error(ErrorCode::kSchemaMismatch, "batch of " + std::to_string(queries.size()) +
                                                  " floats is not a multiple of DIM " +
                                                  std::to_string(dim));
    const std::size_t nq = queries.size() / dim;
    constexpr std::size_t rows_per_block = BatchDotShape::kRows, cols = BatchDotShape::kCols;
    // Prepared queries, padded with zero rows to whole kernel blocks; term = the query's own part
    // of the distance (|q|² for L2, the 1 of 1 − dot otherwise).
    std::vector<float> q((nq + rows_per_block - 1) / rows_per_block * rows_per_block * dim, 0.0f);
    std::vector<float> term(nq, 1.0f);
    for (std::size_t i = 0; i < nq; ++i) {
      std::vector<float> one = prepare_query(queries.subspan(i * dim, dim));
      std::copy(one.begin(), one.end(), q.begin() + static_cast<std::ptrdiff_t>(i * dim));
      if constexpr (MetricT::kind == vindex::Metric::kL2) term[i] = vindex::dot(one.data(), one.data(), dim);
    }
    std::shared_lock lock(mutex_);
    if (floats_released_) {  // no floats to multiply: each query scans the codes and re-ranks
      lock.unlock();
      std::vector<std::vector<SearchResult>> each(nq);
      for (std::size_t i = 0; i < nq; ++i) each[i] = search(queries.subspan(i * dim, dim), k, options);
      return each;
    }
    const Filter resolved = resolve(options.filter);
    const Filter* filter = options.filter ? &resolved : nullptr;
    std::vector<std::vector<SearchResult>> out(nq);
    // Approximate distances from the dot products pick candidates; the exact kernel re-ranks them.
    // The slack absorbs rounding differences between the two, so results match `search` exactly.
    const std::size_t candidates = std::min(keys_.size(), k + std::max<std::size_t>(16, k / 4));
    if (candidates == 0) return out;
    std::vector<TopK<KeyOf>> tops;
    tops.reserve(nq);
    for (std::size_t i = 0; i < nq; ++i) tops.emplace_back(candidates, key_of());
    // Stored vectors are taken a tile at a time (never crossing a storage block), packed once, and
    // every query block is run against the packed tile while it is in cache.
    const std::size_t tile = std::max(cols, kTileBytes / (dim * sizeof(float)) / cols * cols);
    AlignedFloats packed(tile * dim);
    std::vector<float> widened(std::is_same_v<T, float> ? 0 : tile * dim);  // a 16-bit tile as floats
    std::vector<float> scores(rows_per_block * tile), bias(tile);
    const std::size_t bound = keys_.id_bound();
    constexpr float scale = MetricT::kind == vindex::Metric::kL2 ? -2.0f : -1.0f;
    for (std::size_t first = 0, rows = 0; first < bound; first += rows) {
      const std::size_t in_block = first % params_.block_size;
      rows = std::min({tile, params_.block_size - in_block, bound - first});
      const std::byte* stored = vectors_.block(first / params_.block_size) + in_block * vector_bytes();
      const float* x = reinterpret_cast<const float*>(stored);
      if constexpr (!std::is_same_v<T, float>) {
        for (std::size_t r = 0; r < rows; ++r)
          Codec::decode(stored + r * vector_bytes(), widened.data() + r * dim, dim);
        x = widened.data();
      }
      pack_panels(x, rows, dim, dim, packed.data());
      // distance = bias[r] + scale × dot + term; erased rows get an infinite bias, so one SIMD
      // comparison per score rejects them together with every hopeless candidate.
      for (std::size_t r = 0; r < rows; ++r) {
        if (!keys_.is_live(static_cast<Id>(first + r))) {
          bias[r] = std::numeric_limits<float>::infinity();
        } else if constexpr (MetricT::kind == vindex::Metric::kL2) {
          bias[r] = vindex::dot(x + r * dim, x + r * dim, dim);
        } else {
          bias[r] = 0.0f;
        }
      }
      const std::size_t panels = (rows + cols - 1) / cols;
      for (std::size_t q0 = 0; q0 < nq; q0 += rows_per_block) {
        dot_block(q.data() + q0 * dim, packed.data(), panels, dim, scores.data(), tile);
        for (std::size_t i = 0; i < rows_per_block && q0 + i < nq; ++i) {
          const float* s = scores.data() + i * tile;
          const float t = term[q0 + i];
          TopK<KeyOf>& top = tops[q0 + i];
          for (std::size_t r = find_first_at_most(bias.data(), s, scale, top.threshold() - t, 0, rows);
               r < rows; r = find_first_at_most(bias.data(), s, scale, top.threshold() - t, r + 1, rows)) {
            const Id id = static_cast<Id>(first + r);
            if (filter && !filter->matches(keys_.key(id), id)) continue;
            top.push(bias[r] + scale * s[r] + t, id);
          }
        }
      }
    }
    for (std::size_t i = 0; i < nq; ++i) {
      TopK exact(k, key_of());
      for (auto [approx, id] : tops[i].take_sorted())
        exact.push(Codec::distance(q.data() + i * dim, vectors_.slot(id), dim), id);
      out[i] = to_results(exact.take_sorted());
    }
    return out;
  }

  /// Every entry within `radius` of `query` (distance <= radius), closest first, ties by key.
  std::vector<SearchResult> range_search(std::span<const float> query, double radius,
                                         const SearchOptions& options = {}) const {
    if (!(radius >= 0) || !std::isfinite(radius))
      throw Error(ErrorCode::kInvalidArgument, "radius must be a finite number >= 0");
    std::vector<float> q = prepare_query(query);
    std::shared_lock lock(mutex_);
    const Filter resolved = resolve(options.filter);
    const Filter* filter = options.filter ? &resolved : nullptr;
    std::vector<std::pair<Distance, Id>> hits;
    const auto r = static_cast<Distance>(radius);
    const std::size_t dim = schema_.dim;
    if constexpr (kQuantized) {
      if (floats_released_) {
        // Every entry within r is within the widened radius by code distance; each of those is
        // measured on the host's vector.
        const HostVectorReader& host = host_of(options);
        std::vector<float> form(Codes::form_floats(dim));
        codes_.form(q.data(), form.data(), dim);
        const Distance wide = codes_.approximate_radius(form.data(), r, dim);
        scan(
            code_slots_, Codes::bytes(dim), [&](const std::byte* c) { return codes_.distance(form.data(), c, dim); },
            filter, options, [&](Distance d, Id id) { if (d <= wide) hits.emplace_back(d, id); }, [&] { return wide; });
        std::vector<SearchResult> picked = to_results(hits);
        lock.unlock();  // the host is read without the index's lock
        measure_on_host(picked, host, q.data(), options);
        const auto beyond = std::find_if(picked.begin(), picked.end(), [&](const SearchResult& h) { return h.distance > r; });
        picked.erase(beyond, picked.end());
        return picked;
      }
    }
    scan(
        vectors_, vector_bytes(), [&](const std::byte* v) { return Codec::distance(q.data(), v, dim); }, filter,
        options, [&](Distance d, Id id) { if (d <= r) hits.emplace_back(d, id); }, [&] { return r; });
    return sorted_results(hits);
  }

  /// Calls `visit(key, id, vector)` for every entry (stored, i.e. normalised, form; once the floats
  /// are released, what the codes decode to) under a shared lock; used by snapshots and reconcile.
  /// `visit` must not call back into this index.
  template <class Visit>
  void for_each(Visit&& visit) const {
    std::shared_lock lock(mutex_);
    std::vector<float> vector(schema_.dim);
    for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
      const Id id = static_cast<Id>(i);
      if (!keys_.is_live(id)) continue;
      stored_vector(id, vector.data());
      visit(keys_.key(id), id, std::span<const float>(vector));
    }
  }

  // ---- Persistence hooks, used by persist/flat_snapshot.hpp (not needed for ordinary use). ----

  /// A read-only view of the stored state, valid only inside `read_stored`.
  class StoredView {
   public:
    /// One past the highest id in use; ids below it are live or erased.
    std::size_t id_bound() const noexcept { return index_.keys_.id_bound(); }
    /// Number of live entries.
    std::size_t size() const noexcept { return index_.keys_.size(); }
    /// True when `id` holds an entry.
    bool is_live(Id id) const noexcept { return index_.keys_.is_live(id); }
    /// Key of a live id.
    KeyView key(Id id) const noexcept { return index_.keys_.key(id); }
    /// Writes the stored vector of a live id (COSINE: unit length; once the floats are released,
    /// what its codes decode to) to `out` (DIM floats).
    void vector(Id id, float* out) const noexcept { index_.stored_vector(id, out); }
    /// SQ8: the quantizer as saved_quantizer() gives it (untrained for other indexes), consistent with
    /// vector().
    SavedQuantizer quantizer() const {
      if constexpr (kQuantized) return {index_.codes_.quantizer(), index_.codes_.stats().trained_on};
      return {};
    }
    /// Original length of a live id's vector under COSINE; 1 for other metrics.
    float magnitude(Id id) const noexcept {
      if constexpr (MetricT::kNormalizes) return *index_.magnitudes_.slot(id);
      return 1.0f;
    }

   private:
    friend class FlatIndex;
    explicit StoredView(const FlatIndex& index) noexcept : index_(index) {}
    const FlatIndex& index_;
  };

  /// Calls `read(const StoredView&)` under the shared lock, so it sees one consistent state, and
  /// returns its result. `read` must not call back into this index.
  template <class Read>
  decltype(auto) read_stored(Read&& read) const {
    std::shared_lock lock(mutex_);
    return read(StoredView(*this));
  }

  /// Loader hook for an index nobody else uses yet: appends `key` at the next id with an already
  /// prepared vector (COSINE: unit length; not normalised again) and its magnitude (ignored unless
  /// COSINE). Returns false, storing nothing, when `key` is already present. Throws kCorruptData,
  /// storing nothing, for an element a 16-bit index cannot hold.
  bool restore_entry(KeyView key, std::span<const float> stored, float magnitude) {
    if (stored.size() != schema_.dim)
      throw Error(ErrorCode::kSchemaMismatch, "restored vector has " + std::to_string(stored.size()) +
                                                  " elements, expected DIM " + std::to_string(schema_.dim));
    if (!Codec::fits(stored.data(), magnitude, schema_.dim))
      throw Error(ErrorCode::kCorruptData, "restored vector has an element out of the range of " +
                                               std::string(to_string(schema_.type)));
    std::unique_lock lock(mutex_);
    if (keys_.find(key)) return false;
    insert_locked(key, stored.data(), magnitude);
    return true;
  }

  /// Loader hook for an index nobody else uses yet (SQ8; other indexes ignore it): takes `saved`
  /// (when trained; it must have the schema's DIM, else kCorruptData) and re-encodes what the index
  /// holds, instead of training by the rule.
  void restore_quantizer(const SavedQuantizer& saved) {
    if constexpr (kQuantized) {
      if (!saved.quantizer.trained()) return;
      if (saved.quantizer.dim() != schema_.dim)
        throw Error(ErrorCode::kCorruptData, "the saved SQ8 quantizer has " + std::to_string(saved.quantizer.dim()) +
                                                 " dimensions, the schema " + std::to_string(schema_.dim));
      std::unique_lock lock(mutex_);
      codes_.restore(saved);
      encode_all_locked();
      release_if_final_locked();
    } else {
      (void)saved;
    }
  }

 private:
  // Bytes of packed stored vectors per tile of search_batch: half a typical L2 cache.
  static constexpr std::size_t kTileBytes = 256 * 1024;
  // Ids a scan visits between two looks at the deadline.
  static constexpr std::size_t kScanStride = 1024;
  // Slots a scan measures before it compares their distances with the bound (see scan).
  static constexpr std::size_t kScanRun = 64;

  struct KeyOf {
    const KeyMap* keys;
    KeyView operator()(Id id) const noexcept { return keys->key(id); }
  };
  KeyOf key_of() const noexcept { return KeyOf{&keys_}; }

  static VectorSchema validated(const VectorSchema& schema, const FlatParams& params,
                              const Limits& limits) {
    FrontEnd::check_schema(schema, limits);
    FrontEnd::check_storage(params.block_size, params.initial_cap, limits);
    if (is_narrow_element_v<T> && schema.type != element_type_v<T>)
      throw Error(ErrorCode::kInvalidArgument, "a FlatIndex of " + std::string(to_string(element_type_v<T>)) +
                                                   " elements takes TYPE " + std::string(to_string(element_type_v<T>)) +
                                                   ", not " + std::string(to_string(schema.type)));
    if (params.exact_vectors == ExactVectors::kHost && !kQuantized)
      throw Error(ErrorCode::kInvalidArgument,
                  "only an SQ8 FlatIndex re-ranks from the host (ExactVectors::kHost; EXACT_VECTORS HASH in Redis)");
    return schema;
  }
  static FlatParams in_effect(FlatParams params, const VectorSchema& schema, const Limits& limits) {
    params.block_size = limits.effective_block_size(params.block_size, Codec::bytes(schema.dim));
    return params;
  }

  std::size_t vector_bytes() const noexcept { return Codec::bytes(schema_.dim); }
  // Writes the prepared vector `v` and its magnitude (and SQ8: its codes) as the vector of `id`.
  void write(Id id, const float* v, float magnitude) noexcept {
    if (!floats_released_) Codec::encode(v, magnitude, vectors_.slot(id), schema_.dim);
    if constexpr (MetricT::kNormalizes) *magnitudes_.slot(id) = magnitude;
    if constexpr (kQuantized) codes_.encode(v, code_slots_.slot(id), schema_.dim);
  }

  // Appends `key` with the prepared vector `v`. Storage grows first (at most one block: INITIAL_CAP
  // allocates nothing), then the key map, whose insert is strong; should it fail, the growth is
  // given back, so the index is exactly as before. Caller holds the exclusive lock.
  Id insert_locked(KeyView key, const float* v, float magnitude) {
    const std::size_t want = keys_.next_id() + std::size_t{1};  // room for the id insert() hands out
    auto vectors = floats_released_ ? BlockArray<std::byte>::Growth{} : vectors_.grow(want);
    auto magnitudes = MetricT::kNormalizes ? magnitudes_.grow(want) : BlockArray<float>::Growth{};
    auto codes = kQuantized ? code_slots_.grow(want) : BlockArray<std::byte>::Growth{};
    const Id id = keys_.insert(key);
    vectors.commit();
    magnitudes.commit();
    codes.commit();
    write(id, v, magnitude);
    if constexpr (kQuantized) {
      if (!floats_released_ && codes_.training_due(keys_.size(), schema_.dim)) try_train_locked();
      release_if_final_locked();
    }
    return id;
  }

  // Re-ranking from the host: releases the floats once the quantizer's training is final.
  void release_if_final_locked() noexcept {
    if constexpr (kQuantized) {
      if (!reranks_from_host() || floats_released_ || !codes_.training_final(schema_.dim)) return;
      floats_released_ = true;
      vectors_.shrink_slots(0);
    }
  }

  // SQ8, floats released: retrain_quantizer(host) under the exclusive lock (strong guarantee: the new
  // codes are built aside and copied in only when every read succeeded).
  void retrain_from_host_locked(const HostVectorReader& host) {
    if constexpr (kQuantized) {
      if (keys_.size() == 0) return;
      const std::size_t dim = schema_.dim, slot = Codes::bytes(dim);
      std::vector<float> v(dim);
      // The host's vector of `id` prepared, or (gone from the host) what its codes decode to.
      auto read = [&](Id id, float* out) {
        std::span<float> into(out, dim);
        if (host(keys_.key(id), into) && check_vector(schema_, into) == VectorFailure::kNone) {
          metric::prepare<MetricT>(into);
        } else {
          codes_.decode(code_slots_.slot(id), out, dim);
        }
      };
      const std::vector<float> sample = detail::training_sample(keys_, dim, read);
      Codes fresh;
      fresh.train(sample, sample.size() / dim, dim);
      std::vector<std::byte> encoded(keys_.id_bound() * slot);
      for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
        const Id id = static_cast<Id>(i);
        if (!keys_.is_live(id)) continue;
        read(id, v.data());
        fresh.encode(v.data(), encoded.data() + i * slot, dim);
      }
      codes_ = fresh;
      for (std::size_t i = 0; i < keys_.id_bound(); ++i)
        if (keys_.is_live(static_cast<Id>(i))) std::copy_n(encoded.data() + i * slot, slot, code_slots_.slot(static_cast<Id>(i)));
    }
  }

  // The host reader of a search on an index that has released its floats (kInvalidArgument without).
  static const HostVectorReader& host_of(const SearchOptions& options) {
    return detail::host_reader_of(options, "FlatIndex");
  }

  // detail::measure_on_host (index/host_rerank.hpp) with this index's schema: reads only the schema,
  // so the caller need not hold the lock (and does not: the host is read without it).
  void measure_on_host(std::vector<SearchResult>& hits, const HostVectorReader& host, const float* q,
                       const SearchOptions& options) const {
    detail::measure_on_host<MetricT>(hits, host, q, schema_, options);
  }

  // Writes the stored (prepared) vector of a live `id` to `out`: its floats, or once they are
  // released, what its codes decode to.
  void stored_vector(Id id, float* out) const noexcept {
    if constexpr (kQuantized) {
      if (floats_released_) return codes_.decode(code_slots_.slot(id), out, schema_.dim);
    }
    Codec::decode(vectors_.slot(id), out, schema_.dim);
  }

  // `hits` sorted closest first, ties by key, as results.
  std::vector<SearchResult> sorted_results(std::vector<std::pair<Distance, Id>>& hits) const {
    std::sort(hits.begin(), hits.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : keys_.key(a.second) < keys_.key(b.second);
    });
    return to_results(hits);
  }

  // SQ8: trains on live vectors at evenly spread ids (Sq8::sample_size of them), then re-encodes
  // every entry. Throws std::bad_alloc with nothing changed. Caller holds the exclusive lock.
  void train_locked() {
    if constexpr (kQuantized) {
      const std::size_t dim = schema_.dim;
      const std::vector<float> sample = detail::training_sample(
          keys_, dim, [&](Id id, float* out) { Codec::decode(vectors_.slot(id), out, dim); });
      codes_.train(sample, sample.size() / dim, dim);
      encode_all_locked();
    }
  }
  // train_locked() as part of a write that has already succeeded: without memory for the sample the
  // quantizer stays as it was (the rule asks again on the next write).
  void try_train_locked() noexcept {
    try {
      train_locked();
    } catch (const std::bad_alloc&) {
    }
  }
  // SQ8: re-encodes every live entry's codes with the quantizer in use. Caller holds the lock.
  void encode_all_locked() noexcept {
    if constexpr (kQuantized) {
      const std::size_t dim = schema_.dim;
      for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
        const Id id = static_cast<Id>(i);
        if (keys_.is_live(id))
          codes_.encode(reinterpret_cast<const float*>(vectors_.slot(id)), code_slots_.slot(id), dim);
      }
    }
  }

  std::size_t slot_bytes() const noexcept {
    return (floats_released_ ? 0 : vectors_.slot_bytes()) + (MetricT::kNormalizes ? sizeof(float) : 0) + (kQuantized ? code_slots_.slot_bytes() : 0);
  }

  Filter resolve(const Filter* filter) const {
    if (!filter) return {};
    if (filter->is_key_list()) return filter->resolve_keys([&](KeyView k) { return keys_.find(k); });
    return *filter;
  }

  UpsertResult store(KeyView key, std::vector<float>& v) {
    if (const auto failure = narrow_to<T>(schema_, v); failure != VectorFailure::kNone)
      return {UpsertOutcome::kRejected, failure, kInvalidId};
    const float magnitude = metric::prepare<MetricT>(v);
    std::unique_lock lock(mutex_);
    if (const auto existing = keys_.find(key)) {
      if (same_vector(*existing, v.data(), magnitude)) return {UpsertOutcome::kUnchanged, VectorFailure::kNone, *existing};
      write(*existing, v.data(), magnitude);
      return {UpsertOutcome::kUpdated, VectorFailure::kNone, *existing};
    }
    const Id id = insert_locked(key, v.data(), magnitude);
    return {UpsertOutcome::kInserted, VectorFailure::kNone, id};
  }

  // Whether the prepared vector `v` (with `magnitude`) is what `id` holds: its floats, or once they
  // are released, its codes (a change within the codes' rounding is then no change to the index).
  bool same_vector(Id id, const float* v, float magnitude) const {
    if (MetricT::kNormalizes && *magnitudes_.slot(id) != magnitude) return false;
    if constexpr (kQuantized) {
      if (floats_released_) return codes_.encodes_to(v, code_slots_.slot(id), schema_.dim);
    }
    return Codec::equals(v, magnitude, vectors_.slot(id), schema_.dim);
  }

  // Visits every live (and filter-matching) entry with its distance, `measure(slot)` of its slot in
  // `store` (`bytes` a slot: the floats, or SQ8 codes). `bound` returns the current distance cut-off
  // so the filter predicate runs only for candidates that could be kept. Looks at options.deadline
  // first and every kScanStride ids: once passed, throws kTimeout, or with partial_on_timeout stops
  // (what was emitted stands). Fills options.stats (without a key list, the slots measured: every
  // id below the highest handed out, free ones included).
  template <class Measure, class Emit, class Bound>
  void scan(const BlockArray<std::byte>& store, std::size_t bytes, Measure&& measure, const Filter* filter,
            const SearchOptions& options, Emit&& emit, Bound&& bound) const {
    std::size_t distances = 0;
    bool timed_out = false;
    auto report = [&] {
      if (options.stats) *options.stats = {distances, 0, true, timed_out};
      if (timed_out && !options.partial_on_timeout) throw timeout_error("exact scan");
    };
    if (filter && filter->is_id_list()) {
      const auto ids = filter->ids();
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i % kScanStride == 0 && options.deadline.passed()) {
          timed_out = true;
          break;
        }
        if (!keys_.is_live(ids[i])) continue;
        ++distances;
        emit(measure(store.slot(ids[i])), ids[i]);
      }
      return report();
    }
    // Runs of up to kScanRun slots of one block: every slot measured in a loop that does nothing
    // else, free ones too (blocks start zeroed, so a free slot holds a vector or zeros), then each
    // distance compared with the bound, and only a slot within it looked up in the key map. The
    // kernels of a run overlap, and the scan reads no key map line for the entries it drops.
    // Measured on AMD EPYC (single queries alternated on one index, same answers): 1.31× the q/s of
    // checking liveness and the bound slot by slot on glove-100 SQ8 codes, 1.07× on fashion-mnist's,
    // 1.02-1.04× and 0.99× with floats.
    const std::size_t ids = keys_.id_bound();
    const std::size_t block = params_.block_size;
    Distance measured[kScanRun];
    std::size_t next_look = 0;  // the first run from this id on looks at the deadline
    for (std::size_t first = 0; first < ids && !timed_out; first += block) {
      const std::byte* base = store.block(first / block);
      const std::size_t end = std::min(ids, first + block);
      for (std::size_t run = first; run < end; run += kScanRun) {
        if (run >= next_look) {
          next_look = run + kScanStride;
          if (options.deadline.passed()) {
            timed_out = true;
            break;
          }
        }
        const std::size_t count = std::min(end - run, kScanRun);
        const std::byte* slots = base + (run - first) * bytes;
        for (std::size_t j = 0; j < count; ++j) measured[j] = measure(slots + j * bytes);
        distances += count;
        for (std::size_t j = 0; j < count; ++j) {
          const Id id = static_cast<Id>(run + j);
          if (measured[j] > bound() || !keys_.is_live(id)) continue;
          if (filter && !filter->matches(keys_.key(id), id)) continue;
          emit(measured[j], id);
        }
      }
    }
    report();
  }

  std::vector<SearchResult> to_results(const std::vector<std::pair<Distance, Id>>& hits) const {
    std::vector<SearchResult> out;
    out.reserve(hits.size());
    for (auto [d, id] : hits) out.push_back({Key(keys_.key(id)), id, d});
    return out;
  }

  VectorSchema schema_;
  FlatParams params_;
  Limits limits_;
  mutable std::shared_mutex mutex_;
  MemoryAccount memory_;  // counts what the members below take from the host's resource
  KeyMap keys_;
  BlockArray<std::byte> vectors_;  // Codec::bytes(DIM) a slot
  BlockArray<float> magnitudes_;
  BlockArray<std::byte> code_slots_;  // SQ8: Codes::bytes(DIM) a slot (other indexes allocate none)
  detail::Sq8Codes<MetricT> codes_;   // SQ8: the quantizer (held from operator new; untrained otherwise)
  bool floats_released_ = false;      // re-ranking from the host: vectors_ given back for good
};

static_assert(VectorIndex<FlatIndex<float, metric::L2>>);

}  // namespace vindex
