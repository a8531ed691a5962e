// vindex/index/host_rerank.hpp — re-ranking candidates on vectors read from the host: what an SQ8
// index that keeps no float copy (ExactVectors::kHost) does with the candidates its code walk or scan
// found. FlatIndex<float, M, Sq8> and HnswIndex<float, M, Sq8> both call it after releasing their
// lock, so the host is read while writers and other searches go on.
//
// Thread-safety: reads only its arguments. Errors: kInvalidArgument for a search without a reader;
// kTimeout (or partial results) when the deadline passes; whatever the reader throws. Next:
// index/flat_index.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/deadline.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/core/types.hpp"

namespace vindex::detail {

/// The host reader of a search on an index that has released its floats; throws kInvalidArgument
/// (naming `index`) when the search gave none.
inline const HostVectorReader& host_reader_of(const SearchOptions& options, const char* index) {
  if (!options.host_vectors || !*options.host_vectors)
    throw Error(ErrorCode::kInvalidArgument, std::string("this SQ8 ") + index +
                                                 " re-ranks from the host: the search needs SearchOptions::host_vectors");
  return *options.host_vectors;
}

/// Host reads between two looks at the deadline.
inline constexpr std::size_t kHostReadStride = 1024;

/// Replaces the distance of each of `hits` (candidates by code distance) with the exact distance
/// from the prepared query `q` to the vector `host` holds for its key (checked against `schema`,
/// then prepared for `MetricT`), leaves out those the host no longer has a valid vector for, and
/// sorts them closest first, ties by key. Looks at options.deadline every kHostReadStride reads:
/// once passed, throws kTimeout, or with partial_on_timeout keeps what was measured (flagging
/// options.stats).
template <class MetricT>
void measure_on_host(std::vector<SearchResult>& hits, const HostVectorReader& host, const float* q,
                     const VectorSchema& schema, const SearchOptions& options) {
  const std::size_t dim = schema.dim;
  std::vector<float> v(dim);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (i % kHostReadStride == 0 && i != 0 && options.deadline.passed()) {
      if (options.stats) options.stats->timed_out = true;
      if (!options.partial_on_timeout) throw timeout_error("re-ranking");
      break;
    }
    if (!host(hits[i].key, std::span<float>(v)) || check_vector(schema, v) != VectorFailure::kNone) continue;
    metric::prepare<MetricT>(v);
    hits[i].distance = MetricT::distance(q, v.data(), dim);
    if (kept != i) hits[kept] = std::move(hits[i]);
    ++kept;
  }
  hits.resize(kept);
  std::sort(hits.begin(), hits.end(), [](const SearchResult& a, const SearchResult& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.key < b.key;
  });
}

}  // namespace vindex::detail
