// bench_hnsw — vindex's HnswIndex against hnswlib on the same data, in one run.
//
// Prints build time (one thread, then both libraries with several threads), bytes per vector, and for an
// ef sweep recall@10 and single-thread queries/s of both libraries, with their timed passes
// alternating so machine noise hits both alike; then the q/s ratio interpolated at recall 0.90, 0.95
// and 0.99. Data: clustered Gaussian vectors (deterministic) or siftsmall. Ground truth: FlatIndex.
// With --elements it compares vindex with itself instead: FLOAT32, FLOAT16, BFLOAT16 and (for data
// of integers 0..255, such as siftsmall) UINT8 storage on the same data (build time, vector bytes,
// recall and q/s, ratios to FLOAT32 at equal recall).
//
//   bench_hnsw [--n 100000] [--dim 128] [--queries 1000] [--clusters 100] [--m 16]
//              [--ef-construction 200] [--threads 2] [--reps 3] [--sift] [--no-hnswlib] [--build-only]
//              [--elements]
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

#if defined(VINDEX_HAVE_HNSWLIB)
#include <hnswlib/hnswlib.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::size_t heap_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

struct Options {
  std::size_t n = 100000, dim = 128, queries = 1000, clusters = 100, m = 16, ef_construction = 200;
  unsigned threads = 2, reps = 3;
  bool sift = false, hnswlib = true, build_only = false, elements = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::size_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--n") o.n = next();
    else if (a == "--dim") o.dim = next();
    else if (a == "--queries") o.queries = next();
    else if (a == "--clusters") o.clusters = next();
    else if (a == "--m") o.m = next();
    else if (a == "--ef-construction") o.ef_construction = next();
    else if (a == "--threads") o.threads = static_cast<unsigned>(next());
    else if (a == "--reps") o.reps = static_cast<unsigned>(next());
    else if (a == "--sift") o.sift = true;
    else if (a == "--no-hnswlib") o.hnswlib = false;
    else if (a == "--build-only") o.build_only = true;
    else if (a == "--elements") o.elements = true;
    else {
      std::fprintf(stderr, "usage: %s [--n N] [--dim D] [--queries Q] [--clusters C] [--m M] "
                           "[--ef-construction E] [--threads T] [--reps R] [--sift] [--no-hnswlib] [--build-only] [--elements]\n", argv[0]);
      std::exit(2);
    }
  }
  return o;
}

// Gaussian clusters: centres spread with sd 1, members around them with sd 0.35; queries drawn the
// same way (from the same clusters), so they are not copies of data points.
void clustered(const Options& o, std::vector<float>& base, std::vector<float>& queries) {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> g;
  std::vector<float> centres(o.clusters * o.dim);
  for (float& x : centres) x = g(rng);
  auto draw = [&](std::vector<float>& out, std::size_t rows) {
    out.resize(rows * o.dim);
    std::uniform_int_distribution<std::size_t> pick(0, o.clusters - 1);
    for (std::size_t r = 0; r < rows; ++r) {
      const float* c = centres.data() + pick(rng) * o.dim;
      for (std::size_t d = 0; d < o.dim; ++d) out[r * o.dim + d] = c[d] + 0.35f * g(rng);
    }
  };
  draw(base, o.n);
  draw(queries, o.queries);
}

struct Point {
  double recall = 0, qps = 0;
};

// q/s at a target recall by linear interpolation along the sweep (recall rises with ef); 0 if the
// sweep never reaches it.
double qps_at(const std::vector<Point>& sweep, double recall) {
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    if (sweep[i].recall < recall) continue;
    if (i == 0) return sweep[0].qps;
    const Point& a = sweep[i - 1];
    const Point& b = sweep[i];
    const double t = b.recall > a.recall ? (recall - a.recall) / (b.recall - a.recall) : 1.0;
    return a.qps + t * (b.qps - a.qps);
  }
  return 0;
}

