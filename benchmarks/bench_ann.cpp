// bench_ann — approximate search side by side: vindex HnswIndex, hnswlib and FAISS IndexHNSWFlat on
// the same data, same M / EF_CONSTRUCTION, timed passes alternated between libraries.
//
// Prints build time (1 thread and --threads), heap bytes per vector (measured the same way for every
// library: in-use heap before/after the build), recall@10, single-thread queries/s and p50/p99 latency
// over an ef sweep, then the queries/s ratios at recall 0.90/0.95/0.99 interpolated on each curve.
// Writes <out>/<dataset>.csv and a gnuplot script for the recall–queries/s plot.
//
// Usage: bench_ann [--dataset=siftsmall|clustered|fashion-mnist|glove-100] [--m=16] [--efc=200]
//                  [--threads=2] [--queries=0 (all)] [--n=100000 (clustered)] [--parallel=1]
//                  [--out=bench-results]
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ann_data.hpp"
#include "bench_util.hpp"
#include "vindex/vindex.hpp"

#ifdef VINDEX_BENCH_HAVE_HNSWLIB
#include <hnswlib/hnswlib.h>
#endif
#ifdef VINDEX_BENCH_HAVE_FAISS
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif

using namespace vindex_bench;

namespace {

std::size_t heap_in_use() { return mallinfo2().uordblks + mallinfo2().hblkhd; }

/// One library under test.
class Library {
 public:
  virtual ~Library() = default;
  virtual std::string name() const = 0;
  virtual void build(const Dataset& d, unsigned threads) = 0;
  /// Frees the built index.
  virtual void reset() = 0;
  virtual void set_ef(std::size_t ef) = 0;
  /// Writes the k nearest base positions of `q` into `out`.
  virtual void search(const float* q, std::size_t k, std::int32_t* out) = 0;
  virtual std::size_t reported_bytes() const { return 0; }
};

std::vector<float> normalized(const std::vector<float>& v, std::size_t dim) {
  std::vector<float> out = v;
  for (std::size_t i = 0; i < out.size(); i += dim) vindex::metric::normalize(std::span<float>(out.data() + i, dim));
  return out;
}

template <class MetricT>
class VindexHnsw : public Library {
 public:
  VindexHnsw(std::size_t m, std::size_t efc) : m_(m), efc_(efc) {}
  std::string name() const override { return "vindex"; }
  void build(const Dataset& d, unsigned threads) override {
    index_ = std::make_unique<Index>(
        vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
        vindex::HnswParams{.m = m_, .ef_construction = efc_});
    dim_ = d.dim;
    if (threads <= 1) {
      for (std::size_t i = 0; i < d.n; ++i)
        index_->upsert(std::to_string(i), std::span<const float>(d.base.data() + i * d.dim, d.dim));
    } else {
      std::vector<std::string> keys(d.n);
      std::vector<std::pair<vindex::KeyView, std::span<const float>>> items(d.n);
      for (std::size_t i = 0; i < d.n; ++i) {
        keys[i] = std::to_string(i);
        items[i] = {keys[i], std::span<const float>(d.base.data() + i * d.dim, d.dim)};
      }
      index_->insert_batch(items, threads);
    }
  }
  void reset() override { index_.reset(); }
  void set_ef(std::size_t ef) override { ef_ = ef; }
  void search(const float* q, std::size_t k, std::int32_t* out) override {
    const auto hits = index_->search(std::span<const float>(q, dim_), k, {.ef = ef_});
    for (std::size_t r = 0; r < k; ++r) out[r] = r < hits.size() ? std::stoi(hits[r].key) : -1;
  }
  std::size_t reported_bytes() const override { return index_->memory_bytes(); }

