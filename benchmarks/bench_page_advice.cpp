// bench_page_advice: what the huge-page advice on node blocks (storage/huge_pages.hpp) buys an HNSW
// walk, measured on one graph.
//
// It builds one HnswIndex over a real data set, saves it to memory and loads it twice: once owning its
// memory (no resource given: the whole 2 MiB pages inside node blocks of 2 MiB or more are advised)
// and once with operator new passed explicitly as its resource (a host's resource: nothing advised).
// Both copies hold the same graph, so they return the same answers; the program checks that, then
// times single-thread queries in rounds that alternate which copy goes first, and prints the median
// q/s with its spread per ef, the ratio, and how much of the process's anonymous memory the kernel
// mapped in huge pages (AnonHugePages) after each load.
//
// Usage: bench_page_advice [--dataset=siftsmall|fashion-mnist|glove-100] [--sq8=0|1]
//        [--block-size=N (default: the index's default)] [--queries=1000] [--rounds=5] [--threads=2]
// Datasets as bench_ann (benchmarks/fetch_datasets.sh). Prints a Markdown table; never asserts on time.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "ann_data.hpp"
#include "bench_util.hpp"
#include "vindex/vindex.hpp"

using namespace vindex_bench;

namespace {

// The process's anonymous memory in huge pages, kB (/proc/self/smaps_rollup; -1 when unreadable).
long anon_huge_kb() {
  std::ifstream in("/proc/self/smaps_rollup");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
  return -1;
}

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line.empty() ? "unknown" : line;
}

template <class Index>
std::vector<std::string> answer(Index& index, const Dataset& d, std::size_t q, std::size_t ef) {
  std::vector<std::string> keys;
  for (const auto& hit : index.search(std::span<const float>(d.queries.data() + q * d.dim, d.dim), 10, {.ef = ef}))
    keys.push_back(hit.key);
  return keys;
}

