// truth_check.hpp — spot-checks a dataset's cached ground truth (computed with vindex's FlatIndex)
// against FAISS's exact search (IndexFlatL2, or IndexFlatIP on normalised rows for COSINE / IP).
//
// An id that FAISS returns and the cached truth lacks still agrees when it is a tie: its exact
// distance (recomputed in double) is within float rounding of the truth's k-th distance. Single-
// threaded; FAISS is optional (VINDEX_BENCH_HAVE_FAISS), without it the check reports `ran = false`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ann_data.hpp"

#ifdef VINDEX_BENCH_HAVE_FAISS
#include <faiss/IndexFlat.h>
#endif

namespace vindex_bench {

/// Outcome of the spot check: how many of the compared top-k ids agree with the cached truth.
struct TruthCheck {
  bool ran = false;
  std::size_t queries = 0, compared = 0, agreeing = 0, ties = 0;
  /// Fraction of compared ids that agree (ties included); 1 when nothing was compared.
  double agreement() const { return compared ? double(agreeing) / double(compared) : 1.0; }
};

/// Exact distance in double precision in the dataset's metric (COSINE/IP: 1 − cos / −dot on the
/// rows as given; for COSINE the caller passes normalised rows).
inline double exact_distance(const float* a, const float* b, std::size_t dim, vindex::Metric metric) {
  double s = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    if (metric == vindex::Metric::kL2) {
      const double t = double(a[j]) - double(b[j]);
      s += t * t;
    } else {
      s += double(a[j]) * double(b[j]);
    }
  }
  return metric == vindex::Metric::kL2 ? s : -s;
}

/// Compares FAISS's exact top-`k` for the first `nq` queries of `d` with `d.truth`.
inline TruthCheck spot_check_truth(const Dataset& d, std::size_t nq = 200, std::size_t k = 10) {
  TruthCheck check;
#ifdef VINDEX_BENCH_HAVE_FAISS
  nq = std::min(nq, d.nq);
  const bool angular = d.metric != vindex::Metric::kL2;
  const bool cosine = d.metric == vindex::Metric::kCosine;
  const std::vector<float> base = cosine ? normalized(d.base, d.dim) : d.base;
  std::vector<float> queries(d.queries.begin(), d.queries.begin() + static_cast<std::ptrdiff_t>(nq * d.dim));
  if (cosine) queries = normalized(queries, d.dim);
  const auto fdim = static_cast<faiss::Index::idx_t>(d.dim);
  std::unique_ptr<faiss::IndexFlat> index;
  if (angular) index = std::make_unique<faiss::IndexFlatIP>(fdim);
  else index = std::make_unique<faiss::IndexFlatL2>(fdim);
  index->add(static_cast<faiss::Index::idx_t>(d.n), base.data());
  std::vector<float> dist(nq * k);
  std::vector<faiss::Index::idx_t> ids(nq * k);
  index->search(static_cast<faiss::Index::idx_t>(nq), queries.data(), static_cast<faiss::Index::idx_t>(k), dist.data(),
                ids.data());
  const vindex::Metric m = angular ? vindex::Metric::kIP : vindex::Metric::kL2;
  for (std::size_t q = 0; q < nq; ++q) {
    const float* query = queries.data() + q * d.dim;
    const std::int32_t* truth = d.truth.data() + q * d.truth_k;
    const double kth = exact_distance(query, base.data() + std::size_t(truth[k - 1]) * d.dim, d.dim, m);
    for (std::size_t r = 0; r < k; ++r, ++check.compared) {
      const auto id = static_cast<std::int32_t>(ids[q * k + r]);
      if (std::find(truth, truth + k, id) != truth + k) {
        ++check.agreeing;
        continue;
      }
      if (id < 0) continue;
      const double dd = exact_distance(query, base.data() + std::size_t(id) * d.dim, d.dim, m);
      if (dd <= kth + 1e-5 * std::max(1.0, std::abs(kth))) ++check.agreeing, ++check.ties;  // a tie at rank k
    }
  }
  check.ran = true;
  check.queries = nq;
#else
  (void)d, (void)nq, (void)k;
#endif
  return check;
}

}  // namespace vindex_bench
