// The concurrency contract of HnswIndex, exercised under ThreadSanitizer in CI (`meson test --suite
// concurrency` in a -Db_sanitize=thread build): searches run alongside one writer that inserts,
// updates and erases, and alongside a multi-threaded batch insert.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
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

TEST_CASE("a multi-threaded batch fills freed slots and replaces vectors while searches run") {
  // Inserting threads plan without the shared lock and commit in turn; a list changed by another
  // thread since it was read is re-planned. Freed slots (after a sweep) and updated keys are the
  // cases where ids are reused or retired mid-batch.
  Index index(VectorSchema{kDim}, HnswParams{.m = 6, .ef_construction = 32, .initial_cap = 32, .block_size = 32});
  std::map<std::string, std::vector<float>> model;
  for (int i = 0; i < 300; ++i) {
    model["stable:" + std::to_string(i)] = stable_vector(i);
    index.upsert("stable:" + std::to_string(i), stable_vector(i));
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "gone:" + std::to_string(i);
    index.upsert(key, random_vector(rng, kDim));
  }
  for (int i = 0; i < 300; ++i) index.erase("gone:" + std::to_string(i));
  index.sweep_tombstones();
  REQUIRE(index.deleted_memory_bytes() > 0);  // freed slots, which the batch below reuses

  std::vector<std::string> keys;
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < 500; ++i) {  // 400 new keys, then 100 updates of "moved:" keys inserted earlier
    keys.push_back("moved:" + std::to_string(i % 400));
    vectors.push_back(random_vector(rng, kDim));
  }
  std::vector<Index::BatchItem> items;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    items.emplace_back(keys[i], vectors[i]);
    model[keys[i]] = vectors[i];
  }
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> failures{0};
  std::thread reader([&] {
    std::mt19937 r(6);
    while (!stop.load()) {
      const auto q = random_vector(r, kDim);
      check_hits(index.search(q, 10, {.ef = 24}), 10, q, true, failures);
    }
  });
  CHECK(index.insert_batch(items, 3) == 400);
  // The same keys once more in a second batch: all 400 are updates then.
  std::vector<Index::BatchItem> again;
  for (std::size_t i = 0; i < 400; ++i) {
    vectors[i] = random_vector(rng, kDim);
    model[keys[i]] = vectors[i];
    again.emplace_back(keys[i], vectors[i]);
  }
  CHECK(index.insert_batch(again, 2) == 400);
  stop.store(true);
  reader.join();
  CHECK(failures.load() == 0);
  CHECK(index.size() == model.size());
  // Every stored key holds its model vector: a search for that vector finds it at distance 0.
  std::size_t self = 0;
  for (const auto& [key, v] : model) {
    const auto hits = index.search(v, 1, {.ef = 64});
    self += !hits.empty() && hits[0].key == key && hits[0].distance == 0.0;
  }
  CHECK(self >= model.size() * 98 / 100);
  index.sweep_tombstones();
  CHECK(index.size() == model.size());
}

TEST_CASE("blob batches on lent threads run alongside searches and a waiting writer") {
  // try_upsert_blobs, as a keyspace backfill step drives it: workers on threads the host's spawn
  // function starts, blobs that are new, replaced, unchanged or bad, while a reader searches and
  // another thread's erases wait their turn.
  Index index(VectorSchema{kDim}, HnswParams{.m = 6, .ef_construction = 32, .initial_cap = 32, .block_size = 64});
  std::mt19937 rng(21);
  for (int i = 0; i < 300; ++i) index.upsert("stable:" + std::to_string(i), stable_vector(i));
  for (int i = 0; i < 100; ++i) index.upsert("erased:" + std::to_string(i), random_vector(rng, kDim));
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> failures{0};
  std::thread reader([&] {
    std::mt19937 r(9);
    while (!stop.load()) {
      const auto q = random_vector(r, kDim);
      check_hits(index.search(q, 10, {.ef = 24}), 10, q, false, failures);
    }
  });
  std::thread eraser([&] {
    for (int i = 0; i < 100; ++i) index.erase("erased:" + std::to_string(i));
  });
  std::size_t rejected = 0;
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> keys, blobs;
    for (int i = 0; i < 300; ++i) {
      keys.push_back("batch:" + std::to_string(i));  // rounds after the first replace them
      blobs.push_back(i % 50 == 7 ? std::string("bad") : to_float32_blob(random_vector(rng, kDim)));
    }
    std::vector<Index::BlobItem> items;
    for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], blobs[i]);
    std::vector<UpsertResult> results(items.size());
    std::vector<std::thread> lent;
    index.try_upsert_blobs(items, results, 3, [&](std::function<void()> task) { lent.emplace_back(std::move(task)); });
    for (auto& t : lent) t.join();
    for (const auto& r : results) rejected += r.outcome == UpsertOutcome::kRejected;
  }
  eraser.join();
  stop.store(true);
  reader.join();
  CHECK(failures.load() == 0);
  CHECK(rejected == 6 * 6);
  CHECK(index.size() == 300 + 300 - 6);  // the 6 keys whose blob is always bad never get in
  std::size_t self = 0;
  for (int i = 0; i < 300; ++i) {
    const auto hits = index.search(stable_vector(i), 1, {.ef = 64});
    self += !hits.empty() && hits[0].key == "stable:" + std::to_string(i);
  }
  CHECK(self >= 300 * 95 / 100);  // 16-d random data at M = 6: single upserts give 291-297 of 300
  index.sweep_tombstones();
  for (int i = 0; i < 300; ++i) {
    const auto hits = index.search(stable_vector(i), 1, {.ef = index.size()});
    CHECK((!hits.empty() && hits[0].key == "stable:" + std::to_string(i)));
  }
}

