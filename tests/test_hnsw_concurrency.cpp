// The concurrency contract of HnswIndex, exercised under ThreadSanitizer in CI (`meson test --suite
// concurrency` in a -Db_sanitize=thread build): searches run alongside one writer that inserts,
// updates and erases, and alongside a multi-threaded batch insert.
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

constexpr std::uint32_t kDim = 16;
using Index = HnswIndex<float, metric::L2>;

std::vector<float> stable_vector(int i) {
  std::mt19937 rng(static_cast<unsigned>(i) * 7919u + 1);
  return random_vector(rng, kDim);
}

// Checks what a reader can always rely on, whatever the writer is doing.
void check_hits(const std::vector<SearchResult>& hits, std::size_t k, const std::vector<float>& q, bool gone_erased,
                std::atomic<std::size_t>& failures) {
  std::set<std::string> seen;
  bool ok = hits.size() <= k;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    ok = ok && seen.insert(hits[i].key).second;
    if (i > 0) ok = ok && hits[i - 1].distance <= hits[i].distance;
    if (gone_erased) ok = ok && hits[i].key.rfind("gone:", 0) != 0;
    if (hits[i].key.rfind("stable:", 0) == 0) {
      // Stable keys never change: their distance must be exact.
      const int n = std::stoi(hits[i].key.substr(7));
      const double truth = ref_distance<metric::L2>(q, stable_vector(n));
      ok = ok && std::abs(hits[i].distance - truth) <= 1e-4 * std::max(1.0, truth);
    }
  }
  if (!ok) failures.fetch_add(1);
}

}  // namespace

TEST_CASE("searches run concurrently with a writer that inserts, updates and erases") {
  Index index(VectorSchema{kDim}, HnswParams{.m = 8, .ef_construction = 48, .initial_cap = 64, .block_size = 64});
  for (int i = 0; i < 400; ++i) index.upsert("stable:" + std::to_string(i), stable_vector(i));
  for (int i = 0; i < 100; ++i) index.upsert("gone:" + std::to_string(i), stable_vector(1000 + i));

  std::atomic<bool> gone_erased{false}, stop{false};
  std::atomic<std::size_t> failures{0}, searches{0};
  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    auto odd = Filter::by_predicate([](KeyView key, Id) { return key.back() % 2 == 1; });
    while (!stop.load()) {
      const bool erased = gone_erased.load();
      const auto q = random_vector(rng, kDim);
      const std::size_t k = 1 + rng() % 20;
      check_hits(index.search(q, k, {.ef = 32}), k, q, erased, failures);
      check_hits(index.search(q, k, {.ef = 32, .filter = &odd}), k, q, erased, failures);
      check_hits(index.range_search(q, 8.0), 1u << 30, q, erased, failures);
      (void)index.contains("stable:1");
      (void)index.get_vector("churn:1");
      (void)index.memory_bytes();
      searches.fetch_add(1);
    }
  };
  std::vector<std::thread> readers;
  for (unsigned t = 0; t < 3; ++t) readers.emplace_back(reader, 100 + t);

  std::mt19937 rng(7);
  for (int i = 0; i < 100; ++i) CHECK(index.erase("gone:" + std::to_string(i)));
  gone_erased.store(true);
  for (int step = 0; step < 1500; ++step) {
    const std::string key = "churn:" + std::to_string(rng() % 200);
    switch (rng() % 4) {
      case 0:
      case 1: index.upsert(key, random_vector(rng, kDim)); break;
      case 2: index.erase(key); break;
      default:
        if (step % 300 == 0) index.compact();
        break;
    }
  }
  // Let the readers see the final state for a moment, then stop them.
  const std::size_t seen = searches.load();
  while (searches.load() < seen + 30) std::this_thread::yield();
  stop.store(true);
  for (auto& t : readers) t.join();
  MESSAGE(searches.load() << " concurrent search rounds");
  CHECK(failures.load() == 0);
  CHECK(searches.load() > 30);
  for (int i = 0; i < 400; ++i) CHECK(index.contains("stable:" + std::to_string(i)));
}

TEST_CASE("a multi-threaded batch insert runs alongside searches") {
  Index index(VectorSchema{kDim}, HnswParams{.m = 8, .ef_construction = 48, .initial_cap = 64, .block_size = 64});
  for (int i = 0; i < 200; ++i) index.upsert("stable:" + std::to_string(i), stable_vector(i));
  std::vector<std::string> keys;
  std::vector<std::vector<float>> vectors;
  for (int i = 200; i < 1400; ++i) {
    keys.push_back("stable:" + std::to_string(i));
    vectors.push_back(stable_vector(i));
  }
  std::vector<Index::BatchItem> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], vectors[i]);

  std::atomic<bool> stop{false};
  std::atomic<std::size_t> failures{0};
  std::thread reader([&] {
    std::mt19937 rng(5);
    while (!stop.load()) {
      const auto q = random_vector(rng, kDim);
      check_hits(index.search(q, 10, {.ef = 24}), 10, q, false, failures);
    }
  });
  CHECK(index.insert_batch(items, 3) == items.size());
  stop.store(true);
  reader.join();
  CHECK(failures.load() == 0);
  CHECK(index.size() == 1400);
  // The graph built by several threads is still searchable: every key finds itself.
  std::size_t self = 0;
  for (int i = 0; i < 1400; i += 7) {
    const auto hits = index.search(stable_vector(i), 1, {.ef = 64});
    self += !hits.empty() && hits[0].key == "stable:" + std::to_string(i);
  }
  CHECK(self >= 195);
}