template <class MetricT, class Compression>
int run(const Dataset& d, std::size_t block_size, std::size_t rounds, unsigned threads) {
  using Index = vindex::HnswIndex<float, MetricT, Compression>;
  vindex::HnswParams params{.m = 16, .ef_construction = 200};
  if (block_size) params.block_size = block_size;
  std::vector<std::byte> snapshot;
  {
    Index built(vindex::VectorSchema{static_cast<std::uint32_t>(d.dim), vindex::ElementType::kFloat32, MetricT::kind},
                params);
    std::vector<std::string> keys(d.n);
    std::vector<typename Index::BatchItem> items(d.n);
    for (std::size_t i = 0; i < d.n; ++i) {
      keys[i] = std::to_string(i);
      items[i] = {keys[i], std::span<const float>(d.base.data() + i * d.dim, d.dim)};
    }
    const double t0 = now_s();
    built.insert_batch(items, threads);
    std::fprintf(stderr, "  built in %.1f s on %u threads\n", now_s() - t0, threads);
    vindex::MemorySerializer out;
    vindex::save(built, out);
    snapshot = out.take();
  }
  // Two loads of one snapshot: the same graph, with and without the advice.
  const long huge0 = anon_huge_kb();
  vindex::MemoryDeserializer in_advised(snapshot);
  auto advised = vindex::load_hnsw<MetricT, float, Compression>(in_advised);
  const long huge1 = anon_huge_kb();
  vindex::LoadOptions host_resource;
  host_resource.memory = std::pmr::new_delete_resource();
  vindex::MemoryDeserializer in_plain(snapshot);
  auto plain = vindex::load_hnsw<MetricT, float, Compression>(in_plain, host_resource);
  const long huge2 = anon_huge_kb();
  const vindex::HnswMemory parts = advised->memory_breakdown();
  const double node_bytes = double(parts.vectors + parts.codes + parts.links) / double(std::max<std::size_t>(1, d.n));
  const double block_bytes = double(advised->params().block_size) * node_bytes;
  std::printf("BLOCK_SIZE %zu (about %.1f MB a node block); advised: %s, not advised: %s. AnonHugePages after "
              "loading the advised copy +%.1f MB, after the other +%.1f MB; index memory %.1f MB each.\n\n",
              advised->params().block_size, block_bytes / 1e6, advised->huge_page_nodes() ? "yes" : "no",
              plain->huge_page_nodes() ? "yes" : "no", double(huge1 - huge0) / 1e3, double(huge2 - huge1) / 1e3,
              double(advised->memory_bytes()) / 1e6);
  if (huge1 - huge0 <= 0)
    std::printf("No huge page was mapped for the advised copy (blocks under 2 MiB, or none holding a whole "
                "aligned 2 MiB page, or THP off): the two copies differ in nothing, so the ratios below show "
                "this run's noise.\n\n");

  std::printf("| ef | recall@10 | advised q/s (min–max) | not advised q/s (min–max) | advised / not |\n"
              "|---:|---:|---:|---:|---:|\n");
  Index* copies[2] = {advised.get(), plain.get()};
  for (std::size_t ef : {16, 32, 64, 128}) {
    std::size_t hits = 0;
    for (std::size_t q = 0; q < d.nq; ++q) {
      const auto a = answer(*advised, d, q, ef);
      if (a != answer(*plain, d, q, ef)) {
        std::fprintf(stderr, "bench_page_advice: the two copies answer query %zu differently at ef %zu\n", q, ef);
        return 1;
      }
      for (const std::string& key : a)
        for (std::size_t r = 0; r < 10 && r < d.truth_k; ++r) hits += d.truth[q * d.truth_k + r] == std::stoi(key);
    }
    std::vector<double> qps[2];
    for (std::size_t round = 0; round < rounds; ++round)
      for (std::size_t turn = 0; turn < 2; ++turn) {
        const std::size_t c = (round + turn) % 2;
        std::size_t answered = 0;
        const double t0 = now_s();
        for (std::size_t q = 0; q < d.nq; ++q)
          answered += copies[c]->search(std::span<const float>(d.queries.data() + q * d.dim, d.dim), 10, {.ef = ef}).size();
        qps[c].push_back(double(d.nq) / (now_s() - t0));
        if (answered == 0) return 1;
      }
    for (auto& v : qps) std::sort(v.begin(), v.end());
    auto median = [](const std::vector<double>& v) {
      return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    std::printf("| %zu | %.4f | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.3f |\n", ef, double(hits) / double(d.nq * 10),
                median(qps[0]), qps[0].front(), qps[0].back(), median(qps[1]), qps[1].front(), qps[1].back(),
                median(qps[0]) / median(qps[1]));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset = "siftsmall";
  for (int i = 1; i < argc; ++i)
    if (std::string a = argv[i]; a.rfind("--dataset=", 0) == 0) dataset = a.substr(10);
  const bool sq8 = option(argc, argv, "sq8", 0) != 0;
  const std::size_t block_size = static_cast<std::size_t>(option(argc, argv, "block-size", 0));
  const std::size_t rounds = static_cast<std::size_t>(std::max<long>(3, option(argc, argv, "rounds", 5)));
  const unsigned threads = static_cast<unsigned>(std::max<long>(1, option(argc, argv, "threads", 2)));
  Dataset d;
  try {
    d = load_dataset(dataset, static_cast<std::size_t>(option(argc, argv, "queries", 1000)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_page_advice: %s\n", e.what());
    return 2;
  }

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(i ? argv[i] : "bench_page_advice");
  std::printf("## Huge-page advice on node blocks: %s, %s\n\n", d.name.c_str(), sq8 ? "SQ8 codes walked" : "float");
  std::printf("%s · `%s` · THP `%s` · load average %.2f at start · %zu base × %zu-d, %zu queries, k = 10, M = 16, "
              "EF_CONSTRUCTION = 200, 1 search thread, median of %zu alternated rounds\n\n",
              cpu_model().c_str(), command.c_str(), first_line("/sys/kernel/mm/transparent_hugepage/enabled").c_str(),
              load_average(), d.n, d.dim, d.nq, rounds);
  int rc = 1;
  switch (d.metric) {
    case vindex::Metric::kL2:
      rc = sq8 ? run<vindex::metric::L2, vindex::Sq8>(d, block_size, rounds, threads)
               : run<vindex::metric::L2, vindex::Uncompressed>(d, block_size, rounds, threads);
      break;
    case vindex::Metric::kIP:
      rc = sq8 ? run<vindex::metric::InnerProduct, vindex::Sq8>(d, block_size, rounds, threads)
               : run<vindex::metric::InnerProduct, vindex::Uncompressed>(d, block_size, rounds, threads);
      break;
    case vindex::Metric::kCosine:
      rc = sq8 ? run<vindex::metric::Cosine, vindex::Sq8>(d, block_size, rounds, threads)
               : run<vindex::metric::Cosine, vindex::Uncompressed>(d, block_size, rounds, threads);
      break;
  }
  std::printf("\nLoad average at the end: %.2f.\n", load_average());
  return rc;
}
