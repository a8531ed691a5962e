// Specification of FlatIndex: exact agreement with brute force, mutations, bad input, batches.
#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

template <class MetricT>
struct Fixture {
  static constexpr std::uint32_t kDim = 19;  // odd, so SIMD tails are exercised
  FlatIndex<float, MetricT> index{VectorSchema{kDim, ElementType::kFloat32, MetricT::kind},
                                  FlatParams{.initial_cap = 8, .block_size = 32}};
  Model model;
  std::mt19937 rng{42};

  void fill(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      auto v = random_vector(rng, kDim);
      const std::string key = "k" + std::to_string(i);
      index.upsert(key, v);
      model[key] = v;
    }
  }
};

template <class MetricT>
void agrees_with_brute_force() {
  Fixture<MetricT> f;
  f.fill(300);
  for (int t = 0; t < 20; ++t) {
    const auto q = random_vector(f.rng, f.kDim);
    for (std::size_t k : {1u, 7u, 100u, 300u, 1000u}) {
      check_same<MetricT>(f.index.search(q, k), brute_force<MetricT>(f.model, q, k), f.model, q);
    }
    // Filter by predicate (about a third) and by allow-lists of keys and of ids.
    auto keep = [](const std::string& key) { return key.back() % 3 == 0; };
    auto pred = Filter::by_predicate([&](KeyView key, Id) { return keep(std::string(key)); });
    check_same<MetricT>(f.index.search(q, 10, {.filter = &pred}), brute_force<MetricT>(f.model, q, 10, keep),
                        f.model, q);
    std::vector<Key> few = {"k5", "k17", "k200", "absent"};
    auto allow = Filter::allow_keys(few);
    auto keep_few = [&](const std::string& key) { return key == "k5" || key == "k17" || key == "k200"; };
    check_same<MetricT>(f.index.search(q, 10, {.filter = &allow}), brute_force<MetricT>(f.model, q, 10, keep_few),
                        f.model, q);
    auto none = Filter::allow_ids({});
    CHECK(f.index.search(q, 10, {.filter = &none}).empty());
  }
}

}  // namespace

TEST_CASE_TEMPLATE("FlatIndex agrees with brute force, with and without filters", M, metric::L2,
                   metric::InnerProduct, metric::Cosine) {
  agrees_with_brute_force<M>();
}

TEST_CASE_TEMPLATE("an empty FlatIndex returns nothing", M, metric::L2, metric::InnerProduct, metric::Cosine) {
  FlatIndex<float, M> index(VectorSchema{3, ElementType::kFloat32, M::kind});
  const std::vector<float> q = {1, 2, 3};
  CHECK(index.search(q, 10).empty());
  CHECK(index.range_search(q, 100).empty());
  CHECK(index.search_batch(q, 5).at(0).empty());
  CHECK(index.size() == 0);
  CHECK(index.memory_bytes() < 1024);
}

TEST_CASE_TEMPLATE("search_batch equals search query by query", M, metric::L2, metric::InnerProduct,
                   metric::Cosine) {
  Fixture<M> f;
  f.fill(1000);
  for (int i = 0; i < 100; ++i) f.index.erase("k" + std::to_string(i * 7));
  std::vector<float> queries;
  for (int i = 0; i < 300; ++i) {
    auto q = random_vector(f.rng, f.kDim);
    queries.insert(queries.end(), q.begin(), q.end());
  }
  auto filter = Filter::by_predicate([](KeyView key, Id) { return key.size() % 2 == 0; });
  for (std::size_t k : {1u, 10u, 50u}) {
    const auto batch = f.index.search_batch(queries, k);
    const auto filtered = f.index.search_batch(queries, k, {.filter = &filter});
    REQUIRE(batch.size() == 300);
    for (std::size_t i = 0; i < 300; ++i) {
      std::span<const float> q(queries.data() + i * f.kDim, f.kDim);
      CHECK(batch[i] == f.index.search(q, k));
      CHECK(filtered[i] == f.index.search(q, k, {.filter = &filter}));
    }
  }
}

TEST_CASE("upsert: insert, replace, and an unchanged vector is a no-op") {
  FlatIndex<float, metric::Cosine> index(VectorSchema{3, ElementType::kFloat32, Metric::kCosine});
  CHECK(index.upsert("x", std::vector<float>{1, 2, 3}) == UpsertOutcome::kInserted);
  CHECK(index.upsert("x", std::vector<float>{1, 2, 3}) == UpsertOutcome::kUnchanged);
  // Same direction, other magnitude: a different vector (the original is given back).
  CHECK(index.upsert("x", std::vector<float>{2, 4, 6}) == UpsertOutcome::kUpdated);
  const auto given_back = *index.get_vector("x");
  CHECK(given_back[0] == doctest::Approx(2.0f));
  CHECK(given_back[2] == doctest::Approx(6.0f));
  CHECK(index.upsert_blob("x", to_float32_blob(std::vector<float>{0, 0, 5})) == UpsertOutcome::kUpdated);
  const auto v = *index.get_vector("x");
  CHECK(v[2] == doctest::Approx(5.0f));
  CHECK(index.size() == 1);
  CHECK_FALSE(index.get_vector("y").has_value());
}

