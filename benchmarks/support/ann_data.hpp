// ann_data.hpp — benchmark datasets: loading (siftsmall, cached Fashion-MNIST / GloVe, generated
// clusters) and exact ground truth computed with vindex's FlatIndex (batched), cached beside the data.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

namespace vindex_bench {

/// A benchmark dataset: base and query rows, metric, and top-100 exact neighbours per query.
struct Dataset {
  std::string name;
  vindex::Metric metric = vindex::Metric::kL2;
  std::size_t dim = 0;
  std::vector<float> base, queries;
  std::size_t n = 0, nq = 0;
  std::vector<std::int32_t> truth;  // nq × truth_k positions in base
  std::size_t truth_k = 0;
};

/// Folder of the converted datasets (benchmarks/fetch_datasets.sh writes there).
inline std::filesystem::path cache_dir() {
  if (const char* c = std::getenv("VINDEX_CACHE"); c && *c) return std::filesystem::path(c) / "datasets";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/tmp") / ".cache" / "vindex" / "datasets";
}

/// Rows of `v` (row-major, `dim` wide) scaled to unit length, as COSINE stores them.
inline std::vector<float> normalized(const std::vector<float>& v, std::size_t dim) {
  std::vector<float> out = v;
  for (std::size_t i = 0; i < out.size(); i += dim) vindex::metric::normalize(std::span<float>(out.data() + i, dim));
  return out;
}

template <class MetricT>
std::vector<std::int32_t> exact_truth(const Dataset& d, std::size_t k) {
  vindex::FlatIndex<float, MetricT> flat(
      vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
      vindex::FlatParams{.initial_cap = d.n, .block_size = 4096});
  for (std::size_t i = 0; i < d.n; ++i)
    flat.upsert(std::to_string(i), std::span<const float>(d.base.data() + i * d.dim, d.dim));
  std::vector<std::int32_t> truth;
  truth.reserve(d.nq * k);
  const std::size_t chunk = 1000;
  for (std::size_t q0 = 0; q0 < d.nq; q0 += chunk) {
    const std::size_t qn = std::min(chunk, d.nq - q0);
    const auto hits = flat.search_batch(std::span<const float>(d.queries.data() + q0 * d.dim, qn * d.dim), k);
    for (const auto& row : hits)
      for (std::size_t r = 0; r < k; ++r) truth.push_back(r < row.size() ? std::stoi(row[r].key) : -1);
    std::fprintf(stderr, "\r  ground truth: %zu / %zu queries", q0 + qn, d.nq);
  }
  std::fprintf(stderr, "\n");
  return truth;
}

/// Fills d.truth from `cache` when it matches, else computes it with FlatIndex and writes the cache.
inline void load_or_compute_truth(Dataset& d, const std::optional<std::filesystem::path>& cache, std::size_t k = 100) {
  d.truth_k = k;
  if (cache && std::filesystem::exists(*cache)) {
    auto m = vindex_support::read_vecs<std::int32_t>(*cache);
    if (m.rows == d.nq && m.dim == k) {
      d.truth = std::move(m.data);
      return;
    }
  }
  const double t0 = now_s();
  switch (d.metric) {
    case vindex::Metric::kL2: d.truth = exact_truth<vindex::metric::L2>(d, k); break;
    case vindex::Metric::kIP: d.truth = exact_truth<vindex::metric::InnerProduct>(d, k); break;
    case vindex::Metric::kCosine: d.truth = exact_truth<vindex::metric::Cosine>(d, k); break;
  }
  std::fprintf(stderr, "  ground truth computed with FlatIndex::search_batch in %.1f s\n", now_s() - t0);
  if (cache) {
    std::ofstream out(*cache, std::ios::binary);
    const std::int32_t kk = static_cast<std::int32_t>(k);
    for (std::size_t q = 0; q < d.nq; ++q) {
      out.write(reinterpret_cast<const char*>(&kk), 4);
      out.write(reinterpret_cast<const char*>(d.truth.data() + q * k), static_cast<std::streamsize>(k * 4));
    }
  }
}

/// Loads a dataset by name: siftsmall, fashion-mnist, glove-100 or clustered (generated, 100k × 128).
/// `max_queries` (0 = all) trims the query set. Throws when the files are missing.
inline Dataset load_dataset(const std::string& name, std::size_t max_queries, std::size_t clustered_n = 100000) {
  Dataset d;
  d.name = name;
  std::optional<std::filesystem::path> truth_cache;
  if (name == "siftsmall") {
    auto dir = vindex_support::siftsmall_dir();
    if (!dir) throw std::runtime_error("siftsmall not found (VINDEX_DATASETS or ../shared/datasets)");
    auto b = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
    auto q = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
    d.dim = b.dim, d.n = b.rows, d.nq = q.rows, d.base = std::move(b.data), d.queries = std::move(q.data);
    truth_cache = cache_dir() / "siftsmall-truth100.ivecs";
  } else if (name == "clustered") {
    d.dim = 128, d.n = clustered_n, d.nq = 1000;
    d.base = clustered(d.n, d.dim, 100, 1);
    d.queries = clustered(d.nq, d.dim, 100, 2);
  } else {
    const auto dir = cache_dir() / name;
    if (!std::filesystem::exists(dir / ".complete"))
      throw std::runtime_error(name + " not in " + dir.string() + ": run benchmarks/fetch_datasets.sh " + name);
    auto b = vindex_support::read_vecs<float>(dir / "base.fvecs");
    auto q = vindex_support::read_vecs<float>(dir / "query.fvecs");
    d.dim = b.dim, d.n = b.rows, d.nq = q.rows, d.base = std::move(b.data), d.queries = std::move(q.data);
    std::ifstream metric_file(dir / "metric");
    std::string metric;
    metric_file >> metric;
    d.metric = vindex::parse_metric(metric).value_or(vindex::Metric::kL2);
    truth_cache = dir / "truth100.ivecs";
  }
  if (max_queries && max_queries < d.nq) {
    // The cache always holds the full query set; trim after loading it.
    load_or_compute_truth(d, truth_cache);
    d.nq = max_queries;
    d.queries.resize(d.nq * d.dim);
    d.truth.resize(d.nq * d.truth_k);
    return d;
  }
  load_or_compute_truth(d, truth_cache);
  return d;
}

}  // namespace vindex_bench
