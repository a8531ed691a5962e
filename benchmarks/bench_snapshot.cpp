// Snapshot benchmark: FlatIndex save/load throughput to memory, to a file and through chunks, and
// load time versus rebuilding the index by upserts. Prints a table; asserts nothing.
// Usage: bench_snapshot [n=100000] [dim=128] [dir=/tmp]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

using namespace vindex;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

template <class F>
double best_of(int runs, F&& f) {
  double best = 1e300;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

template <class MetricT>
void run(const char* name, std::size_t n, std::uint32_t dim, const std::string& dir) {
  using Index = FlatIndex<float, MetricT>;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  std::vector<float> data(n * dim);
  for (float& x : data) x = normal(rng);
  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = "doc:" + std::to_string(i);
  const VectorSchema schema{dim, ElementType::kFloat32, MetricT::kind};

  std::unique_ptr<Index> built;
  const double rebuild = best_of(3, [&] {
    built = std::make_unique<Index>(schema);
    for (std::size_t i = 0; i < n; ++i) built->upsert(keys[i], std::span<const float>(data).subspan(i * dim, dim));
  });

  std::vector<std::byte> bytes;
  const double save_memory = best_of(5, [&] {
    MemorySerializer out;
    save(*built, out);
    bytes = out.take();
  });
  const double save_reused = best_of(5, [&] {
    MemorySerializer out(std::move(bytes));  // the previous snapshot's buffer: no page faults
    save(*built, out);
    bytes = out.take();
  });
  const double mb = static_cast<double>(bytes.size()) / 1e6;
  const double load_memory = best_of(5, [&] {
    MemoryDeserializer in(bytes);
    auto loaded = load_flat<MetricT>(in);
    if (loaded->size() != n) std::abort();
  });

  const std::string path = dir + "/vindex-bench-snapshot.vdx";
  const double save_file = best_of(3, [&] {
    FileSerializer out(path);
    save(*built, out);
    out.commit();
  });
  const double load_file = best_of(3, [&] {
    FileDeserializer in(path);
    auto loaded = load_flat<MetricT>(in);
    if (loaded->size() != n) std::abort();
  });
  std::remove(path.c_str());

  std::vector<std::vector<std::byte>> chunks;
  const double save_chunked = best_of(3, [&] {
    chunks.clear();
    ChunkedSerializer out(64 << 10, [&](std::span<const std::byte> c) { chunks.emplace_back(c.begin(), c.end()); });
    save(*built, out);
    out.finish();
  });
  const double load_chunked = best_of(3, [&] {
    std::size_t next = 0;
    ChunkedDeserializer in([&]() -> std::span<const std::byte> {
      return next < chunks.size() ? std::span<const std::byte>(chunks[next++]) : std::span<const std::byte>();
    });
    auto loaded = load_flat<MetricT>(in);
    if (loaded->size() != n) std::abort();
  });

  auto row = [&](const char* what, double save_s, double load_s) {
    std::printf("| %-6s | %-22s | %8.1f | %9.1f | %9.1f | %9.1f | %10.1f |\n", name, what, mb, save_s * 1e3, mb / save_s,
                load_s * 1e3, mb / load_s);
  };
  row("memory (new buffer)", save_memory, load_memory);
  row("memory (reused buffer)", save_reused, load_memory);
  row("file (fsync + rename)", save_file, load_file);
  row("chunks of 64 KiB", save_chunked, load_chunked);
  std::printf("| %-6s | rebuild by upsert: %.1f ms; load from memory is %.1f× faster, from file %.1f× |\n", name,
              rebuild * 1e3, rebuild / load_memory, rebuild / load_file);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const auto dim = static_cast<std::uint32_t>(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 128);
  const std::string dir = argc > 3 ? argv[3] : "/tmp";
  std::printf("FlatIndex snapshot, %zu vectors × %u dims (best of 3-5 runs; SIMD %s)\n\n", n, dim,
              std::string(simd_arch_name()).c_str());
  std::printf("| metric | stream                 |       MB |   save ms |  save MB/s |   load ms |  load MB/s |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|\n");
  run<metric::L2>("L2", n, dim, dir);
  run<metric::Cosine>("COSINE", n, dim, dir);
  return 0;
}
