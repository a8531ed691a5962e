// The contract FlatIndex and HnswIndex share (the VectorIndex concept, index/front_end.hpp): one
// specification run over both index types, in place of a copy per type. What only one type does
// (FLAT's search_batch, HNSW's filtered walk) is checked here too, under `if constexpr`; the rest
// of each type's behaviour is in test_flat.cpp and test_hnsw.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

using namespace vindex;

namespace {

// An index type of the contract, for a metric: Kind<FlatIndex>::Of<metric::L2>.
template <template <class...> class IndexT>  // (both have a third, defaulted parameter)
struct Kind {
  template <class MetricT>
  using Of = IndexT<float, MetricT>;
};
using Flat = Kind<FlatIndex>;
using Hnsw = Kind<HnswIndex>;

}  // namespace

TEST_CASE_TEMPLATE("ties in distance are broken by key", K, Flat, Hnsw) {
  typename K::template Of<metric::L2> index(VectorSchema{2});
  const std::vector<float> v = {1, 1};
  for (const char* key : {"d", "b", "a", "c"}) index.upsert(key, v);
  index.upsert("e", std::vector<float>{0, 0});
  const auto hits = index.search(std::vector<float>{1, 1}, 3);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].key == "a");
  CHECK(hits[1].key == "b");
  CHECK(hits[2].key == "c");
  if constexpr (requires { index.search_batch(std::vector<float>{1, 1}, 3); }) {
    const auto batch = index.search_batch(std::vector<float>{1, 1}, 3);
    CHECK(batch[0] == hits);
  }
}

TEST_CASE_TEMPLATE("keys are binary-safe", K, Flat, Hnsw) {
  typename K::template Of<metric::L2> index(VectorSchema{2});
  const std::string a("doc\0one", 7), b("doc\0two", 7), c("doc", 3);
  index.upsert(a, std::vector<float>{0, 0});
  index.upsert(b, std::vector<float>{1, 0});
  index.upsert(c, std::vector<float>{2, 0});
  CHECK(index.size() == 3);
  CHECK(index.contains(a));
  CHECK_FALSE(index.contains(std::string("doc\0thr", 7)));
  const auto hits = index.search(std::vector<float>{0.9f, 0}, 3);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].key == b);
  CHECK(hits[1].key == a);
  CHECK(hits[2].key == c);
}

TEST_CASE_TEMPLATE("range_search returns every entry within the radius, closest first", K, Flat, Hnsw) {
  typename K::template Of<metric::L2> index(VectorSchema{1});
  for (int i = 0; i < 10; ++i) index.upsert("k" + std::to_string(i), std::vector<float>{float(i)});
  const auto hits = index.range_search(std::vector<float>{4.0f}, 4.0);  // squared: |x-4| <= 2
  REQUIRE(hits.size() == 5);
  CHECK(hits[0].key == "k4");
  CHECK(hits[0].distance == 0.0f);
  CHECK(hits[1].key == "k3");
  CHECK(hits[2].key == "k5");
  CHECK(hits[4].distance == 4.0f);
  auto odd = Filter::by_predicate([](KeyView key, Id) { return (key.back() - '0') % 2 == 1; });
  CHECK(index.range_search(std::vector<float>{4.0f}, 4.0, {.filter = &odd}).size() == 2);
  CHECK(index.range_search(std::vector<float>{100.0f}, 1.0).empty());
}

TEST_CASE_TEMPLATE("COSINE normalises the query on every path", K, Flat, Hnsw) {
  typename K::template Of<metric::Cosine> index(VectorSchema{2, ElementType::kFloat32, Metric::kCosine});
  index.upsert("east", std::vector<float>{10, 0});
  index.upsert("north", std::vector<float>{0, 0.1f});
  const std::vector<float> q = {100, 100};  // 45°: cosine distance 1 - √½ to both
  auto filter = Filter::allow_keys({"north"});
  // A predicate expected to match many entries: HNSW walks the graph with it instead of scanning.
  auto walked = Filter::by_predicate([](KeyView, Id) { return true; }, 1000);
  std::vector<std::vector<SearchResult>> paths = {index.search(q, 2), index.range_search(q, 0.3),
                                                  index.search(q, 2, {.filter = &filter}),
                                                  index.search(q, 2, {.filter = &walked})};
  if constexpr (requires { index.search_batch(q, 2); }) paths.push_back(index.search_batch(q, 2)[0]);
  for (const auto& hits : paths) {
    REQUIRE_FALSE(hits.empty());
    for (const auto& h : hits) CHECK(h.distance == doctest::Approx(1 - std::sqrt(0.5)).epsilon(1e-5));
  }
}
