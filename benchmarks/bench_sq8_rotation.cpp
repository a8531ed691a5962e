// bench_sq8_rotation (issue 19) — does a rotation or a PCA before SQ8 improve recall at equal bits?
//
// vindex's SQ8 (vindex::ScalarQuantizer) gives every dimension its own 8-bit range. This program
// measures, on one real dataset, whether transforming the vectors before quantizing them makes the
// codes rank neighbours better, always at 8 bits per dimension with the same quantizer trained on
// the same sample of base rows (Sq8::sample_size of them, at evenly spread positions, as the library
// picks them). The methods:
//   none                 today's SQ8 on the vectors as stored (COSINE: normalised);
//   PCA                  centre on the mean, rotate onto the eigenvectors of the covariance (Eigen
//                        SelfAdjointEigenSolver on a dim × dim covariance of up to --pca-sample rows,
//                        in double), largest variance first; L2 queries are centred and rotated,
//                        IP/COSINE queries only rotated: q·R(x − μ) = q·x − q·μ, so the code distance
//                        gets the per-query constant q·μ back (a ranking never depends on it);
//   PCA, no centring     the same rotation without centring (SQ8's per-dimension ranges move with a
//                        shift, so this should match PCA up to rounding: a check, not a method);
//   random rotation      a random orthogonal matrix (Eigen HouseholderQR of a Gaussian matrix, fixed
//                        seed, column signs from R's diagonal so that it is uniformly distributed),
//                        no centring; --rotations=N rows with seeds seed, seed+1, ...
// Rotations are orthogonal, so exact distances do not change; the "transform Δd" column checks it on
// the float transformed vectors (largest relative change of a top-100 distance).
// For every query (at most --queries), by brute force over all base rows (decoded codes, in double):
//   recall@10 of the code ranking alone against the exact top 10, and after re-ranking the best
//   2·10 and 4·10 code candidates with exact float distances (the library's Sq8 re-ranking);
//   a retrieved row counts when its exact distance is at most the 10th exact distance (ties at
//   rank 10 agree); the exact top 10 comes from the dataset's top-100 truth, re-measured in double;
//   per query, whether its recall is higher or lower than with "none" (a paired comparison);
//   the relative error |d_code − d_exact| / d_exact over each query's 100 exact neighbours (mean
//   and 99th percentile; pairs at exact distance 0 are left out and counted);
//   the fraction of base elements clamped when encoding, and ‖step‖/2 (ScalarQuantizer::error_bound,
//   comparable across methods because rotations keep norms);
//   the transform's training time (Eigen), the time to transform every base row (one GEMM), and the
//   extra cost per query: one dim × dim float matrix-vector product (best of 5 passes).
// Distances: L2 = squared Euclidean; IP and COSINE = 1 − dot (COSINE on normalised vectors), as the
// library measures them. Prints one markdown table to stdout, progress to stderr; asserts nothing.
// Eigen is a dependency of this benchmark only (benchmarks/meson.build builds it when found).
//
// Usage: bench_sq8_rotation [--dataset=siftsmall|fashion-mnist|glove-100|clustered] [--queries=500]
//                           [--pca-sample=20000] [--seed=19] [--rotations=1]
//   siftsmall is read from $VINDEX_DATASETS/siftsmall (or ../shared/datasets); fashion-mnist and
//   glove-100 from the cache benchmarks/fetch_datasets.sh fills (~/.cache/vindex/datasets).
// Results: docs/benchmarks/sq8-rotation.md.

// GCC 12 false positive: -Wmaybe-uninitialized on the deliberately undefined registers of the
// AVX-512 intrinsics Eigen inlines (the "__Y = __Y" of _mm256_undefined_pd; GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Dense>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ann_data.hpp"
#include "bench_util.hpp"
#include "vindex/vindex.hpp"

using namespace vindex_bench;

