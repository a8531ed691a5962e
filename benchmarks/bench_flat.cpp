// bench_flat — exact (FLAT) search throughput: vindex FlatIndex vs FAISS IndexFlatL2, next to the
// machine's own limits measured by this program (single-thread read bandwidth, FP32 FMA peak); and
// vindex FlatIndex storing FLOAT16 and BFLOAT16 elements on the same data (narrowed), timed in the
// same alternating passes.
//
// Usage: bench_flat [--n=100000] [--dim=128] [--queries=1000] [--single=300] [--k=10]
// Everything runs single-threaded (FAISS's OpenMP and BLAS threads are set to 1).
#include <cstdio>
#include <unistd.h>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "vindex/vindex.hpp"

#ifdef VINDEX_BENCH_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/utils/distances.h>
#include <omp.h>
#endif

using namespace vindex_bench;

int main(int argc, char** argv) {
  const std::size_t n = option(argc, argv, "n", 100000);
  const std::size_t dim = option(argc, argv, "dim", 128);
  const std::size_t nq = option(argc, argv, "queries", 1000);
  const std::size_t single = std::min<std::size_t>(option(argc, argv, "single", 300), nq);
  const std::size_t k = option(argc, argv, "k", 10);
#ifdef VINDEX_BENCH_HAVE_FAISS
  omp_set_num_threads(1);
#endif

  std::printf("bench_flat: n=%zu dim=%zu queries=%zu (single-query passes: %zu) k=%zu, 1 thread, kernels: %s\n",
              n, dim, nq, single, k, std::string(vindex::simd_arch_name()).c_str());
  const double bandwidth = measure_read_bandwidth_gbs();
  const double peak = measure_fma_peak_gflops();
  const double scan_mb = double(n) * dim * 4 / 1e6;
  std::printf("machine: read bandwidth %.1f GB/s (1 GiB array) -> single-query floor %.2f ms (%.0f q/s); "
              "FMA peak %.1f GFLOP/s -> %zu batched queries floor %.3f s\n\n",
              bandwidth, scan_mb / 1e3 / bandwidth * 1e3, bandwidth * 1e3 / scan_mb, peak, nq,
              2.0 * nq * n * dim / (peak * 1e9));

  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);  // as the CPU (or hypervisor) reports it
  const std::size_t l3_bytes = l3 > 0 ? static_cast<std::size_t>(l3) : 0;
  if (l3_bytes && scan_mb * 1e6 <= double(l3_bytes))
    std::printf("note: the %.0f MB scanned fits in this CPU's %.0f MB L3 cache (as reported), so a single-query scan can beat the "
                "DRAM bandwidth above\n\n", scan_mb, l3_bytes / 1e6);
  const std::vector<float> base = clustered(n, dim, 100, 1);
  const std::vector<float> queries = clustered(nq, dim, 100, 2);

  vindex::FlatIndex<float, vindex::metric::L2> index(vindex::VectorSchema{static_cast<std::uint32_t>(dim)});
  double t0 = now_s();
  for (std::size_t i = 0; i < n; ++i)
    index.upsert(std::to_string(i), std::span<const float>(base.data() + i * dim, dim));
  const double vindex_build = now_s() - t0;
  // The same data in 16-bit elements (each value rounded to the type).
  const vindex::VectorSchema schema16{static_cast<std::uint32_t>(dim), vindex::ElementType::kFloat16,
                                      vindex::Metric::kL2};
  const vindex::VectorSchema schema_bf16{static_cast<std::uint32_t>(dim), vindex::ElementType::kBFloat16,
                                         vindex::Metric::kL2};
  vindex::FlatIndex<vindex::Float16, vindex::metric::L2> index16(schema16);
  vindex::FlatIndex<vindex::BFloat16, vindex::metric::L2> index_bf16(schema_bf16);
  double build16[2];
  t0 = now_s();
  for (std::size_t i = 0; i < n; ++i)
    index16.upsert(std::to_string(i), std::span<const float>(base.data() + i * dim, dim));
  build16[0] = now_s() - t0;
  t0 = now_s();
  for (std::size_t i = 0; i < n; ++i)
    index_bf16.upsert(std::to_string(i), std::span<const float>(base.data() + i * dim, dim));
  build16[1] = now_s() - t0;

#ifdef VINDEX_BENCH_HAVE_FAISS
  faiss::IndexFlatL2 faiss_index(static_cast<faiss::Index::idx_t>(dim));
  t0 = now_s();
  faiss_index.add(static_cast<faiss::Index::idx_t>(n), base.data());
  const double faiss_build = now_s() - t0;
  std::vector<float> fd(nq * k);
  std::vector<faiss::Index::idx_t> fl(nq * k);