// --elements: vindex HNSW storing FLOAT32, FLOAT16, BFLOAT16 and UINT8 elements, built from the same
// data (narrowed to the type: siftsmall's integers 0..255 are exact in all four) with the same
// parameters, one thread; then the ef sweep, the indexes' timed passes alternating and the best of
// --reps kept; recall against the float ground truth.
template <class T>
std::unique_ptr<vindex::HnswIndex<T, vindex::metric::L2>> build_elements(const Options& o, const std::vector<float>& base,
                                                                         const std::vector<std::string>& keys,
                                                                         double& seconds) {
  const auto dim = static_cast<std::uint32_t>(o.dim);
  const auto t0 = Clock::now();
  auto index = std::make_unique<vindex::HnswIndex<T, vindex::metric::L2>>(
      vindex::VectorSchema{dim, vindex::element_type_v<T>, vindex::Metric::kL2},
      vindex::HnswParams{.m = o.m, .ef_construction = o.ef_construction});
  for (std::size_t i = 0; i < o.n; ++i) index->upsert(keys[i], {base.data() + i * o.dim, o.dim});
  seconds = seconds_since(t0);
  return index;
}

int run_elements(const Options& o, const std::vector<float>& base, const std::vector<float>& queries,
                 const std::vector<std::vector<std::size_t>>& truth, const std::vector<std::string>& keys) {
  // UINT8 only when the data are integers 0..255 (siftsmall's are): elsewhere it would round them.
  const bool bytes = std::all_of(base.begin(), base.end(), [](float x) { return x >= 0 && x <= 255 && x == std::floor(x); });
  std::vector<std::string> names{"FLOAT32", "FLOAT16", "BFLOAT16"};
  std::vector<double> build(4), vectors;
  std::vector<std::function<std::vector<vindex::SearchResult>(const float*, std::size_t)>> search;
  auto add = [&]<class T>(std::unique_ptr<vindex::HnswIndex<T, vindex::metric::L2>> index) {
    vectors.push_back(double(index->memory_breakdown().vectors));
    search.push_back([&o, shared = std::shared_ptr(std::move(index))](const float* q, std::size_t ef) {
      return shared->search({q, o.dim}, 10, {.ef = ef});
    });
  };
  add(build_elements<float>(o, base, keys, build[0]));
  add(build_elements<vindex::Float16>(o, base, keys, build[1]));
  add(build_elements<vindex::BFloat16>(o, base, keys, build[2]));
  if (bytes) {
    names.push_back("UINT8");
    add(build_elements<vindex::UInt8>(o, base, keys, build[3]));
  }
  const std::size_t types = names.size();
  std::printf("16-bit kernels: %s, 8-bit kernels: %s%s\n\n%-10s %10s %14s %10s\n",
              std::string(vindex::half_kernels_name()).c_str(), std::string(vindex::byte_kernels_name()).c_str(),
              bytes ? "" : " (UINT8 left out: the data are not integers 0..255)", "TYPE", "build s", "vector B/vec",
              "vs FLOAT32");
  for (std::size_t t = 0; t < types; ++t)
    std::printf("%-10s %10.2f %14.1f %10.2f\n", names[t].c_str(), build[t], vectors[t] / double(o.n),
                vectors[t] / vectors[0]);
  auto pass = [&](std::size_t t, std::size_t ef, Point& point, double& best) {
    std::size_t hit = 0;
    const auto s0 = Clock::now();
    for (std::size_t q = 0; q < o.queries; ++q) {
      const auto r = search[t](queries.data() + q * o.dim, ef);
      for (const auto& h : r) hit += std::count(truth[q].begin(), truth[q].end(), std::stoull(h.key));
    }
    best = std::min(best, seconds_since(s0));
    point.recall = double(hit) / double(o.queries * 10);
  };
  std::vector<std::vector<Point>> sweeps(types);
  std::printf("\n%6s", "ef");
  for (const auto& name : names) std::printf(" | %-21s", (name + " R@10 q/s").c_str());
  std::printf("\n");
  for (std::size_t ef : {10, 16, 24, 32, 48, 64, 96, 128, 192, 256}) {
    std::vector<Point> p(types);
    std::vector<double> best(types, 1e30);
    for (unsigned rep = 0; rep < o.reps; ++rep)
      for (std::size_t k = 0; k < types; ++k) {  // a different first index every round
        const std::size_t t = (rep + k) % types;
        pass(t, ef, p[t], best[t]);
      }
    std::printf("%6zu", ef);
    for (std::size_t t = 0; t < types; ++t) {
      p[t].qps = double(o.queries) / best[t];
      sweeps[t].push_back(p[t]);
      std::printf(" | %8.4f %12.0f", p[t].recall, p[t].qps);
    }
    std::printf("\n");
  }
  std::printf("\nq/s against FLOAT32 at equal recall@10 (interpolated):\n");
  for (double target : {0.90, 0.95, 0.99}) {
    const double base_qps = qps_at(sweeps[0], target);
    std::printf("  recall %.2f:", target);
    for (std::size_t t = 1; t < types; ++t) {
      const double qps = qps_at(sweeps[t], target);
      if (base_qps > 0 && qps > 0)
        std::printf("  %s %.2f", names[t].c_str(), qps / base_qps);
      else
        std::printf("  %s not reached", names[t].c_str());
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::vector<float> base, queries;
  std::string data_name;
  if (o.sift) {
    const auto dir = vindex_support::siftsmall_dir();
    if (!dir) {
      std::fprintf(stderr, "siftsmall not found (set VINDEX_DATASETS)\n");
      return 1;
    }
    auto b = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
    auto q = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
    o.n = b.rows;
    o.dim = b.dim;
    o.queries = q.rows;
    base = std::move(b.data);
    queries = std::move(q.data);
    data_name = "siftsmall";
  } else {
    clustered(o, base, queries);
    data_name = std::to_string(o.clusters) + " Gaussian clusters";
  }
  const auto dim = static_cast<std::uint32_t>(o.dim);
  std::printf("data: %s, N=%zu, dim=%zu, %zu queries; M=%zu, EF_CONSTRUCTION=%zu; SIMD %s\n", data_name.c_str(),
              o.n, o.dim, o.queries, o.m, o.ef_construction, std::string(vindex::simd_arch_name()).c_str());

  std::vector<std::string> keys(o.n);
  for (std::size_t i = 0; i < o.n; ++i) keys[i] = std::to_string(i);

  // Exact top-10 by id.
  std::vector<std::vector<std::size_t>> truth(o.queries);
  {
    vindex::FlatIndex<float, vindex::metric::L2> flat(vindex::VectorSchema{dim});
    for (std::size_t i = 0; i < o.n; ++i) flat.upsert(keys[i], {base.data() + i * o.dim, o.dim});
    const auto t0 = Clock::now();
    const auto hits = flat.search_batch(queries, 10);
    for (std::size_t q = 0; q < o.queries; ++q)
      for (const auto& h : hits[q]) truth[q].push_back(std::stoull(h.key));
    std::printf("ground truth: FlatIndex::search_batch in %.2f s\n", seconds_since(t0));
  }

  if (o.elements) return run_elements(o, base, queries, truth, keys);

  using Index = vindex::HnswIndex<float, vindex::metric::L2>;
  const vindex::HnswParams params{.m = o.m, .ef_construction = o.ef_construction};

  // Builds (single thread each), heap measured around each.
  std::printf("\n%-28s %10s %14s\n", "build", "seconds", "bytes/vector");
  std::size_t before = heap_bytes();
  auto t0 = Clock::now();
  auto index = std::make_unique<Index>(vindex::VectorSchema{dim}, params);
  for (std::size_t i = 0; i < o.n; ++i) index->upsert(keys[i], {base.data() + i * o.dim, o.dim});
  const double vindex_build = seconds_since(t0);
  const std::size_t vindex_heap = heap_bytes() - before;
  const auto mem = index->memory_breakdown();
  std::printf("%-28s %10.2f %14.1f  (heap delta %.1f; vectors %.1f, links %.1f, keys %.1f, other %.1f)\n",
              "vindex, 1 thread", vindex_build, double(mem.total()) / double(o.n), double(vindex_heap) / double(o.n),
              double(mem.vectors) / double(o.n), double(mem.links) / double(o.n), double(mem.keys) / double(o.n),
              double(mem.other) / double(o.n));

#if defined(VINDEX_HAVE_HNSWLIB)
  std::unique_ptr<hnswlib::L2Space> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> peer;
  double peer_build = 0;
  if (o.hnswlib) {
    before = heap_bytes();
    t0 = Clock::now();
    space = std::make_unique<hnswlib::L2Space>(o.dim);
    peer = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), o.n, o.m, o.ef_construction, 100);
    for (std::size_t i = 0; i < o.n; ++i) peer->addPoint(base.data() + i * o.dim, i);
    peer_build = seconds_since(t0);
    std::printf("%-28s %10.2f %14.1f  (heap delta)\n", "hnswlib, 1 thread", peer_build,
                double(heap_bytes() - before) / double(o.n));
  }
#else
  if (o.hnswlib) std::printf("(hnswlib not found at build time: vindex only)\n");
  o.hnswlib = false;
#endif
  if (o.threads > 1) {
    std::vector<Index::BatchItem> items;
    items.reserve(o.n);
    for (std::size_t i = 0; i < o.n; ++i) items.emplace_back(keys[i], std::span<const float>(base.data() + i * o.dim, o.dim));
    Index parallel(vindex::VectorSchema{dim}, params);
    t0 = Clock::now();
    parallel.insert_batch(items, o.threads);
    const double vindex_parallel = seconds_since(t0);
    std::printf("vindex, %u threads %*s %10.2f\n", o.threads, 17 - (o.threads > 9), "", vindex_parallel);
#if defined(VINDEX_HAVE_HNSWLIB)
    if (o.hnswlib) {
      // hnswlib's own parallel build pattern: threads taking the next point from a shared counter.
      hnswlib::HierarchicalNSW<float> peer_parallel(space.get(), o.n, o.m, o.ef_construction, 100);
      std::atomic<std::size_t> next{0};
      t0 = Clock::now();
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < o.threads; ++t)
        pool.emplace_back([&] {
          for (std::size_t i; (i = next.fetch_add(1)) < o.n;) peer_parallel.addPoint(base.data() + i * o.dim, i);
        });
      for (auto& t : pool) t.join();
      const double peer_parallel_build = seconds_since(t0);
      std::printf("hnswlib, %u threads %*s %10.2f\n", o.threads, 16 - (o.threads > 9), "", peer_parallel_build);
      std::printf("build time ratio vindex/hnswlib (%u threads): %.2f\n", o.threads,
                  vindex_parallel / peer_parallel_build);
    }
#endif
  }