TEST_CASE("inserting threads read lists that other threads are rewriting") {
  // Small lists fill up at once, so nearly every insert rewrites lists that the other threads'
  // searches are reading: a search must load each link once and never act on a torn list. (A search
  // that loaded a list twice crashed here about one round in six.)
  constexpr std::uint32_t kSmallDim = 8;
  std::mt19937 rng(21);
  std::vector<std::string> keys;
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < 20000; ++i) {
    keys.push_back("k" + std::to_string(i));
    vectors.push_back(random_vector(rng, kSmallDim));
  }
  std::vector<HnswIndex<float, metric::L2>::BatchItem> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], vectors[i]);
  for (int round = 0; round < 3; ++round) {
    HnswIndex<float, metric::L2> index(VectorSchema{kSmallDim}, HnswParams{.m = 4, .ef_construction = 40});
    CHECK(index.insert_batch(items, 4) == items.size());
    CHECK(index.size() == items.size());
    std::size_t self = 0;
    for (std::size_t i = 0; i < keys.size(); i += 10) {
      const auto hits = index.search(vectors[i], 1, {.ef = 64});
      self += !hits.empty() && hits[0].distance == 0.0;
    }
    CHECK(self >= keys.size() / 10 * 98 / 100);
  }
}

TEST_CASE("maintenance on its own thread runs alongside a churning writer and searches") {
  // A host's maintenance thread (maintain_for in small slices) while one thread upserts and erases
  // and others search: results never hold an erased key, distances stay exact, and once everything
  // stops every key is found.
  Index index(VectorSchema{kDim}, HnswParams{.m = 6, .ef_construction = 32, .initial_cap = 32, .block_size = 64});
  for (int i = 0; i < 300; ++i) index.upsert("stable:" + std::to_string(i), stable_vector(i));
  std::atomic<bool> stop{false}, writing{true};
  std::atomic<std::size_t> failures{0}, slices{0};
  std::vector<std::thread> readers;
  for (unsigned t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      std::mt19937 r(300 + t);
      while (!stop.load()) {
        const auto q = random_vector(r, kDim);
        check_hits(index.search(q, 10, {.ef = 24}), 10, q, false, failures);
        check_hits(index.range_search(q, 6.0), 1u << 30, q, false, failures);
        // Readers of the index's accounts while a round runs (its state is the maintainer's).
        const HnswMemory m = index.memory_breakdown();
        if (m.vectors == 0) failures.fetch_add(1);
        (void)index.maintenance_stats();
        (void)index.deleted_memory_bytes();
      }
    });
  std::thread maintainer([&] {
    while (writing.load() || index.maintenance_pending()) {
      index.maintain_for(std::chrono::microseconds(200));
      slices.fetch_add(1);
      std::this_thread::yield();
    }
  });
  std::mt19937 rng(17);
  std::map<std::string, std::vector<float>> model;
  for (int step = 0; step < 3000; ++step) {
    const std::string key = "churn:" + std::to_string(rng() % 400);
    if (rng() % 3 == 0) {
      index.erase(key);
      model.erase(key);
    } else {
      model[key] = random_vector(rng, kDim);
      index.upsert(key, model[key]);
    }
  }
  writing.store(false);
  maintainer.join();
  stop.store(true);
  for (auto& t : readers) t.join();
  CHECK(failures.load() == 0);
  CHECK(slices.load() > 0);
  const auto s = index.maintenance_stats();
  MESSAGE(slices.load() << " maintenance slices, " << s.rounds << " rounds, " << s.tombstones_freed << " freed");
  CHECK(s.pending_tombstones == 0);
  CHECK(s.tombstones_freed > 0);
  CHECK(index.size() == 300 + model.size());
  for (const auto& [key, v] : model) {
    const auto hits = index.search(v, 1, {.ef = index.size()});
    CHECK((!hits.empty() && hits[0].key == key));
  }
}
