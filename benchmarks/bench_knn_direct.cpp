// benchmarks/bench_knn_direct.cpp — KNN on a vindex KeyspaceIndex used directly from C++, the
// baseline that benchmarks/bench_redis.py compares the Redis module against.
//
// Loads siftsmall (10k × 128, L2) into a MemorySource, backfills a FLAT and an HNSW (M 16,
// EF_CONSTRUCTION 200) KeyspaceIndex exactly as the module does (same definition, same blobs), then
// times `search(query, 10, "*")` one query at a time. Prints one line per index:
//   direct <index> <ef> qps <n> p50_us <x> p99_us <y>
// Usage: bench_knn_direct [repetitions] (default 20 passes over the 100 queries).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

namespace {

template <class IndexT>
void run(const char* name, std::unique_ptr<IndexT> index, const vindex_support::Matrix<float>& base,
         const vindex_support::Matrix<float>& queries, int reps, std::size_t ef) {
  vindex::MemorySource source;
  for (std::size_t i = 0; i < base.rows; ++i)
    source.hset("sift:" + std::to_string(i), "vec",
                vindex::to_float32_blob(std::span<const float>(base.row(i), base.dim)));
  vindex::IndexDefinition definition;
  definition.prefixes = {"sift:"};
  definition.vector_field = "vec";
  vindex::KeyspaceIndex<IndexT> keyspace(definition, source, std::move(index));
  keyspace.start_backfill();
  while (keyspace.step(1024) == vindex::BackfillState::kBackfilling) {
  }
  const vindex::FilterExpr all = vindex::FilterExpr::all();
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(reps) * queries.rows);
  vindex::SearchOptions options;
  if (ef) options.ef = ef;
  std::size_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    for (std::size_t q = 0; q < queries.rows; ++q) {
      const auto t0 = std::chrono::steady_clock::now();
      auto hits = keyspace.search(std::span<const float>(queries.row(q), queries.dim), 10, all, options);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      sink += hits.size();
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(us.begin(), us.end());
  std::printf("direct %s %zu qps %.0f p50_us %.1f p99_us %.1f (%zu hits)\n", name, ef,
              static_cast<double>(us.size()) / seconds, us[us.size() / 2], us[us.size() * 99 / 100], sink);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const auto dir = vindex_support::siftsmall_dir();
  if (!dir) {
    std::printf("siftsmall not found (set VINDEX_DATASETS)\n");
    return 0;
  }
  const auto base = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
  const auto queries = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
  const vindex::VectorSchema schema{static_cast<std::uint32_t>(base.dim), vindex::ElementType::kFloat32,
                                    vindex::Metric::kL2};
  using Flat = vindex::FlatIndex<float, vindex::metric::L2>;
  using Hnsw = vindex::HnswIndex<float, vindex::metric::L2>;
  run("flat", std::make_unique<Flat>(schema), base, queries, reps, 0);
  for (std::size_t ef : {10, 64}) run("hnsw", std::make_unique<Hnsw>(schema), base, queries, reps, ef);
  return 0;
}