namespace {

using Index = Eigen::Index;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr std::size_t kK = 10;             // recall@10
constexpr std::size_t kRerank[] = {2, 4};  // re-ranking factors measured
constexpr std::size_t kCandidates = 4 * kK;

/// The dataset as measured: base and query rows (COSINE: normalised), top-100 truth.
struct Data {
  std::string name;
  vindex::Metric metric = vindex::Metric::kL2;
  bool l2 = true;
  Index n = 0, dim = 0, nq = 0;
  MatF base, queries;
  std::vector<std::int32_t> truth;
  std::size_t truth_k = 0;
};

/// Positions of `count` of `n` rows spread evenly, as vindex::detail::training_sample picks an SQ8
/// sample: row i is taken when i·count/n steps up.
std::vector<Index> spread(std::size_t n, std::size_t count) {
  std::vector<Index> rows;
  rows.reserve(count);
  for (std::size_t i = 0; i < n && rows.size() < count; ++i)
    if ((i * count) / n != ((i + 1) * count) / n) rows.push_back(static_cast<Index>(i));
  return rows;
}

/// Exact distance between two float vectors, in double: squared L2, or 1 − dot.
double exact_distance(const float* q, const float* x, Index dim, bool l2) {
  double s = 0;
  if (l2) {
    for (Index i = 0; i < dim; ++i) {
      const double d = static_cast<double>(q[i]) - x[i];
      s += d * d;
    }
    return s;
  }
  for (Index i = 0; i < dim; ++i) s += static_cast<double>(q[i]) * x[i];
  return 1.0 - s;
}

/// A transform applied before SQ8: y = R·(x − mean). An empty R is the identity; an empty mean
/// means no centring. `centre_queries`: queries are centred too (L2); otherwise (IP/COSINE) they are
/// only rotated and the code distance gets q·mean back.
struct Transform {
  std::string name;
  MatF rotation;              // dim × dim, its rows are the new axes
  Eigen::VectorXf mean;       // subtracted from base rows before rotating
  Eigen::VectorXf rotated_mean;  // rotation · mean
  bool centre_queries = false;
  double train_s = 0;

  bool identity() const { return rotation.size() == 0; }
  bool centred() const { return mean.size() != 0; }

  /// Rows of `x` transformed; `centre`: subtract the mean too.
  MatF apply(const MatF& x, bool centre) const {
    if (identity()) return x;
    MatF y = x * rotation.transpose();
    if (centre && centred()) y.rowwise() -= rotated_mean.transpose();
    return y;
  }
};

/// PCA rotation from the covariance of the base rows `rows` (in double), largest variance first;
/// `eigenvalues` receives the variances in that order.
Transform pca(const Data& d, const std::vector<Index>& rows, std::vector<double>& eigenvalues) {
  Transform t;
  t.name = "PCA";
  const double t0 = now_s();
  MatD s(static_cast<Index>(rows.size()), d.dim);
  for (Index r = 0; r < s.rows(); ++r) s.row(r) = d.base.row(rows[static_cast<std::size_t>(r)]).cast<double>();
  const Eigen::VectorXd mean = s.colwise().mean().transpose();
  s.rowwise() -= mean.transpose();
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d.dim, d.dim);
  cov.selfadjointView<Eigen::Lower>().rankUpdate(s.transpose(), 1.0 / static_cast<double>(std::max<Index>(1, s.rows() - 1)));
  cov.triangularView<Eigen::StrictlyUpper>() = cov.transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov);
  if (solver.info() != Eigen::Success) throw std::runtime_error("SelfAdjointEigenSolver did not converge");
  // Eigenvalues come in ascending order: reverse them.
  t.rotation.resize(d.dim, d.dim);
  eigenvalues.assign(static_cast<std::size_t>(d.dim), 0.0);
  for (Index r = 0; r < d.dim; ++r) {
    t.rotation.row(r) = solver.eigenvectors().col(d.dim - 1 - r).transpose().cast<float>();
    eigenvalues[static_cast<std::size_t>(r)] = solver.eigenvalues()(d.dim - 1 - r);
  }
  t.mean = mean.cast<float>();
  t.rotated_mean = t.rotation * t.mean;
  t.centre_queries = d.l2;
  t.train_s = now_s() - t0;
  return t;
}

/// A random orthogonal dim × dim matrix: Q of a Gaussian matrix's QR, its columns' signs set by R's
/// diagonal (Haar-distributed). Deterministic for a seed (with this standard library).
Transform random_rotation(Index dim, unsigned seed) {
  Transform t;
  t.name = "random rotation (seed " + std::to_string(seed) + ")";
  const double t0 = now_s();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  Eigen::MatrixXd g(dim, dim);
  for (Index j = 0; j < dim; ++j)
    for (Index i = 0; i < dim; ++i) g(i, j) = gauss(rng);
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(dim, dim);
  const Eigen::MatrixXd& r = qr.matrixQR();
  for (Index j = 0; j < dim; ++j)
    if (r(j, j) < 0) q.col(j) = -q.col(j);
  t.rotation = q.transpose().cast<float>();
  t.train_s = now_s() - t0;
  return t;
}