#endif

  // Alternate the libraries' timed passes so machine noise hits both alike; keep the best pass.
  double v_single = 1e9, v_batch = 1e9, f_single = 1e9, f_batch = 1e9;
  double h_single[2] = {1e9, 1e9}, h_batch[2] = {1e9, 1e9};
  auto time16 = [&](const auto& idx, double& single_s, double& batch_s) {
    double start = now_s();
    std::size_t got = 0;
    for (std::size_t q = 0; q < single; ++q)
      got += idx.search(std::span<const float>(queries.data() + q * dim, dim), k).size();
    single_s = std::min(single_s, (now_s() - start) / single);
    start = now_s();
    got += idx.search_batch(queries, k).size();
    batch_s = std::min(batch_s, now_s() - start);
    if (got != single * k + nq) std::printf("unexpected result count\n");
  };
  [[maybe_unused]] std::size_t agree = 0, compared = 0;
  for (int pass = 0; pass < 3; ++pass) {
    t0 = now_s();
    std::size_t sink = 0;
    for (std::size_t q = 0; q < single; ++q)
      sink += index.search(std::span<const float>(queries.data() + q * dim, dim), k).size();
    v_single = std::min(v_single, (now_s() - t0) / single);
    t0 = now_s();
    const auto batch = index.search_batch(queries, k);
    v_batch = std::min(v_batch, now_s() - t0);
    if (sink != single * k) std::printf("unexpected result count\n");
    time16(index16, h_single[0], h_batch[0]);
    time16(index_bf16, h_single[1], h_batch[1]);
#ifdef VINDEX_BENCH_HAVE_FAISS
    t0 = now_s();
    for (std::size_t q = 0; q < single; ++q)
      faiss_index.search(1, queries.data() + q * dim, static_cast<faiss::Index::idx_t>(k), fd.data() + q * k, fl.data() + q * k);
    f_single = std::min(f_single, (now_s() - t0) / single);
    t0 = now_s();
    faiss_index.search(static_cast<faiss::Index::idx_t>(nq), queries.data(), static_cast<faiss::Index::idx_t>(k), fd.data(), fl.data());
    f_batch = std::min(f_batch, now_s() - t0);
    if (pass == 0)
      for (std::size_t q = 0; q < nq; ++q)
        for (std::size_t r = 0; r < k; ++r, ++compared)
          agree += batch[q][r].key == std::to_string(fl[q * k + r]);
#endif
  }

  std::printf("| library | build s | single q/s | single GB/s | %% of bandwidth | batched q/s | batched GFLOP/s | %% of FMA peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  auto row = [&](const char* name, double build, double single_s, double batch_s, double element_bytes = 4) {
    const double gbs = scan_mb * element_bytes / 4 / 1e3 / single_s;
    const double gflops = 2.0 * nq * n * dim / batch_s / 1e9;
    std::printf("| %s | %.2f | %.0f | %.1f | %.0f %% | %.0f | %.1f | %.0f %% |\n", name, build, 1 / single_s, gbs,
                100 * gbs / bandwidth, nq / batch_s, gflops, 100 * gflops / peak);
  };
  row("vindex FlatIndex", vindex_build, v_single, v_batch);
  row("vindex FlatIndex, FLOAT16", build16[0], h_single[0], h_batch[0], 2);
  row("vindex FlatIndex, BFLOAT16", build16[1], h_single[1], h_batch[1], 2);
  std::printf("\nvindex 16-bit against FLOAT32 (index memory, keys included: %.2f and %.2f of it): single %.2fx and %.2fx, "
              "batched %.2fx and %.2fx (16-bit kernels: %s)\n",
              double(index16.memory_bytes()) / double(index.memory_bytes()),
              double(index_bf16.memory_bytes()) / double(index.memory_bytes()), v_single / h_single[0],
              v_single / h_single[1], v_batch / h_batch[0], v_batch / h_batch[1],
              std::string(vindex::half_kernels_name()).c_str());
#ifdef VINDEX_BENCH_HAVE_FAISS
  row("FAISS IndexFlatL2 (Debian: baseline x86-64 build, BLAS for batches)", faiss_build, f_single, f_batch);
  std::printf("\nratios vindex/FAISS: single %.2fx, batched %.2fx; top-%zu ids agreeing with FAISS: %.2f %%\n",
              f_single / v_single, f_batch / v_batch, k, 100.0 * agree / compared);
#else
  (void)f_single;
  (void)f_batch;
  std::printf("\nFAISS not found at build time (apt-get install libfaiss-dev): peer skipped\n");
#endif
  return 0;
}