TEST_CASE("erase removes at once, reports a missing key, and slots are reused") {
  FlatIndex<float, metric::L2> index(VectorSchema{4}, FlatParams{.initial_cap = 4, .block_size = 4});
  for (int i = 0; i < 10; ++i) index.upsert("k" + std::to_string(i), std::vector<float>(4, float(i)));
  const std::size_t full = index.memory_bytes();
  CHECK(index.erase("k3"));
  CHECK_FALSE(index.erase("k3"));
  CHECK_FALSE(index.erase("never"));
  CHECK_FALSE(index.contains("k3"));
  CHECK(index.deleted_memory_bytes() == 16);
  // k3's slot still holds its vector, at distance 0: the scan measures it and drops it.
  SearchStats stats;
  for (const auto& hit : index.search(std::vector<float>(4, 3.0f), 10, {.stats = &stats})) CHECK(hit.key != "k3");
  CHECK(stats.distances == 10);  // every slot below the highest id, the free one too
  CHECK(index.search(std::vector<float>(4, 3.0f), 10).size() == 9);
  index.upsert("new", std::vector<float>(4, 3.0f));  // reuses k3's slot: no growth
  CHECK(index.memory_bytes() <= full + 64);
  CHECK(index.deleted_memory_bytes() == 0);
  CHECK(index.search(std::vector<float>(4, 3.0f), 1)[0].key == "new");
}

TEST_CASE("compact releases the blocks of erased entries and keeps results") {
  FlatIndex<float, metric::L2> index(VectorSchema{8}, FlatParams{.initial_cap = 16, .block_size = 16});
  std::mt19937 rng(5);
  Model model;
  for (int i = 0; i < 200; ++i) {
    auto v = random_vector(rng, 8);
    index.upsert("k" + std::to_string(i), v);
    model["k" + std::to_string(i)] = v;
  }
  for (int i = 0; i < 200; i += 2) {
    index.erase("k" + std::to_string(i));
    model.erase("k" + std::to_string(i));
  }
  const std::size_t before = index.memory_bytes();
  CHECK(index.deleted_memory_bytes() == 100 * 32);
  CHECK(index.compact() > 0);
  CHECK(index.deleted_memory_bytes() == 0);
  CHECK(index.memory_bytes() < before - 90 * 32);
  CHECK(index.size() == 100);
  for (int t = 0; t < 10; ++t) {
    const auto q = random_vector(rng, 8);
    check_same<metric::L2>(index.search(q, 20), brute_force<metric::L2>(model, q, 20), model, q);
  }
  index.upsert("after", random_vector(rng, 8));
  CHECK(index.size() == 101);
}

TEST_CASE("bad input gets a clear error and leaves the index unchanged") {
  FlatIndex<float, metric::Cosine> index(VectorSchema{4, ElementType::kFloat32, Metric::kCosine});
  index.upsert("a", std::vector<float>{1, 0, 0, 0});
  const auto before = index.search(std::vector<float>{1, 1, 0, 0}, 10);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kCancelled;
  };
  CHECK(code_of([&] { index.upsert_blob("a", std::string(15, 'x')); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.upsert("a", std::vector<float>{1, 0, 0}); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.upsert("a", std::vector<float>{1, nan, 0, 0}); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.upsert("b", std::vector<float>{0, 0, 0, 0}); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0}, 1); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.search(std::vector<float>{0, 0, 0, 0}, 1); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 0); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 10001); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.search_batch(std::vector<float>{1, 0, 0}, 1); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.range_search(std::vector<float>{1, 0, 0, 0}, -1); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.range_search(std::vector<float>{1, 0, 0, 0}, nan); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.upsert(std::string(2 << 20, 'k'), std::vector<float>{1, 0, 0, 0}); }) ==
        ErrorCode::kInvalidArgument);
  const auto r = index.try_upsert_blob("c", to_float32_blob(std::vector<float>{0, 0, 0, 0}));
  CHECK(r.outcome == UpsertOutcome::kRejected);
  CHECK(r.failure == VectorFailure::kZeroVector);
  CHECK(index.size() == 1);
  CHECK(index.get_vector("a") == std::vector<float>{1, 0, 0, 0});
  CHECK(index.search(std::vector<float>{1, 1, 0, 0}, 10) == before);
}

TEST_CASE("a schema whose metric differs from the index's is refused") {
  CHECK_THROWS_AS((FlatIndex<float, metric::L2>(VectorSchema{4, ElementType::kFloat32, Metric::kIP})), Error);
  CHECK_THROWS_AS((FlatIndex<float, metric::L2>(VectorSchema{4}, FlatParams{.block_size = 0})), Error);
}