 private:
  using Index = vindex::HnswIndex<float, MetricT>;
  std::size_t m_, efc_, ef_ = 10, dim_ = 0;
  std::unique_ptr<Index> index_;
};

#ifdef VINDEX_BENCH_HAVE_HNSWLIB
class Hnswlib : public Library {
 public:
  Hnswlib(std::size_t m, std::size_t efc, bool ip) : m_(m), efc_(efc), ip_(ip) {}
  std::string name() const override { return "hnswlib"; }
  void build(const Dataset& d, unsigned threads) override {
    index_.reset();
    if (ip_) {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(d.dim);
      data_ = normalized(d.base, d.dim);  // COSINE = IP on unit vectors; timed, as vindex normalises on insert
    } else {
      space_ = std::make_unique<hnswlib::L2Space>(d.dim);
    }
    const std::vector<float>& base = ip_ ? data_ : d.base;
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), d.n, m_, efc_, 100);
    std::vector<std::thread> pool;
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next++) < d.n;) index_->addPoint(base.data() + i * d.dim, i);
    };
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    dim_ = d.dim;
  }
  void reset() override { index_.reset(); }
  void set_ef(std::size_t ef) override { index_->setEf(ef); }
  void search(const float* q, std::size_t k, std::int32_t* out) override {
    const float* query = q;
    if (ip_) {
      qbuf_.assign(q, q + dim_);
      vindex::metric::normalize(qbuf_);  // every library pays for query normalisation
      query = qbuf_.data();
    }
    auto result = index_->searchKnn(query, k);
    std::size_t r = result.size();
    for (std::size_t i = r; i < k; ++i) out[i] = -1;
    while (!result.empty()) {
      out[--r] = static_cast<std::int32_t>(result.top().second);
      result.pop();
    }
  }

 private:
  std::size_t m_, efc_;
  bool ip_;
  std::size_t dim_ = 0;
  std::vector<float> data_, qbuf_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};
#endif

#ifdef VINDEX_BENCH_HAVE_FAISS
class FaissHnsw : public Library {
 public:
  FaissHnsw(std::size_t m, std::size_t efc, bool ip) : m_(m), efc_(efc), ip_(ip) {}
  std::string name() const override { return "faiss"; }
  void build(const Dataset& d, unsigned threads) override {
    index_.reset();
    if (ip_) data_ = normalized(d.base, d.dim);
    const std::vector<float>& base = ip_ ? data_ : d.base;
    omp_set_num_threads(static_cast<int>(threads));
    index_ = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(d.dim), static_cast<int>(m_),
                                                    ip_ ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
    index_->hnsw.efConstruction = static_cast<int>(efc_);
    index_->add(static_cast<faiss::Index::idx_t>(d.n), base.data());
    omp_set_num_threads(1);
    dim_ = d.dim;
  }
  void reset() override { index_.reset(); }
  void set_ef(std::size_t ef) override { index_->hnsw.efSearch = static_cast<int>(ef); }
  void search(const float* q, std::size_t k, std::int32_t* out) override {
    const float* query = q;
    if (ip_) {
      qbuf_.assign(q, q + dim_);
      vindex::metric::normalize(qbuf_);
      query = qbuf_.data();
    }
    dist_.resize(k);
    labels_.resize(k);
    index_->search(1, query, static_cast<faiss::Index::idx_t>(k), dist_.data(), labels_.data());
    for (std::size_t r = 0; r < k; ++r) out[r] = static_cast<std::int32_t>(labels_[r]);
  }

 private:
  std::size_t m_, efc_;
  bool ip_;
  std::size_t dim_ = 0;
  std::vector<float> data_, qbuf_, dist_;
  std::vector<faiss::Index::idx_t> labels_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
};
#endif

struct Point {
  std::size_t ef;
  double recall, qps, p50_us, p99_us;
};

/// Queries/s at `recall` by linear interpolation on a curve sorted by ef; NaN when out of reach.
double qps_at(const std::vector<Point>& curve, double recall) {
  for (std::size_t i = 0; i < curve.size(); ++i) {
    if (curve[i].recall >= recall) {
      if (i == 0) return curve[0].qps;
      const Point &a = curve[i - 1], &b = curve[i];
      const double t = (recall - a.recall) / std::max(1e-12, b.recall - a.recall);
      return a.qps + t * (b.qps - a.qps);
    }
  }
  return std::nan("");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset = "siftsmall", out_dir = "bench-results";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--dataset=", 0) == 0) dataset = a.substr(10);
    if (a.rfind("--out=", 0) == 0) out_dir = a.substr(6);
  }
  const std::size_t m = option(argc, argv, "m", 16), efc = option(argc, argv, "efc", 200);
  const unsigned threads = static_cast<unsigned>(option(argc, argv, "threads", std::max(2u, std::thread::hardware_concurrency())));
  const bool parallel = option(argc, argv, "parallel", 1) != 0;
  const std::size_t k = 10;
