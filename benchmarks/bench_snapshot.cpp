// Snapshot benchmark. FLAT: save/load throughput to memory, to a file and through chunks, and load
// time versus rebuilding the index by upserts. HNSW (clustered data): save/load throughput, load
// time versus building the graph (insert_batch on 2 threads, and one thread), and for a
// KeyspaceIndex over a MemorySource: load + reconcile after 1 % of the entries changed versus a
// full backfill. Prints tables; asserts nothing.
// Usage: bench_snapshot [n=100000] [dim=128] [dir=/tmp] [flat|hnsw|all=all]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
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


// Clustered data: 100 Gaussian clusters with random centres.
std::vector<float> clustered_data(std::size_t n, std::uint32_t dim) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> centres(100 * std::size_t{dim});
  for (float& x : centres) x = 4.0f * normal(rng);
  std::vector<float> data(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = rng() % 100;
    for (std::uint32_t j = 0; j < dim; ++j) data[i * dim + j] = centres[c * dim + j] + normal(rng);
  }
  return data;
}

// An executor that runs each task on its own thread; join() after each step.
struct Threads {
  std::vector<std::thread> running;
  Executor executor() {
    return [this](std::function<void()> task) { running.emplace_back(std::move(task)); };
  }
  void join() {
    for (auto& t : running) t.join();
    running.clear();
  }
};