/// Largest |R·Rᵀ − I| element: how far a (float) rotation is from orthogonal.
double orthogonality_error(const Transform& t) {
  if (t.identity()) return 0;
  const Eigen::MatrixXd r = t.rotation.cast<double>();
  return (r * r.transpose() - Eigen::MatrixXd::Identity(r.rows(), r.rows())).cwiseAbs().maxCoeff();
}

/// Exact distances (double, original vectors) from each query to its 100 true neighbours, and the
/// 10th smallest of them per query (the bar a retrieved row must meet to count as a hit).
struct Exact {
  std::vector<double> truth_distance;  // nq × truth_k
  std::vector<double> bar;             // nq
};

Exact exact_truth(const Data& d) {
  Exact e;
  e.truth_distance.resize(static_cast<std::size_t>(d.nq) * d.truth_k);
  e.bar.resize(static_cast<std::size_t>(d.nq));
  std::vector<double> sorted;
  for (Index q = 0; q < d.nq; ++q) {
    sorted.clear();
    for (std::size_t r = 0; r < d.truth_k; ++r) {
      const std::int32_t id = d.truth[static_cast<std::size_t>(q) * d.truth_k + r];
      const double dist = id < 0 ? std::numeric_limits<double>::infinity()
                                 : exact_distance(d.queries.row(q).data(), d.base.row(id).data(), d.dim, d.l2);
      e.truth_distance[static_cast<std::size_t>(q) * d.truth_k + r] = dist;
      sorted.push_back(dist);
    }
    std::sort(sorted.begin(), sorted.end());
    const double tenth = sorted[kK - 1];
    // Tolerance for ties computed in a different order (integer data is exact anyway).
    e.bar[static_cast<std::size_t>(q)] = tenth + 1e-9 * std::max(1.0, std::abs(tenth));
  }
  return e;
}

/// Figures for one method.
struct Result {
  std::string name;
  double recall_codes = 0, recall_rerank[std::size(kRerank)] = {};
  double err_mean = 0, err_p99 = 0;
  std::size_t zero_pairs = 0;
  double clamped = 0, half_step_norm = 0;
  double train_s = 0, base_s = 0, query_us = 0;
  double transform_delta = 0, orthogonality = 0;
  bool identity = true;
  std::vector<std::uint8_t> hits_codes, hits_rerank2;  // per query, for the paired comparison
};

/// Paired comparison with the first method: queries whose hit count is higher / lower, "+a / −b".
std::string paired(const std::vector<std::uint8_t>& mine, const std::vector<std::uint8_t>& base) {
  std::size_t better = 0, worse = 0;
  for (std::size_t q = 0; q < mine.size() && q < base.size(); ++q) {
    better += mine[q] > base[q];
    worse += mine[q] < base[q];
  }
  return "+" + std::to_string(better) + " / −" + std::to_string(worse);
}

/// Extra per-query cost of the transform: one float dim × dim matrix-vector product (and a centring
/// subtraction), µs per query, best of 5 passes over the queries.
double per_query_us(const Transform& t, const Data& d) {
  if (t.identity()) return 0;
  Eigen::VectorXf y(d.dim);
  double best = std::numeric_limits<double>::infinity();
  float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const double t0 = now_s();
    for (Index q = 0; q < d.nq; ++q) {
      y.noalias() = t.rotation * d.queries.row(q).transpose();
      if (t.centre_queries && t.centred()) y -= t.rotated_mean;
      sink += y[q % d.dim];
    }
    best = std::min(best, now_s() - t0);
  }
  volatile float keep = sink;
  (void)keep;
  return best / static_cast<double>(d.nq) * 1e6;
}

