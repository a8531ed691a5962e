// vindex/index/filter.hpp — restricting a search to some entries.
//
// A `Filter` is either a predicate on (key, id) or an allow-list (of ids, or of keys that the index
// resolves). Indexes use its estimated match count to choose between an exact scan over the matches
// (selective filters) and filtering inside the normal search. A Filter is immutable once built and may
// be shared by concurrent searches; a predicate must itself be safe to call from several threads.
// Next: index/top_k.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/types.hpp"

namespace vindex {

/// A restriction of a search to matching entries.
class Filter {
 public:
  /// Signature of a predicate: true keeps the entry.
  using Predicate = std::function<bool(KeyView key, Id id)>;

  /// Keeps entries for which `predicate` returns true. `estimated_matches`, when known, lets the
  /// index pick an exact scan for selective predicates.
  static Filter by_predicate(Predicate predicate,
                             std::optional<std::size_t> estimated_matches = std::nullopt) {
    Filter f;
    f.predicate_ = std::move(predicate);
    f.estimate_ = estimated_matches;
    return f;
  }

  /// Keeps exactly the given ids (duplicates and stale ids are harmless).
  static Filter allow_ids(std::vector<Id> ids) {
    Filter f;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (!ids.empty() && ids.back() != kInvalidId) {
      f.bits_.assign(ids.back() / 64 + 1, 0);
      for (Id id : ids)
        if (id != kInvalidId) f.bits_[id / 64] |= std::uint64_t{1} << (id % 64);
    }
    if (!ids.empty() && ids.back() == kInvalidId) ids.pop_back();
    f.ids_ = std::move(ids);
    f.has_ids_ = true;
    f.estimate_ = f.ids_.size();
    return f;
  }

  /// Keeps exactly the given keys; the index resolves them to ids at search time.
  static Filter allow_keys(std::vector<Key> keys) {
    Filter f;
    f.keys_ = std::move(keys);
    f.has_keys_ = true;
    f.estimate_ = f.keys_.size();
    return f;
  }

  /// True for a key allow-list (to be resolved with `resolve_keys`).
  bool is_key_list() const noexcept { return has_keys_; }
  /// True for an id allow-list: `ids()` lists every possible match.
  bool is_id_list() const noexcept { return has_ids_; }
  /// Sorted unique ids of an id allow-list.
  std::span<const Id> ids() const noexcept { return ids_; }
  /// Keys of a key allow-list.
  std::span<const Key> keys() const noexcept { return keys_; }
  /// Estimated number of matching entries, when known.
  std::optional<std::size_t> estimated_matches() const noexcept { return estimate_; }

  /// True when the entry passes the filter. Not meaningful for an unresolved key list.
  bool matches(KeyView key, Id id) const {
    if (has_ids_) return id / 64 < bits_.size() && (bits_[id / 64] >> (id % 64)) & 1;
    if (predicate_) return predicate_(key, id);
    return true;
  }

  /// Turns a key allow-list into an id allow-list with `find(key) -> std::optional<Id>`.
  template <class FindId>
  Filter resolve_keys(FindId&& find) const {
    std::vector<Id> ids;
    ids.reserve(keys_.size());
    for (const Key& k : keys_)
      if (auto id = find(KeyView(k))) ids.push_back(*id);
    return allow_ids(std::move(ids));
  }

 private:
  Predicate predicate_;
  std::vector<Id> ids_;
  std::vector<std::uint64_t> bits_;
  std::vector<Key> keys_;
  bool has_ids_ = false;
  bool has_keys_ = false;
  std::optional<std::size_t> estimate_;
};

/// What one search did, for a host's statistics and for benchmarks (filled when
/// SearchOptions::stats points here; every field is overwritten).
struct SearchStats {
  /// Distances computed: vectors compared with the query (a FLAT scan without a key list measures
  /// every slot below its highest id, free ones too).
  std::size_t distances = 0;
  std::size_t expansions = 0;  ///< HNSW: nodes whose neighbour list was read (hops), upper layers included
  bool exact = false;          ///< the answer came from an exact scan (FLAT, or HNSW with a selective filter)
  bool timed_out = false;      ///< the deadline passed; with partial_on_timeout the results are partial
};

/// Reads the vector the host holds for `key` into `out` (DIM floats, as the host gives it: not
/// normalised) and returns true; false when the host has no valid vector for it any more (the
/// candidate is then left out). May throw; the search then throws it. An index that re-ranks from
/// the host calls it during a search, from the searching thread, after letting go of its lock
/// (retrain_quantizer(reader) calls it under its exclusive lock).
using HostVectorReader = std::function<bool(KeyView key, std::span<float> out)>;

/// Per-query options shared by every index type.
struct SearchOptions {
  /// HNSW: size of the dynamic candidate list (EF_RUNTIME) for this query only; the effective value
  /// is max(ef, k). Unset: the index's default. Ignored by FlatIndex.
  std::optional<std::size_t> ef{};
  /// SQ8 indexes (HnswIndex / FlatIndex<float, M, Sq8>): the rerank·k closest candidates by code
  /// distance are measured exactly and the k closest of those returned; 1..Sq8::kMaxRerank. Unset:
  /// Sq8::kDefaultRerank. Other indexes check the range and otherwise ignore it.
  std::optional<std::size_t> rerank{};
  /// SQ8 indexes that re-rank from the host (ExactVectors::kHost): where the exact vectors of the
  /// candidates are read; required once the index has released its floats (KeyspaceIndex sets it
  /// from its KeyValueSource). Ignored by other indexes. Must outlive the call.
  const HostVectorReader* host_vectors = nullptr;
  /// Restricts results to matching entries; null means no restriction. Must outlive the call.
  const Filter* filter = nullptr;
  /// Range search on approximate indexes: widens the candidate boundary to radius × (1 + epsilon)
  /// (RediSearch's EPSILON). Unset: the index's default. Ignored by FlatIndex.
  std::optional<double> epsilon{};
  /// Stop the search when this passes: it throws ErrorCode::kTimeout, or, with `partial_on_timeout`,
  /// returns the best entries found so far (flagged in `stats`). The walk and the scan look at the
  /// clock every few hundred distances. Default: no deadline.
  Deadline deadline{};
  /// See `deadline`.
  bool partial_on_timeout = false;
  /// When not null, receives what the search did. Must outlive the call.
  SearchStats* stats = nullptr;
};

}  // namespace vindex
