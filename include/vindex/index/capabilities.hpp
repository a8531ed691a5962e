// vindex/index/capabilities.hpp — what an index may offer beyond the VectorIndex shape, named.
//
// KeyspaceIndex and hosts are generic over any `VectorIndex`; some of them use more when an index
// has it (HnswIndex has the first five, FlatIndex the first two and the last). Each capability is a concept here,
// so a host writes `if constexpr (MaintainedIndex<I>)` instead of spelling out a `requires`
// expression at each use, and the list of what a third-party index can plug into is in one place.
// Next: index/front_end.hpp.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory_resource>
#include <span>
#include <string_view>
#include <utility>

#include "vindex/core/limits.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/vector_index.hpp"

namespace vindex {

/// An index with input limits (key length, k, …) that a host should check before it writes.
template <class I>
concept BoundedIndex = VectorIndex<I> && requires(const I& index) {
  { index.limits() } -> std::convertible_to<const Limits&>;
};

/// An index that allocates from a memory resource the host gave it: a host allocates its own
/// per-index bookkeeping there too, so one account holds the whole index.
template <class I>
concept AllocatingIndex = VectorIndex<I> && requires(const I& index) {
  { index.memory_resource() } -> std::convertible_to<std::pmr::memory_resource*>;
};

/// An index that inserts a batch of blobs on threads the host lends (`spawn(task)` runs a task):
/// a host hands it a whole step's upserts instead of splitting them over tasks itself.
template <class I>
concept BatchingIndex =
    VectorIndex<I> && requires(I& index, std::span<const std::pair<KeyView, std::string_view>> items,
                               std::span<UpsertResult> results, const std::function<void(std::function<void()>)>& spawn) {
      index.try_upsert_blobs(items, results, std::size_t{1}, spawn);
    };

/// An index whose deletes leave work for later (tombstones to repair and free): a host calls
/// maintain_for() in its idle time and reports maintenance_stats().
template <class I>
concept MaintainedIndex = VectorIndex<I> && requires(I& index, const I& cindex) {
  { index.maintain_for(std::chrono::nanoseconds{}) } -> std::same_as<bool>;
  { cindex.maintenance_pending() } -> std::same_as<bool>;
  cindex.maintenance_stats();
};

/// A graph index with build parameters (M, EF_CONSTRUCTION, EF_RUNTIME) a host may compare with a
/// snapshot's.
template <class I>
concept GraphIndex = VectorIndex<I> && requires(const I& index) {
  index.params().m;
  index.params().ef_construction;
  index.params().ef_runtime;
};

/// An index that may re-rank on vectors read from the host (SQ8 with ExactVectors::kHost): when
/// `reranks_from_host()` says so, a host passes SearchOptions::host_vectors with every search.
template <class I>
concept HostRerankingIndex = VectorIndex<I> && requires(const I& index) {
  { index.reranks_from_host() } -> std::same_as<bool>;
};

}  // namespace vindex
