// The concurrency contract of KeyspaceIndex over an index that re-ranks from the host (an SQ8
// FlatIndex with ExactVectors::kHost), exercised under ThreadSanitizer in CI: searches on several
// threads read the source during the search, while the host's own thread rewrites, adds and deletes
// entries and calls the hooks. The source is called from one thread at a time (searches take the
// mutation lock); the host's storage has its own lock, as a real host's would.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;

namespace {

// DIM 4096: the quantizer's first training (1,024 vectors) is final, so the floats are released.
constexpr std::uint32_t kDim = 4096;
constexpr int kEntries = 1100;

// A host's storage behind its own lock, seen through KeyValueSource. `calls_inside` catches two
// threads inside the source at once, which the contract forbids.
class LockedSource final : public KeyValueSource {
 public:
  Cursor scan(Cursor cursor, std::size_t budget, const ScanVisitor& visit) override {
    Inside inside(*this);
    std::lock_guard lock(mutex_);
    return source_.scan(cursor, budget, visit);
  }
  bool read(KeyView key, const ReadVisitor& visit) override {
    Inside inside(*this);
    std::lock_guard lock(mutex_);
    return source_.read(key, visit);
  }
  std::size_t approximate_count() const override {
    std::lock_guard lock(mutex_);
    return source_.approximate_count();
  }
  void set(const std::string& key, const std::vector<float>& v) {
    std::lock_guard lock(mutex_);
    source_.set(key, {{"vec", vindex_test::blob_of(v)}});
  }
  void del(const std::string& key) {
    std::lock_guard lock(mutex_);
    source_.del(key);
  }
  std::atomic<int> overlaps{0};

 private:
  struct Inside {
    explicit Inside(LockedSource& s) : s_(s) {
      if (s_.inside_.fetch_add(1) != 0) s_.overlaps.fetch_add(1);
    }
    ~Inside() { s_.inside_.fetch_sub(1); }
    LockedSource& s_;
  };
  mutable std::mutex mutex_;
  MemorySource source_;
  std::atomic<int> inside_{0};
};

std::vector<float> vector_of(std::mt19937& rng) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(kDim);
  for (float& x : v) x = g(rng);
  return v;
}

}  // namespace

TEST_CASE("searches that read the host run alongside the host's writes and hooks") {
  using Index = FlatIndex<float, metric::L2, Sq8>;
  LockedSource source;
  std::mt19937 rng(21);
  for (int i = 0; i < kEntries; ++i) source.set("d:" + std::to_string(i), vector_of(rng));
  KeyspaceIndex<Index> ks(IndexDefinition{{"d:"}, "vec", {}}, source,
                          std::make_unique<Index>(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2},
                                                  FlatParams{.exact_vectors = ExactVectors::kHost}));
  ks.start_backfill();
  while (ks.step(200) == BackfillState::kBackfilling) {
  }
  REQUIRE(ks.index().floats_released());

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 local(100 + static_cast<unsigned>(t));
      while (!stop.load()) {
        const auto q = vector_of(local);
        const auto hits = ks.search(q, 5, "*", {.rerank = 4});
        bool ok = hits.size() == 5;
        for (std::size_t i = 1; i < hits.size(); ++i) ok = ok && hits[i - 1].distance <= hits[i].distance;
        if (!ok) bad.fetch_add(1);
        searches.fetch_add(1);
      }
    });
  }
  for (int round = 0; round < 60; ++round) {
    const std::string key = "d:" + std::to_string(round * 13 % kEntries);
    source.set(key, vector_of(rng));
    ks.on_write(key);
    const std::string extra = "d:extra" + std::to_string(round);
    source.set(extra, vector_of(rng));
    ks.on_write(extra);
    if (round % 2 == 0) {
      source.del(extra);
      ks.on_delete(extra);
    }
  }
  while (searches.load() < 10) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(source.overlaps.load() == 0);
  CHECK(ks.size() == kEntries + 30);
}