#ifdef VINDEX_BENCH_HAVE_FAISS
  omp_set_num_threads(1);
#endif

  std::fprintf(stderr, "loading %s\n", dataset.c_str());
  Dataset d = load_dataset(dataset, option(argc, argv, "queries", 0), option(argc, argv, "n", 100000));
  const bool cosine = d.metric == vindex::Metric::kCosine;
  std::printf("## %s: %zu base × %zu-d, %zu queries, %s; M=%zu EF_CONSTRUCTION=%zu; kernels: %s\n\n", d.name.c_str(),
              d.n, d.dim, d.nq, std::string(vindex::to_string(d.metric)).c_str(), m, efc,
              std::string(vindex::simd_arch_name()).c_str());

  std::vector<std::unique_ptr<Library>> libs;
  switch (d.metric) {
    case vindex::Metric::kL2: libs.push_back(std::make_unique<VindexHnsw<vindex::metric::L2>>(m, efc)); break;
    case vindex::Metric::kIP: libs.push_back(std::make_unique<VindexHnsw<vindex::metric::InnerProduct>>(m, efc)); break;
    case vindex::Metric::kCosine: libs.push_back(std::make_unique<VindexHnsw<vindex::metric::Cosine>>(m, efc)); break;
  }
#ifdef VINDEX_BENCH_HAVE_HNSWLIB
  libs.push_back(std::make_unique<Hnswlib>(m, efc, cosine || d.metric == vindex::Metric::kIP));
#else
  std::printf("hnswlib not found at build time (apt-get install libhnswlib-dev): skipped\n");
#endif
#ifdef VINDEX_BENCH_HAVE_FAISS
  libs.push_back(std::make_unique<FaissHnsw>(m, efc, cosine || d.metric == vindex::Metric::kIP));
#else
  std::printf("FAISS not found at build time (apt-get install libfaiss-dev): skipped\n");
