// flat_compare.hpp — exact search on a benchmark dataset: vindex FlatIndex against FAISS IndexFlatL2
// (IndexFlatIP on normalised rows for COSINE / IP), single-query and batched, one thread.
//
// Timed passes alternate between the libraries and the best pass counts. Single queries: vindex
// `search` vs FAISS `search(n = 1)`, and vindex's SQ8 FLAT (FlatIndex<float, M, Sq8>: codes scanned,
// the best rerank·k measured again on the floats) at the smallest re-ranking factor of 1, 2, 4, 8, 16
// whose recall@10 against the float FLAT's exact answers reaches 0.99, and the same SQ8 FLAT
// re-ranking from the host (ExactVectors::kHost: no float copy once trained; the "host" is the
// dataset's own array, a key parsed to its row), at that factor; batches: vindex `search_batch` vs FAISS `search(n = batch)`,
// which goes through BLAS (run with OPENBLAS_NUM_THREADS=1). FAISS is optional
// (VINDEX_BENCH_HAVE_FAISS); without it its fields stay NaN.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ann_data.hpp"
#include "bench_util.hpp"

#ifdef VINDEX_BENCH_HAVE_FAISS
#include <faiss/IndexFlat.h>
#endif

namespace vindex_bench {

/// Measured exact-search throughput (queries/s) of both libraries.
struct FlatComparison {
  std::size_t single_queries = 0, batch_queries = 0;
  double scan_bytes = 0;  ///< bytes of vectors one single-query scan reads (n × dim × 4)
  double vindex_single_qps = NAN, vindex_batch_qps = NAN;
  double faiss_single_qps = NAN, faiss_batch_qps = NAN;
  double sq8_single_qps = NAN;  ///< vindex SQ8 FLAT single queries/s at `sq8_rerank`
  double sq8_recall = NAN;      ///< its recall@10 against the exact answers
  std::size_t sq8_rerank = 0;   ///< the re-ranking factor it was timed at
  double sq8_host_single_qps = NAN;  ///< the same, re-ranking on vectors read from the host
  double sq8_host_recall = NAN;      ///< its recall@10 against the exact answers
  double float_bytes = NAN, sq8_bytes = NAN, sq8_host_bytes = NAN;  ///< memory_bytes() per vector
  /// Effective read rate of vindex's single-query scan, GB/s.
  double vindex_single_gbs() const { return scan_bytes * vindex_single_qps / 1e9; }
};

namespace detail {
template <class MetricT>
void time_vindex_flat(const Dataset& d, FlatComparison& r, int passes, const std::function<void()>& between) {
  vindex::FlatIndex<float, MetricT> index(
      vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
      vindex::FlatParams{.initial_cap = d.n});
  for (std::size_t i = 0; i < d.n; ++i)
    index.upsert(std::to_string(i), std::span<const float>(d.base.data() + i * d.dim, d.dim));
  vindex::FlatIndex<float, MetricT, vindex::Sq8> sq8(
      vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
      vindex::FlatParams{.initial_cap = d.n});
  for (std::size_t i = 0; i < d.n; ++i)
    sq8.upsert(std::to_string(i), std::span<const float>(d.base.data() + i * d.dim, d.dim));
  vindex::FlatIndex<float, MetricT, vindex::Sq8> host(
      vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
      vindex::FlatParams{.initial_cap = d.n, .exact_vectors = vindex::ExactVectors::kHost});
  for (std::size_t i = 0; i < d.n; ++i)
    host.upsert(std::to_string(i), std::span<const float>(d.base.data() + i * d.dim, d.dim));
  const vindex::HostVectorReader read = [&](vindex::KeyView key, std::span<float> out) {
    std::size_t row = 0;
    if (std::from_chars(key.data(), key.data() + key.size(), row).ec != std::errc() || row >= d.n) return false;
    std::copy_n(d.base.data() + row * d.dim, d.dim, out.data());
    return true;
  };
  const double n = double(std::max<std::size_t>(d.n, 1));
  r.float_bytes = double(index.memory_bytes()) / n;
  r.sq8_bytes = double(sq8.memory_bytes()) / n;
  r.sq8_host_bytes = double(host.memory_bytes()) / n;
  auto query = [&](std::size_t q) { return std::span<const float>(d.queries.data() + q * d.dim, d.dim); };
  // Untimed: the smallest re-ranking factor whose recall@10 reaches 0.99.
  std::vector<std::vector<vindex::SearchResult>> exact(r.single_queries);
  for (std::size_t q = 0; q < r.single_queries; ++q) exact[q] = index.search(query(q), 10);
  for (const std::size_t rerank : {1, 2, 4, 8, 16}) {
    std::size_t found = 0, total = 0;
    for (std::size_t q = 0; q < r.single_queries; ++q) {
      const auto got = sq8.search(query(q), 10, {.rerank = rerank});
      for (const auto& e : exact[q])
        for (const auto& g : got) found += g.key == e.key;
      total += exact[q].size();
    }
    r.sq8_rerank = rerank;
    r.sq8_recall = double(found) / double(std::max<std::size_t>(total, 1));
    if (r.sq8_recall >= 0.99) break;
  }
  {
    std::size_t found = 0, total = 0;
    for (std::size_t q = 0; q < r.single_queries; ++q) {
      const auto got = host.search(query(q), 10, {.rerank = r.sq8_rerank, .host_vectors = &read});
      for (const auto& e : exact[q])
        for (const auto& g : got) found += g.key == e.key;
      total += exact[q].size();
    }
    r.sq8_host_recall = double(found) / double(std::max<std::size_t>(total, 1));
  }
  const std::span<const float> batch(d.queries.data(), r.batch_queries * d.dim);
  double single = 1e300, batched = 1e300, sq8_single = 1e300, host_single = 1e300;
  for (int pass = 0; pass < passes; ++pass) {
    double t0 = now_s();
    std::size_t sink = 0;
    for (std::size_t q = 0; q < r.single_queries; ++q)
      sink += index.search(std::span<const float>(d.queries.data() + q * d.dim, d.dim), 10).size();
    single = std::min(single, now_s() - t0);
    t0 = now_s();
    for (std::size_t q = 0; q < r.single_queries; ++q) sink += sq8.search(query(q), 10, {.rerank = r.sq8_rerank}).size();
    sq8_single = std::min(sq8_single, now_s() - t0);
    t0 = now_s();
    for (std::size_t q = 0; q < r.single_queries; ++q)
      sink += host.search(query(q), 10, {.rerank = r.sq8_rerank, .host_vectors = &read}).size();
    host_single = std::min(host_single, now_s() - t0);
    t0 = now_s();
    sink += index.search_batch(batch, 10).size();
    batched = std::min(batched, now_s() - t0);
    if (sink == 0) std::fprintf(stderr, "flat: no results\n");
    between();  // the peer's pass of the same round
  }
  r.vindex_single_qps = double(r.single_queries) / single;
  r.sq8_single_qps = double(r.single_queries) / sq8_single;
  r.sq8_host_single_qps = double(r.single_queries) / host_single;
  r.vindex_batch_qps = double(r.batch_queries) / batched;
}
}  // namespace detail

/// Runs the comparison on `d` with `single` single queries and one batch of `batch` queries
/// (both capped at the query count), `passes` alternated rounds.
inline FlatComparison compare_flat(const Dataset& d, std::size_t single = 300, std::size_t batch = 1000,
                                   int passes = 3) {
  FlatComparison r;
  r.single_queries = std::min(single, d.nq);
  r.batch_queries = std::min(batch, d.nq);
  r.scan_bytes = double(d.n) * double(d.dim) * 4;
  std::function<void()> faiss_pass = [] {};
#ifdef VINDEX_BENCH_HAVE_FAISS
  const bool angular = d.metric != vindex::Metric::kL2;
  const bool cosine = d.metric == vindex::Metric::kCosine;
  std::unique_ptr<faiss::IndexFlat> peer;
  const auto fdim = static_cast<faiss::Index::idx_t>(d.dim);
  if (angular) peer = std::make_unique<faiss::IndexFlatIP>(fdim);
  else peer = std::make_unique<faiss::IndexFlatL2>(fdim);
  if (cosine) peer->add(static_cast<faiss::Index::idx_t>(d.n), normalized(d.base, d.dim).data());
  else peer->add(static_cast<faiss::Index::idx_t>(d.n), d.base.data());
  std::vector<float> dist(r.batch_queries * 10), qbuf;
  std::vector<faiss::Index::idx_t> ids(r.batch_queries * 10);
  double f_single = 1e300, f_batch = 1e300;
  faiss_pass = [&] {
    double t0 = now_s();
    for (std::size_t q = 0; q < r.single_queries; ++q) {
      const float* query = d.queries.data() + q * d.dim;
      if (cosine) {  // FAISS pays for query normalisation, as vindex does inside search
        qbuf.assign(query, query + d.dim);
        vindex::metric::normalize(std::span<float>(qbuf));
        query = qbuf.data();
      }
      peer->search(1, query, 10, dist.data(), ids.data());
    }
    f_single = std::min(f_single, now_s() - t0);
    t0 = now_s();
    std::vector<float> qs(d.queries.begin(), d.queries.begin() + static_cast<std::ptrdiff_t>(r.batch_queries * d.dim));
    if (cosine) qs = normalized(qs, d.dim);
    peer->search(static_cast<faiss::Index::idx_t>(r.batch_queries), qs.data(), 10, dist.data(), ids.data());
    f_batch = std::min(f_batch, now_s() - t0);
  };
#endif
  switch (d.metric) {
    case vindex::Metric::kL2: detail::time_vindex_flat<vindex::metric::L2>(d, r, passes, faiss_pass); break;
    case vindex::Metric::kIP: detail::time_vindex_flat<vindex::metric::InnerProduct>(d, r, passes, faiss_pass); break;
    case vindex::Metric::kCosine: detail::time_vindex_flat<vindex::metric::Cosine>(d, r, passes, faiss_pass); break;
  }
#ifdef VINDEX_BENCH_HAVE_FAISS
  r.faiss_single_qps = double(r.single_queries) / f_single;
  r.faiss_batch_qps = double(r.batch_queries) / f_batch;
#endif
  return r;
}

}  // namespace vindex_bench