/// Quantizes the transformed base with SQ8 (trained on `sq_rows`) and measures `t`; see the header.
Result evaluate(const Data& d, const Transform& t, const Exact& exact, const std::vector<Index>& sq_rows) {
  Result res;
  res.name = t.name;
  res.identity = t.identity();
  res.train_s = t.train_s;
  res.orthogonality = orthogonality_error(t);
  const std::size_t n = static_cast<std::size_t>(d.n), dim = static_cast<std::size_t>(d.dim);

  double t0 = now_s();
  const MatF y = t.apply(d.base, true);
  res.base_s = t.identity() ? 0 : now_s() - t0;

  // SQ8 trained on the transformed sample rows, then every base row encoded and decoded.
  std::vector<float> sample(sq_rows.size() * dim);
  for (std::size_t r = 0; r < sq_rows.size(); ++r)
    std::copy_n(y.row(sq_rows[r]).data(), dim, sample.data() + r * dim);
  vindex::ScalarQuantizer sq;
  sq.train(sample, sq_rows.size(), dim);
  res.half_step_norm = sq.error_bound();
  MatD decoded(d.n, d.dim);
  std::vector<std::uint8_t> code(dim);
  std::vector<float> value(dim);
  std::size_t clamped = 0;
  for (Index i = 0; i < d.n; ++i) {
    clamped += sq.encode(y.row(i).data(), code.data());
    sq.decode(code.data(), value.data());
    for (Index j = 0; j < d.dim; ++j) decoded(i, j) = value[static_cast<std::size_t>(j)];
  }
  res.clamped = static_cast<double>(clamped) / static_cast<double>(n * dim);
  const Eigen::VectorXd decoded_norm = decoded.rowwise().squaredNorm();

  // Transformed queries; IP/COSINE with a centred base: the constant q·mean the code distance lacks.
  const MatF p = t.apply(d.queries, t.centre_queries);
  const MatD pd = p.cast<double>();
  const Eigen::VectorXd p_norm = pd.rowwise().squaredNorm();
  Eigen::VectorXd shift = Eigen::VectorXd::Zero(d.nq);
  if (!d.l2 && t.centred()) shift = d.queries.cast<double>() * t.mean.cast<double>();

  // Check: distances between the float transformed vectors equal the exact ones.
  for (Index q = 0; q < d.nq; ++q)
    for (std::size_t r = 0; r < d.truth_k; ++r) {
      const std::int32_t id = d.truth[static_cast<std::size_t>(q) * d.truth_k + r];
      const double e = exact.truth_distance[static_cast<std::size_t>(q) * d.truth_k + r];
      if (id < 0 || e == 0) continue;
      const double tr = exact_distance(p.row(q).data(), y.row(id).data(), d.dim, d.l2) - shift(q);
      res.transform_delta = std::max(res.transform_delta, std::abs(tr - e) / std::abs(e));
    }

  // Code distances to every base row, a block of queries at a time (one GEMM in double).
  const Index block = std::max<Index>(1, std::min<Index>(d.nq, Index{8'000'000} / d.n));
  std::size_t hits_codes = 0, hits_rerank[std::size(kRerank)] = {};
  std::vector<double> errors;
  errors.reserve(static_cast<std::size_t>(d.nq) * d.truth_k);
  std::vector<Index> order(n);
  std::vector<std::pair<double, Index>> rerank;
  for (Index q0 = 0; q0 < d.nq; q0 += block) {
    const Index b = std::min(block, d.nq - q0);
    MatD g = pd.middleRows(q0, b) * decoded.transpose();
    for (Index i = 0; i < b; ++i) {
      const Index q = q0 + i;
      double* dist = g.row(i).data();
      for (Index j = 0; j < d.n; ++j)
        dist[j] = d.l2 ? p_norm(q) - 2 * dist[j] + decoded_norm(j) : 1.0 - dist[j] - shift(q);
      // Relative error of the code distance over the exact top 100.
      for (std::size_t r = 0; r < d.truth_k; ++r) {
        const std::int32_t id = d.truth[static_cast<std::size_t>(q) * d.truth_k + r];
        const double e = exact.truth_distance[static_cast<std::size_t>(q) * d.truth_k + r];
        if (id < 0) continue;
        if (e == 0) {
          ++res.zero_pairs;
          continue;
        }
        errors.push_back(std::abs(dist[id] - e) / std::abs(e));
      }
      // The best 4·k rows by code distance (ties by position).
      std::iota(order.begin(), order.end(), Index{0});
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kCandidates), order.end(),
                        [&](Index a, Index c) { return dist[a] < dist[c] || (dist[a] == dist[c] && a < c); });
      const double bar = exact.bar[static_cast<std::size_t>(q)];
      const float* query = d.queries.row(q).data();
      auto exact_of = [&](Index id) { return exact_distance(query, d.base.row(id).data(), d.dim, d.l2); };
      std::uint8_t hits = 0;
      for (std::size_t r = 0; r < kK; ++r) hits += exact_of(order[r]) <= bar;
      hits_codes += hits;
      res.hits_codes.push_back(hits);
      for (std::size_t f = 0; f < std::size(kRerank); ++f) {
        rerank.clear();
        for (std::size_t r = 0; r < kRerank[f] * kK; ++r) rerank.emplace_back(exact_of(order[r]), order[r]);
        std::sort(rerank.begin(), rerank.end());
        hits = 0;
        for (std::size_t r = 0; r < kK; ++r) hits += rerank[r].first <= bar;
        hits_rerank[f] += hits;
        if (f == 0) res.hits_rerank2.push_back(hits);
      }
    }
    std::fprintf(stderr, "\r  %s: %ld / %ld queries", t.name.c_str(), static_cast<long>(q0 + b),
                 static_cast<long>(d.nq));
  }
  std::fprintf(stderr, "\n");
  const double total = static_cast<double>(d.nq) * kK;
  res.recall_codes = static_cast<double>(hits_codes) / total;
  for (std::size_t f = 0; f < std::size(kRerank); ++f) res.recall_rerank[f] = static_cast<double>(hits_rerank[f]) / total;
  if (!errors.empty()) {
    res.err_mean = std::accumulate(errors.begin(), errors.end(), 0.0) / static_cast<double>(errors.size());
    const std::size_t at = std::min(errors.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(errors.size())));
    std::nth_element(errors.begin(), errors.begin() + static_cast<std::ptrdiff_t>(at), errors.end());
    res.err_p99 = errors[at];
  }
  res.query_us = per_query_us(t, d);
  return res;
}