#endif

  // Builds: parallel first (then thrown away), single-threaded last so that index stays for search.
  std::vector<double> build_mt(libs.size(), std::nan("")), build_st(libs.size());
  std::vector<double> bytes_per_vector(libs.size());
  if (parallel && threads > 1)
    for (std::size_t l = 0; l < libs.size(); ++l) {
      const double t0 = now_s();
      libs[l]->build(d, threads);
      build_mt[l] = now_s() - t0;
      std::fprintf(stderr, "  %s: built with %u threads in %.2f s\n", libs[l]->name().c_str(), threads, build_mt[l]);
    }
  for (std::size_t l = 0; l < libs.size(); ++l) {
    libs[l]->reset();  // drop the parallel build first, so the heap measure sees one index
    const std::size_t before = heap_in_use();
    const double t0 = now_s();
    libs[l]->build(d, 1);
    build_st[l] = now_s() - t0;
    bytes_per_vector[l] = double(heap_in_use() - std::min(before, heap_in_use())) / d.n;
    std::fprintf(stderr, "  %s: built with 1 thread in %.2f s\n", libs[l]->name().c_str(), build_st[l]);
  }

  // Search sweep: for each ef, each library runs all queries once; libraries alternate within ef.
  const std::vector<std::size_t> efs = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  std::vector<std::vector<Point>> curves(libs.size());
  std::vector<std::int32_t> ids(k);
  std::vector<double> lat(d.nq);
  for (std::size_t ef : efs) {
    for (std::size_t l = 0; l < libs.size(); ++l) {
      libs[l]->set_ef(ef);
      std::size_t hits = 0;
      const double t0 = now_s();
      for (std::size_t q = 0; q < d.nq; ++q) {
        const double s0 = now_s();
        libs[l]->search(d.queries.data() + q * d.dim, k, ids.data());
        lat[q] = now_s() - s0;
        const std::int32_t* truth = d.truth.data() + q * d.truth_k;
        for (std::size_t r = 0; r < k; ++r)
          hits += std::find(truth, truth + k, ids[r]) != truth + k;
      }
      const double total = now_s() - t0;
      std::sort(lat.begin(), lat.end());
      curves[l].push_back({ef, double(hits) / (d.nq * k), d.nq / total, lat[d.nq / 2] * 1e6,
                           lat[std::min(d.nq - 1, d.nq * 99 / 100)] * 1e6});
    }
  }

  std::printf("| library | build 1 thread s | build %u threads s | heap bytes/vector | reported bytes/vector |\n|---|---|---|---|---|\n", threads);
  for (std::size_t l = 0; l < libs.size(); ++l)
    std::printf("| %s | %.2f | %.2f | %.0f | %s |\n", libs[l]->name().c_str(), build_st[l], build_mt[l],
                bytes_per_vector[l],
                libs[l]->reported_bytes() ? std::to_string(libs[l]->reported_bytes() / d.n).c_str() : "-");
  std::printf("\n| ef |");
  for (auto& lib : libs) std::printf(" %s recall@10 | q/s | p50 µs | p99 µs |", lib->name().c_str());
  std::printf("\n|---|");
  for (std::size_t l = 0; l < libs.size(); ++l) std::printf("---|---|---|---|");
  std::printf("\n");
  for (std::size_t e = 0; e < efs.size(); ++e) {
    std::printf("| %zu |", efs[e]);
    for (std::size_t l = 0; l < libs.size(); ++l) {
      const Point& p = curves[l][e];
      std::printf(" %.4f | %.0f | %.0f | %.0f |", p.recall, p.qps, p.p50_us, p.p99_us);
    }
    std::printf("\n");
  }
  std::printf("\n| recall@10 |");
  for (auto& lib : libs) std::printf(" %s q/s |", lib->name().c_str());
  for (std::size_t l = 1; l < libs.size(); ++l) std::printf(" vindex / %s |", libs[l]->name().c_str());
  std::printf("\n|---|");
  for (std::size_t l = 0; l < 2 * libs.size() - 1; ++l) std::printf("---|");
  std::printf("\n");
  for (double target : {0.90, 0.95, 0.99}) {
    std::printf("| %.2f |", target);
    for (std::size_t l = 0; l < libs.size(); ++l) std::printf(" %.0f |", qps_at(curves[l], target));
    for (std::size_t l = 1; l < libs.size(); ++l)
      std::printf(" %.2fx |", qps_at(curves[0], target) / qps_at(curves[l], target));
    std::printf("\n");
  }
#ifdef VINDEX_BENCH_HAVE_FAISS
  std::printf("\nFAISS here is Debian's libfaiss-dev, built for baseline x86-64: its distance loops are scalar, "
              "so it is not FAISS at its best.\n");
#endif

  std::filesystem::create_directories(out_dir);
  const std::string csv = out_dir + "/" + d.name + ".csv";
  std::ofstream f(csv);
  f << "library,ef,recall,qps,p50_us,p99_us\n";
  for (std::size_t l = 0; l < libs.size(); ++l)
    for (const Point& p : curves[l])
      f << libs[l]->name() << ',' << p.ef << ',' << p.recall << ',' << p.qps << ',' << p.p50_us << ',' << p.p99_us << '\n';
  std::ofstream g(out_dir + "/" + d.name + ".gnuplot");
  g << "set terminal pngcairo size 900,600\nset output '" << d.name << ".png'\n"
    << "set title 'recall@10 vs queries/s (1 thread): " << d.name << "'\nset xlabel 'recall@10'\n"
    << "set ylabel 'queries/s'\nset logscale y\nset key bottom left\nset datafile separator ','\nset grid\n"
    << "plot ";
  for (std::size_t l = 0; l < libs.size(); ++l)
    g << (l ? ", " : "") << "'" << d.name << ".csv' using (stringcolumn(1) eq '" << libs[l]->name()
      << "' ? $3 : 1/0):4 with linespoints title '" << libs[l]->name() << "'";
  g << "\n";
  std::printf("\ncurves: %s (plot: cd %s && gnuplot %s.gnuplot)\n", csv.c_str(), out_dir.c_str(), d.name.c_str());
  return 0;
}