void run_hnsw(std::size_t n, std::uint32_t dim) {
  using Hnsw = HnswIndex<float, metric::L2>;
  const VectorSchema schema{dim, ElementType::kFloat32, Metric::kL2};
  const HnswParams params{.m = 16, .ef_construction = 200, .ef_runtime = 10};
  const std::vector<float> data = clustered_data(n, dim);
  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = "doc:" + std::to_string(i);
  auto vec = [&](std::size_t i) { return std::span<const float>(data).subspan(i * dim, dim); };
  std::printf("\nHnswIndex snapshot, %zu clustered vectors × %u dims, L2, M 16, EF_CONSTRUCTION 200\n\n", n, dim);

  std::vector<Hnsw::BatchItem> items;
  for (std::size_t i = 0; i < n; ++i) items.emplace_back(keys[i], vec(i));
  auto built = std::make_unique<Hnsw>(schema, params);
  auto t0 = Clock::now();
  built->insert_batch(items, 2);
  const double build2 = seconds_since(t0);
  double build1 = 0;
  {
    Hnsw single(schema, params);
    t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) single.upsert(keys[i], vec(i));
    build1 = seconds_since(t0);
  }

  std::vector<std::byte> bytes;
  const double save_s = best_of(3, [&] {
    MemorySerializer out;
    save(*built, out);
    bytes = out.take();
  });
  const double mb = static_cast<double>(bytes.size()) / 1e6;
  std::unique_ptr<Hnsw> loaded;
  const double load_s = best_of(3, [&] {
    loaded.reset();
    MemoryDeserializer in(bytes);
    loaded = load_hnsw<metric::L2>(in);
  });
  if (loaded->size() != n) std::abort();
  for (std::size_t i = 0; i < 20; ++i)  // the loaded graph answers exactly like the saved one
    if (loaded->search(vec(i * 997 % n), 10).front().key != built->search(vec(i * 997 % n), 10).front().key) std::abort();

  std::printf("| what | MB | ms | MB/s |\n|---|---:|---:|---:|\n");
  std::printf("| save to memory | %.1f | %.1f | %.1f |\n", mb, save_s * 1e3, mb / save_s);
  std::printf("| load from memory | %.1f | %.1f | %.1f |\n", mb, load_s * 1e3, mb / load_s);
  std::printf("| build: insert_batch, 2 threads | | %.1f | |\n", build2 * 1e3);
  std::printf("| build: upsert loop, 1 thread | | %.1f | |\n", build1 * 1e3);
  std::printf("\nload is %.1f× faster than the 2-thread build and %.1f× faster than the 1-thread build\n",
              build2 / load_s, build1 / load_s);

  // KeyspaceIndex over a MemorySource: backfill versus snapshot load + reconcile after 1 % changed.
  MemorySource src;
  for (std::size_t i = 0; i < n; ++i) src.set(keys[i], {{"vec", to_float32_blob(vec(i))}});
  const IndexDefinition def{{"doc:"}, "vec", {}};
  Threads threads;
  const Executor ex = threads.executor();
  auto run_steps = [&](KeyspaceIndex<Hnsw>& ks) {
    while (ks.step(4096, ex, 2) == BackfillState::kBackfilling) threads.join();
    threads.join();
  };
  KeyspaceIndex<Hnsw> ks(def, src, std::make_unique<Hnsw>(schema, params));
  t0 = Clock::now();
  ks.start_backfill();
  run_steps(ks);
  const double backfill2 = seconds_since(t0);
  MemorySerializer out;
  save(ks, out);
  const std::vector<std::byte> ks_bytes = out.take();

  // 1 % of the entries change: half get a new vector, a quarter are deleted, a quarter are new.
  const std::size_t changed = n / 100;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  for (std::size_t c = 0; c < changed; ++c) {
    const std::size_t i = (c * 7919) % n;
    if (c % 4 < 2) {
      for (std::uint32_t j = 0; j < dim; ++j) v[j] = data[i * dim + j] + 0.5f * normal(rng);
      src.hset(keys[i], "vec", to_float32_blob(v));
    } else if (c % 4 == 2) {
      src.del(keys[i]);
    } else {
      src.set("doc:new" + std::to_string(c), {{"vec", to_float32_blob(vec((i + 1) % n))}});
    }
  }
  t0 = Clock::now();
  MemoryDeserializer in(ks_bytes);
  auto restored = load_keyspace<Hnsw>(in, src);
  const double ks_load = seconds_since(t0);
  t0 = Clock::now();
  restored->start_reconcile();
  run_steps(*restored);
  const double reconcile = seconds_since(t0);
  const auto p = restored->progress();
  std::printf("\nKeyspaceIndex<HnswIndex>, %zu entries, %zu (1 %%) changed after the snapshot (%.1f MB):\n", n,
              changed, static_cast<double>(ks_bytes.size()) / 1e6);
  std::printf("| what | ms |\n|---|---:|\n");
  std::printf("| full backfill, inserts on 2 threads | %.1f |\n", backfill2 * 1e3);
  std::printf("| load keyspace snapshot | %.1f |\n", ks_load * 1e3);
  std::printf("| reconcile (2 threads): %llu inserted, %llu updated, %llu removed, %llu unchanged | %.1f |\n",
              static_cast<unsigned long long>(p.counts.inserted), static_cast<unsigned long long>(p.counts.updated),
              static_cast<unsigned long long>(p.counts.removed), static_cast<unsigned long long>(p.counts.unchanged),
              reconcile * 1e3);
  std::printf("\nload + reconcile = %.1f %% of the 2-thread backfill, %.1f %% of the 1-thread build\n",
              100 * (ks_load + reconcile) / backfill2, 100 * (ks_load + reconcile) / build1);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const auto dim = static_cast<std::uint32_t>(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 128);
  const std::string dir = argc > 3 ? argv[3] : "/tmp";
  const std::string mode = argc > 4 ? argv[4] : "all";
  if (mode == "flat" || mode == "all") {
    std::printf("FlatIndex snapshot, %zu vectors × %u dims (best of 3-5 runs; SIMD %s)\n\n", n, dim,
                std::string(simd_arch_name()).c_str());
    std::printf("| metric | stream                 |       MB |   save ms |  save MB/s |   load ms |  load MB/s |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|\n");
    run<metric::L2>("L2", n, dim, dir);
    run<metric::Cosine>("COSINE", n, dim, dir);
  }
  if (mode == "hnsw" || mode == "all") run_hnsw(n, dim);
  return 0;
}