/// Share of the total variance held by the first `count` components.
double variance_share(const std::vector<double>& eigenvalues, std::size_t count) {
  const double total = std::accumulate(eigenvalues.begin(), eigenvalues.end(), 0.0);
  const double top = std::accumulate(eigenvalues.begin(), eigenvalues.begin() + static_cast<std::ptrdiff_t>(count), 0.0);
  return total > 0 ? top / total : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset = "siftsmall";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--dataset=", 0) == 0) dataset = a.substr(10);
  }
  const std::size_t max_queries = static_cast<std::size_t>(std::max(1L, option(argc, argv, "queries", 500)));
  const std::size_t pca_cap = static_cast<std::size_t>(std::max(2L, option(argc, argv, "pca-sample", 20000)));
  const unsigned seed = static_cast<unsigned>(option(argc, argv, "seed", 19));
  const long rotations = std::max(0L, option(argc, argv, "rotations", 1));
  const double load_start = load_average();

  Data d;
  try {
    Dataset raw = load_dataset(dataset, max_queries);
    d.name = raw.name;
    d.metric = raw.metric;
    d.l2 = raw.metric == vindex::Metric::kL2;
    d.n = static_cast<Index>(raw.n), d.dim = static_cast<Index>(raw.dim), d.nq = static_cast<Index>(raw.nq);
    if (raw.metric == vindex::Metric::kCosine) {  // COSINE stores and compares normalised vectors
      raw.base = normalized(raw.base, raw.dim);
      raw.queries = normalized(raw.queries, raw.dim);
    }
    d.base = Eigen::Map<const MatF>(raw.base.data(), d.n, d.dim);
    d.queries = Eigen::Map<const MatF>(raw.queries.data(), d.nq, d.dim);
    d.truth = std::move(raw.truth);
    d.truth_k = raw.truth_k;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sq8_rotation: %s\n", e.what());
    return 2;
  }
  if (d.truth_k < kK || d.n < static_cast<Index>(kCandidates)) {
    std::fprintf(stderr, "bench_sq8_rotation: dataset too small\n");
    return 2;
  }
  const std::size_t n = static_cast<std::size_t>(d.n), dim = static_cast<std::size_t>(d.dim);
  const std::vector<Index> sq_rows = spread(n, vindex::Sq8::sample_size(n, dim));
  const std::vector<Index> pca_rows = spread(n, std::min(n, pca_cap));
  const Exact exact = exact_truth(d);

  std::vector<double> eigenvalues;
  std::vector<Transform> transforms;
  Transform none;
  none.name = "none";
  transforms.push_back(none);
  transforms.push_back(pca(d, pca_rows, eigenvalues));
  Transform uncentred = transforms.back();
  uncentred.name = "PCA, no centring";
  uncentred.mean.resize(0);
  uncentred.rotated_mean.resize(0);
  uncentred.centre_queries = false;
  transforms.push_back(uncentred);
  for (long r = 0; r < rotations; ++r) transforms.push_back(random_rotation(d.dim, seed + static_cast<unsigned>(r)));

  std::vector<Result> results;
  for (const Transform& t : transforms) results.push_back(evaluate(d, t, exact, sq_rows));

  std::printf("## %s: SQ8 with and without a rotation before quantizing (issue 19)\n\n", d.name.c_str());
  std::printf("%s · 1 thread · load average %.2f at start, %.2f at end · `bench_sq8_rotation --dataset=%s "
              "--queries=%zu --pca-sample=%zu --seed=%u --rotations=%ld`\n\n",
              cpu_model().c_str(), load_start, load_average(), d.name.c_str(), max_queries, pca_cap, seed,
              rotations);
  std::printf("%ld base × %ld-d, %ld queries, %s%s; SQ8 (8 bits per dimension) trained on %zu evenly spread "
              "base rows (Sq8::sample_size) for every method; PCA covariance from %zu evenly spread rows, in "
              "double.\n\n",
              static_cast<long>(d.n), static_cast<long>(d.dim), static_cast<long>(d.nq),
              std::string(vindex::to_string(d.metric)).c_str(),
              d.metric == vindex::Metric::kCosine ? " (vectors normalised)" : "", sq_rows.size(), pca_rows.size());
  std::printf("PCA: the first %zu components (10 %%) hold %.1f %% of the variance, the first %zu (50 %%) "
              "%.1f %%; largest / median component variance %.3g.\n\n",
              dim / 10, 100 * variance_share(eigenvalues, dim / 10), dim / 2,
              100 * variance_share(eigenvalues, dim / 2),
              eigenvalues[dim / 2] > 0 ? eigenvalues[0] / eigenvalues[dim / 2] : 0.0);
  std::printf("| method | recall@10 codes | queries +better / −worse than none, codes | recall@10 re-rank ×2 | "
              "queries +better / −worse than none, ×2 | recall@10 re-rank ×4 | rel. error mean | rel. error p99 | "
              "clamped | ‖step‖/2 | transform training | transform of the base | extra per query | transform Δd "
              "(max rel) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Result& r : results) {
    const bool first = &r == &results.front();
    std::printf("| %s | %.4f | %s | %.4f | %s | %.4f | %.5f | %.5f | %.5f %% | %.4g |", r.name.c_str(),
                r.recall_codes, first ? "–" : paired(r.hits_codes, results.front().hits_codes).c_str(),
                r.recall_rerank[0], first ? "–" : paired(r.hits_rerank2, results.front().hits_rerank2).c_str(),
                r.recall_rerank[1], r.err_mean, r.err_p99, 100 * r.clamped, r.half_step_norm);
    if (r.identity)
      std::printf(" – | – | – | – |\n");
    else
      std::printf(" %.3f s | %.3f s | %.2f µs | %.1e |\n", r.train_s, r.base_s, r.query_us, r.transform_delta);
  }
  std::printf("\nRecall: a retrieved row counts when its exact distance is at most the 10th exact distance "
              "(ties at rank 10 agree); +better / −worse: queries whose own recall@10 is higher / lower than with "
              "none (the rest are equal). Relative error |d_code − d_exact| / d_exact over each query's 100 exact "
              "neighbours%s. Re-rank ×f: the best f·10 rows by code distance re-measured exactly. Transform "
              "training: PCA = mean + covariance + SelfAdjointEigenSolver; random = Gaussian matrix + "
              "HouseholderQR + forming Q. Largest |R·Rᵀ − I| element (float):",
              results.empty() || results[0].zero_pairs == 0
                  ? ""
                  : (" (" + std::to_string(results[0].zero_pairs) + " pairs at exact distance 0 left out)").c_str());
  const char* separator = " ";
  for (const Result& r : results)
    if (!r.identity) {
      std::printf("%s%s %.1e", separator, r.name.c_str(), r.orthogonality);
      separator = "; ";
    }
  std::printf(".\n");
  return 0;
}