#if defined(VINDEX_HAVE_HNSWLIB)
  if (o.hnswlib) std::printf("build time ratio vindex/hnswlib (1 thread): %.2f\n", vindex_build / peer_build);
#endif

  if (o.build_only) return 0;

  // ef sweep, alternating timed passes.
  const std::vector<std::size_t> efs = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  std::vector<Point> ours, theirs;
  std::printf("\n%6s | %10s %12s | %10s %12s | %8s\n", "ef", "vindex R@10", "q/s", "hnswlib R@10", "q/s", "ratio");
  for (std::size_t ef : efs) {
    Point a, b;
    double best_a = 1e30, best_b = 1e30;
    for (unsigned rep = 0; rep < o.reps; ++rep) {
      {
        std::size_t hit = 0;
        const auto s0 = Clock::now();
        for (std::size_t q = 0; q < o.queries; ++q) {
          const auto r = index->search({queries.data() + q * o.dim, o.dim}, 10, {.ef = ef});
          for (const auto& h : r) hit += std::count(truth[q].begin(), truth[q].end(), std::size_t{h.id});  // id i is key i
        }
        best_a = std::min(best_a, seconds_since(s0));
        a.recall = double(hit) / double(o.queries * 10);
      }
#if defined(VINDEX_HAVE_HNSWLIB)
      if (o.hnswlib) {
        peer->setEf(ef);
        std::size_t hit = 0;
        const auto s0 = Clock::now();
        for (std::size_t q = 0; q < o.queries; ++q) {
          auto r = peer->searchKnn(queries.data() + q * o.dim, 10);
          for (; !r.empty(); r.pop()) hit += std::count(truth[q].begin(), truth[q].end(), r.top().second);
        }
        best_b = std::min(best_b, seconds_since(s0));
        b.recall = double(hit) / double(o.queries * 10);
      }
#endif
    }
    a.qps = double(o.queries) / best_a;
    b.qps = o.hnswlib ? double(o.queries) / best_b : 0;
    ours.push_back(a);
    theirs.push_back(b);
    std::printf("%6zu | %10.4f %12.0f | %10.4f %12.0f | %8.2f\n", ef, a.recall, a.qps, b.recall, b.qps,
                o.hnswlib ? a.qps / b.qps : 0.0);
  }
  if (o.hnswlib) {
    std::printf("\nq/s ratio vindex/hnswlib at equal recall@10 (interpolated):\n");
    for (double target : {0.90, 0.95, 0.99}) {
      const double qa = qps_at(ours, target), qb = qps_at(theirs, target);
      if (qa > 0 && qb > 0)
        std::printf("  recall %.2f: vindex %8.0f q/s, hnswlib %8.0f q/s, ratio %.2f\n", target, qa, qb, qa / qb);
      else
        std::printf("  recall %.2f: not reached by the sweep\n", target);
    }
  }
  return 0;
}
