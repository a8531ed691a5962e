// Property test: random upsert / erase / search sequences against a std::map model.
#include <doctest/doctest.h>

#include <random>

#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

TEST_CASE_TEMPLATE("FlatIndex behaves like a std::map under thousands of random operations", M, metric::L2,
                   metric::InnerProduct, metric::Cosine) {
  constexpr std::uint32_t kDim = 9;
  FlatIndex<float, M> index(VectorSchema{kDim, ElementType::kFloat32, M::kind},
                            FlatParams{.initial_cap = 4, .block_size = 16});
  Model model;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> op(0, 99), key_of(0, 299);
  std::size_t searches = 0;
  for (int step = 0; step < 6000; ++step) {
    const int o = op(rng);
    const std::string key = "key:" + std::to_string(key_of(rng));
    if (o < 45) {
      auto v = random_vector(rng, kDim);
      const bool existed = model.count(key) != 0;
      const auto outcome = index.upsert_blob(key, to_float32_blob(v));
      CHECK(outcome == (existed ? UpsertOutcome::kUpdated : UpsertOutcome::kInserted));
      model[key] = v;
    } else if (o < 50 && model.count(key)) {
      CHECK(index.upsert(key, model[key]) == UpsertOutcome::kUnchanged);
    } else if (o < 75) {
      CHECK(index.erase(key) == (model.erase(key) == 1));
    } else if (o < 78) {
      index.compact();
    } else if (o < 80) {
      // Invalid input must not change anything.
      CHECK(index.try_upsert_blob(key, "bad").outcome == UpsertOutcome::kRejected);
    } else {
      const auto q = random_vector(rng, kDim);
      const std::size_t k = 1 + static_cast<std::size_t>(op(rng)) % 40;
      check_same<M>(index.search(q, k), brute_force<M>(model, q, k), model, q);
      ++searches;
    }
    REQUIRE(index.size() == model.size());
  }
  for (const auto& [key, v] : model) {
    REQUIRE(index.contains(key));
    const auto stored = *index.get_vector(key);
    for (std::size_t i = 0; i < kDim; ++i) CHECK(stored[i] == doctest::Approx(v[i]).epsilon(1e-5));
  }
  std::size_t live = 0;
  index.for_each([&](KeyView key, Id, std::span<const float>) {
    CHECK(model.count(std::string(key)) == 1);
    ++live;
  });
  CHECK(live == model.size());
  CHECK(searches > 500);
}
