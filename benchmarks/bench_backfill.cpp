// bench_backfill — what the backfill machinery costs over a plain insert loop, and what worker
// threads buy.
//
// Same vectors, same index type, four ways:
//   plain loop (array)   for each (key, blob) in a std::vector: index.try_upsert_blob(key, blob)
//   plain loop (source)  the same inside MemorySource::for_each (pays the same source walk)
//   backfill             KeyspaceIndex over a MemorySource, step(1024) until ready
//   backfill, N threads  step(4096, executor, N): source read on this thread, inserts on a pool
//   reconcile            start_reconcile() over an index already equal to the source
// "machinery" = backfill / plain loop (source) − 1. Run with a dataset size as argument (default
// 100000 vectors of siftsmall, repeated with noise, or generated when absent). Prints a table; times
// are the best of several runs. Index types: FlatIndex now; HnswIndex to be added after its merge.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Flat = vindex::FlatIndex<float, vindex::metric::L2>;

// A fixed pool of worker threads: the "threads the host supplies".
class Pool {
 public:
  explicit Pool(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { run(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  vindex::Executor executor() {
    return [this](std::function<void()> task) {
      {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
      }
      cv_.notify_one();
    };
  }

 private:
  void run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

std::vector<std::vector<float>> dataset(std::size_t n, std::string& name) {
  std::vector<std::vector<float>> base;
  std::mt19937 rng(1);
  if (auto dir = vindex_support::siftsmall_dir()) {
    const auto m = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
    for (std::size_t i = 0; i < m.rows; ++i) base.emplace_back(m.row(i), m.row(i) + m.dim);
    name = "siftsmall";
  } else {
    std::uniform_real_distribution<float> u(0, 128);
    base.assign(1000, std::vector<float>(128));
    for (auto& v : base)
      for (float& x : v) x = u(rng);
    name = "generated";
  }
  std::normal_distribution<float> noise(0, 2);
  std::vector<std::vector<float>> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(base[i % base.size()]);
    if (i >= base.size())
      for (float& x : out.back()) x += noise(rng);
  }
  name += " ×" + std::to_string(n / base.size() + (n % base.size() ? 1 : 0)) + " with noise";
  return out;
}

template <class F>
double best_ms(int runs, F&& f) {
  double best = 1e300;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vindex;
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  std::string name;
  const auto vectors = dataset(n, name);
  const auto dim = static_cast<std::uint32_t>(vectors.front().size());
  const VectorSchema schema{dim, ElementType::kFloat32, Metric::kL2};

  std::vector<std::pair<std::string, std::string>> items;
  MemorySource source;
  for (std::size_t i = 0; i < n; ++i) {
    items.emplace_back("doc:" + std::to_string(i), to_float32_blob(vectors[i]));
    source.set(items.back().first, {{"vec", items.back().second},
                                     {"genre", i % 2 ? "jazz" : "rock"},
                                     {"year", std::to_string(1960 + i % 60)}});
  }
  const IndexDefinition vector_only{{"doc:"}, "vec", {}};
  const IndexDefinition with_attributes{
      {"doc:"}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};

  auto plain_array = [&] {
    Flat index(schema);
    for (const auto& [key, blob] : items) index.try_upsert_blob(key, blob);
  };
  auto plain_source = [&] {
    Flat index(schema);
    source.for_each([&](const std::string& key, const FieldMap& fields) {
      index.try_upsert_blob(key, fields.find("vec")->second);
    });
  };
  auto backfill = [&](const IndexDefinition& def, std::size_t threads, Pool* pool) {
    return [&, threads, pool] {
      KeyspaceIndex<Flat> ks(def, source, std::make_unique<Flat>(schema));
      ks.start_backfill();
      if (threads <= 1) {
        while (ks.step(1024) == BackfillState::kBackfilling) {
        }
      } else {
        const Executor ex = pool->executor();
        while (ks.step(4096, ex, threads) == BackfillState::kBackfilling) {
        }
      }
      if (ks.size() != n) std::abort();
    };
  };

  // Reconcile of an unchanged keyspace (after a snapshot load): one read and a compare per entry.
  double t_reconcile = 1e300;
  {
    KeyspaceIndex<Flat> ks(vector_only, source, std::make_unique<Flat>(schema));
    ks.start_backfill();
    while (ks.step(1024) == BackfillState::kBackfilling) {
    }
    t_reconcile = best_ms(runs, [&] {
      ks.start_reconcile();
      while (ks.step(1024) == BackfillState::kBackfilling) {
      }
      if (ks.progress().counts.unchanged != n) std::abort();
    });
  }

  Pool pool(2);
  std::printf("bench_backfill: %zu vectors, dim %u (%s), FlatIndex<L2>, best of %d runs, %u hardware threads\n\n",
              n, dim, name.c_str(), runs, std::thread::hardware_concurrency());
  const double t_array = best_ms(runs, plain_array);
  const double t_source = best_ms(runs, plain_source);
  const double t_backfill = best_ms(runs, backfill(vector_only, 1, nullptr));
  const double t_backfill_attr = best_ms(runs, backfill(with_attributes, 1, nullptr));
  const double t_backfill2 = best_ms(runs, backfill(vector_only, 2, &pool));
  auto row = [&](const char* what, double ms, double base) {
    std::printf("  %-36s %9.1f ms %10.0f vec/s   %+6.1f %%\n", what, ms, static_cast<double>(n) / ms * 1000,
                (ms / base - 1) * 100);
  };
  std::printf("  %-36s %12s %14s   %s\n", "method", "time", "throughput", "vs plain loop (source)");
  row("plain loop (array)", t_array, t_source);
  row("plain loop (source)", t_source, t_source);
  row("backfill, vector only", t_backfill, t_source);
  row("backfill, + TAG and NUMERIC", t_backfill_attr, t_source);
  row("backfill, vector only, 2 threads", t_backfill2, t_source);
  row("reconcile, nothing changed", t_reconcile, t_source);
  std::printf("\n  2-thread speed-up over 1-thread backfill: %.2f×\n", t_backfill / t_backfill2);
  std::printf("  (FlatIndex inserts are a copy under an exclusive lock, so threads cannot help it; the\n"
              "   speed-up that matters is HnswIndex's, measured here once it is merged.)\n");
  return 0;
}
