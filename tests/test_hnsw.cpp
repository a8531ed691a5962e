// Specification of HnswIndex: the FlatIndex contract (exact when ef covers the index), deletion,
// replacement, filters, range search, bad input, determinism and the persistence hooks.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "vindex/index/hnsw/candidate_pool.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

template <class MetricT>
struct Fixture {
  static constexpr std::uint32_t kDim = 19;  // odd, so SIMD tails are exercised
  HnswIndex<float, MetricT> index{VectorSchema{kDim, ElementType::kFloat32, MetricT::kind},
                                  HnswParams{.m = 8, .ef_construction = 64, .initial_cap = 8, .block_size = 32}};
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

template <class F>
ErrorCode code_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kCancelled;
}

}  // namespace

TEST_CASE_TEMPLATE("HnswIndex with ef >= size agrees with brute force, with and without filters", M, metric::L2,
                   metric::InnerProduct, metric::Cosine) {
  Fixture<M> f;
  f.fill(300);
  const SearchOptions all{.ef = 300};
  for (int t = 0; t < 20; ++t) {
    const auto q = random_vector(f.rng, f.kDim);
    for (std::size_t k : {1u, 7u, 100u, 300u, 1000u})
      check_same<M>(f.index.search(q, k, all), brute_force<M>(f.model, q, k), f.model, q);
    auto keep = [](const std::string& key) { return key.back() % 3 == 0; };
    auto pred = Filter::by_predicate([&](KeyView key, Id) { return keep(std::string(key)); });
    check_same<M>(f.index.search(q, 10, {.ef = 300, .filter = &pred}), brute_force<M>(f.model, q, 10, keep),
                  f.model, q);
    // The same predicate, claimed to be unselective, goes through the graph walk: still only matches.
    auto walked = Filter::by_predicate([&](KeyView key, Id) { return keep(std::string(key)); }, 300);
    check_same<M>(f.index.search(q, 10, {.ef = 300, .filter = &walked}), brute_force<M>(f.model, q, 10, keep),
                  f.model, q);
    std::vector<Key> few = {"k5", "k17", "k200", "absent"};
    auto allow = Filter::allow_keys(few);
    auto keep_few = [&](const std::string& key) { return key == "k5" || key == "k17" || key == "k200"; };
    check_same<M>(f.index.search(q, 10, {.filter = &allow}), brute_force<M>(f.model, q, 10, keep_few), f.model, q);
    auto none = Filter::allow_ids({});
    CHECK(f.index.search(q, 10, {.filter = &none}).empty());
  }
}

// The capabilities hosts branch on (index/capabilities.hpp): the Redis module maintains an HNSW
// index and compares its snapshot's parameters, and must not try either with FLAT.
// HnswIndex offers every one; FlatIndex its limits and memory resource only. Checked at compile time.
static_assert(BoundedIndex<HnswIndex<float, metric::L2>> && AllocatingIndex<HnswIndex<float, metric::L2>>);
static_assert(BatchingIndex<HnswIndex<float, metric::L2>> && MaintainedIndex<HnswIndex<float, metric::L2>>);
static_assert(GraphIndex<HnswIndex<float, metric::L2>>);
static_assert(BoundedIndex<FlatIndex<float, metric::L2>> && AllocatingIndex<FlatIndex<float, metric::L2>>);
static_assert(!BatchingIndex<FlatIndex<float, metric::L2>> && !MaintainedIndex<FlatIndex<float, metric::L2>>);
static_assert(!GraphIndex<FlatIndex<float, metric::L2>>);

TEST_CASE("an empty HnswIndex returns nothing and holds almost no memory") {
  HnswIndex<float, metric::L2> index(VectorSchema{3});
  const std::vector<float> q = {1, 2, 3};
  CHECK(index.search(q, 10).empty());
  CHECK(index.range_search(q, 100).empty());
  CHECK(index.size() == 0);
  CHECK(index.memory_bytes() < 1024);
  CHECK(index.deleted_memory_bytes() == 0);
}

TEST_CASE("upsert: insert, replace (re-linked), and an unchanged vector is a no-op") {
  HnswIndex<float, metric::Cosine> index(VectorSchema{3, ElementType::kFloat32, Metric::kCosine});
  CHECK(index.upsert("x", std::vector<float>{1, 2, 3}) == UpsertOutcome::kInserted);
  CHECK(index.upsert("y", std::vector<float>{3, 2, 1}) == UpsertOutcome::kInserted);
  CHECK(index.upsert("x", std::vector<float>{1, 2, 3}) == UpsertOutcome::kUnchanged);
  CHECK(index.upsert("x", std::vector<float>{2, 4, 6}) == UpsertOutcome::kUpdated);
  const auto given_back = *index.get_vector("x");
  CHECK(given_back[0] == doctest::Approx(2.0f));
  CHECK(given_back[2] == doctest::Approx(6.0f));
  CHECK(index.upsert_blob("x", to_float32_blob(std::vector<float>{0, 0, 5})) == UpsertOutcome::kUpdated);
  CHECK((*index.get_vector("x"))[2] == doctest::Approx(5.0f));
  CHECK(index.size() == 2);
  const auto hits = index.search(std::vector<float>{0, 0, 1}, 5);
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].key == "x");
  CHECK(hits[0].distance == doctest::Approx(0.0f).epsilon(1e-6));
  CHECK_FALSE(index.get_vector("z").has_value());
}

TEST_CASE("erase removes at once, repairs the graph, and slots are reused") {
  HnswIndex<float, metric::L2> index(VectorSchema{8}, HnswParams{.m = 8, .initial_cap = 16, .block_size = 16});
  std::mt19937 rng(3);
  Model model;
  for (int i = 0; i < 400; ++i) {
    auto v = random_vector(rng, 8);
    index.upsert("k" + std::to_string(i), v);
    model["k" + std::to_string(i)] = v;
  }
  const std::size_t full = index.memory_bytes();
  CHECK(index.erase("k3"));
  CHECK_FALSE(index.erase("k3"));
  CHECK_FALSE(index.erase("never"));
  CHECK_FALSE(index.contains("k3"));
  CHECK(index.deleted_memory_bytes() > 0);
  model.erase("k3");
  const auto q = model["k4"];
  for (const auto& hit : index.search(q, 400, {.ef = 400})) CHECK(hit.key != "k3");
  CHECK(index.search(q, 400, {.ef = 400}).size() == 399);
  // Erase half: sweeps run, freed slots are reused, memory does not grow.
  for (int i = 0; i < 400; i += 2) {
    index.erase("k" + std::to_string(i));
    model.erase("k" + std::to_string(i));
  }
  for (int i = 0; i < 200; ++i) {
    auto v = random_vector(rng, 8);
    index.upsert("n" + std::to_string(i), v);
    model["n" + std::to_string(i)] = v;
  }
  CHECK(index.memory_bytes() <= full + 4096);
  CHECK(index.size() == model.size());
  // Every live entry stays reachable: with ef covering the index, search is exact.
  for (int t = 0; t < 20; ++t) {
    const auto query = random_vector(rng, 8);
    check_same<metric::L2>(index.search(query, 50, {.ef = 500}), brute_force<metric::L2>(model, query, 50), model,
                           query);
  }
}

TEST_CASE("compact reclaims the memory of erased entries and keeps results") {
  HnswIndex<float, metric::L2> index(VectorSchema{8}, HnswParams{.m = 6, .initial_cap = 16, .block_size = 16});
  std::mt19937 rng(5);
  Model model;
  for (int i = 0; i < 300; ++i) {
    auto v = random_vector(rng, 8);
    index.upsert("k" + std::to_string(i), v);
    model["k" + std::to_string(i)] = v;
  }
  for (int i = 0; i < 300; i += 2) {
    index.erase("k" + std::to_string(i));
    model.erase("k" + std::to_string(i));
  }
  const std::size_t before = index.memory_bytes();
  CHECK(index.deleted_memory_bytes() > 100 * 32);
  CHECK(index.compact() > 0);
  CHECK(index.deleted_memory_bytes() == 0);
  CHECK(index.memory_bytes() < before - 100 * 32);
  CHECK(index.size() == 150);
  for (int t = 0; t < 10; ++t) {
    const auto q = random_vector(rng, 8);
    check_same<metric::L2>(index.search(q, 20, {.ef = 150}), brute_force<metric::L2>(model, q, 20), model, q);
  }
  index.upsert("after", random_vector(rng, 8));
  CHECK(index.size() == 151);
  index.clear();
  CHECK(index.size() == 0);
  CHECK(index.search(random_vector(rng, 8), 3).empty());
}

TEST_CASE("range_search on a larger index finds what brute force finds") {
  HnswIndex<float, metric::L2> index(VectorSchema{8}, HnswParams{.m = 8});
  std::mt19937 rng(9);
  Model model;
  for (int i = 0; i < 2000; ++i) {
    auto v = random_vector(rng, 8);
    index.upsert("k" + std::to_string(i), v);
    model["k" + std::to_string(i)] = v;
  }
  std::size_t want = 0, got = 0;
  for (int t = 0; t < 20; ++t) {
    const auto q = random_vector(rng, 8);
    const double radius = 4.0;
    const auto all = brute_force<metric::L2>(model, q, model.size());
    for (const auto& h : all) want += h.distance <= radius * (1 - 1e-5) ? 1 : 0;
    const auto hits = index.range_search(q, radius, {.epsilon = 0.2});
    for (const auto& h : hits) {
      CHECK(h.distance <= radius);
      CHECK(h.distance == doctest::Approx(ref_distance<metric::L2>(q, model[h.key])).epsilon(1e-4));
    }
    got += hits.size();
  }
  MESSAGE("range search found " << got << " of " << want << " entries within the radius");
  CHECK(got >= want * 95 / 100);
}

TEST_CASE("bad input gets a clear error and leaves the index unchanged") {
  HnswIndex<float, metric::Cosine> index(VectorSchema{4, ElementType::kFloat32, Metric::kCosine});
  index.upsert("a", std::vector<float>{1, 0, 0, 0});
  const auto before = index.search(std::vector<float>{1, 1, 0, 0}, 10);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(code_of([&] { index.upsert_blob("a", std::string(15, 'x')); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.upsert("a", std::vector<float>{1, 0, 0}); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.upsert("a", std::vector<float>{1, nan, 0, 0}); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.upsert("b", std::vector<float>{0, 0, 0, 0}); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0}, 1); }) == ErrorCode::kSchemaMismatch);
  CHECK(code_of([&] { index.search(std::vector<float>{0, 0, 0, 0}, 1); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 0); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 10001); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 1, {.ef = 0}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.search(std::vector<float>{1, 0, 0, 0}, 1, {.ef = 5000}); }) ==
        ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.range_search(std::vector<float>{1, 0, 0, 0}, -1); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.range_search(std::vector<float>{1, 0, 0, 0}, nan); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.range_search(std::vector<float>{1, 0, 0, 0}, 1, {.epsilon = -1}); }) ==
        ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { index.upsert(std::string(2 << 20, 'k'), std::vector<float>{1, 0, 0, 0}); }) ==
        ErrorCode::kInvalidArgument);
  const std::vector<float> good = {0, 1, 0, 0}, bad = {0, 0, 0, 0};
  const std::vector<HnswIndex<float, metric::Cosine>::BatchItem> batch = {{"g", good}, {"z", bad}};
  CHECK(code_of([&] { index.insert_batch(batch, 2); }) == ErrorCode::kInvalidVector);
  CHECK_FALSE(index.contains("g"));
  using Cos = HnswIndex<float, metric::Cosine>;
  const std::string good_blob = to_float32_blob(good);
  auto no_threads = [](std::function<void()>) { throw std::runtime_error("unused"); };
  std::vector<UpsertResult> results(2);
  const std::vector<Cos::BlobItem> repeated = {{"g", good_blob}, {"g", good_blob}};
  CHECK(code_of([&] { index.try_upsert_blobs(repeated, results, 2, no_threads); }) == ErrorCode::kInvalidArgument);
  const std::vector<Cos::BlobItem> too_long = {{"g", good_blob}, {std::string(2 << 20, 'k'), good_blob}};
  CHECK(code_of([&] { index.try_upsert_blobs(too_long, results, 2, no_threads); }) == ErrorCode::kInvalidArgument);
  const std::vector<Cos::BlobItem> one = {{"g", good_blob}};
  CHECK(code_of([&] { index.try_upsert_blobs(one, results, 2, no_threads); }) == ErrorCode::kInvalidArgument);
  CHECK_FALSE(index.contains("g"));
  const auto r = index.try_upsert_blob("c", to_float32_blob(std::vector<float>{0, 0, 0, 0}));
  CHECK(r.outcome == UpsertOutcome::kRejected);
  CHECK(r.failure == VectorFailure::kZeroVector);
  CHECK(index.size() == 1);
  CHECK(index.get_vector("a") == std::vector<float>{1, 0, 0, 0});
  CHECK(index.search(std::vector<float>{1, 1, 0, 0}, 10) == before);
}

TEST_CASE("parameters outside the limits are refused") {
  using L2Index = HnswIndex<float, metric::L2>;
  CHECK(code_of([] { L2Index(VectorSchema{4, ElementType::kFloat32, Metric::kIP}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{4}, HnswParams{.m = 1}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{4}, HnswParams{.m = 513}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{4}, HnswParams{.ef_construction = 0}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{4}, HnswParams{.ef_runtime = 4097}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{4}, HnswParams{.block_size = 0}); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { L2Index(VectorSchema{0}); }) == ErrorCode::kInvalidArgument);
}

namespace {
template <class Index>
std::vector<HnswNodeData> export_nodes(const Index& index, HnswGraphInfo& info) {
  std::vector<HnswNodeData> nodes;
  info = index.export_graph([&](const HnswNodeData& n) { nodes.push_back(n); });
  return nodes;
}
}  // namespace

TEST_CASE("the same seed and insertion order give the same graph") {
  auto build = [](std::uint64_t seed) {
    auto index = std::make_unique<HnswIndex<float, metric::L2>>(VectorSchema{6}, HnswParams{.m = 5, .seed = seed});
    std::mt19937 rng(11);
    for (int i = 0; i < 500; ++i) index->upsert("k" + std::to_string(i), random_vector(rng, 6));
    HnswGraphInfo info;
    auto nodes = export_nodes(*index, info);
    return std::pair(info, nodes);
  };
  const auto [info_a, nodes_a] = build(7);
  const auto [info_b, nodes_b] = build(7);
  const auto [info_c, nodes_c] = build(8);
  CHECK(info_a.entry_point == info_b.entry_point);
  CHECK(info_a.level_generator_state == info_b.level_generator_state);
  REQUIRE(nodes_a.size() == nodes_b.size());
  bool same = true, same_as_other_seed = nodes_a.size() == nodes_c.size();
  for (std::size_t i = 0; i < nodes_a.size(); ++i) {
    same = same && nodes_a[i].links == nodes_b[i].links;
    same_as_other_seed = same_as_other_seed && nodes_a[i].links == nodes_c[i].links;
  }
  CHECK(same);
  CHECK_FALSE(same_as_other_seed);
}

TEST_CASE_TEMPLATE("export then restore gives identical search results", M, metric::L2, metric::Cosine) {
  Fixture<M> f;
  f.fill(600);
  for (int i = 0; i < 600; i += 5) f.index.erase("k" + std::to_string(i));  // tombstones and holes
  f.index.sweep_tombstones();
  HnswGraphInfo info;
  const auto nodes = export_nodes(f.index, info);
  CHECK(nodes.size() == f.index.size());
  HnswIndex<float, M> restored(f.index.schema(), f.index.params(), f.index.limits(), info, nodes);
  CHECK(restored.size() == f.index.size());
  for (int t = 0; t < 30; ++t) {
    const auto q = random_vector(f.rng, f.kDim);
    CHECK(restored.search(q, 10, {.ef = 40}) == f.index.search(q, 10, {.ef = 40}));
  }
  // Both continue identically: the level generator state travelled too.
  const auto v = random_vector(f.rng, f.kDim);
  restored.upsert("new", v);
  f.index.upsert("new", v);
  CHECK(*restored.get_vector("k1") == *f.index.get_vector("k1"));
  CHECK(restored.search(v, 5, {.ef = 40}) == f.index.search(v, 5, {.ef = 40}));
}

TEST_CASE("restoring corrupt graph data fails with kCorruptData and names the problem") {
  Fixture<metric::L2> f;
  f.fill(100);
  HnswGraphInfo info;
  const auto good = export_nodes(f.index, info);
  const auto schema = f.index.schema();
  const auto params = f.index.params();
  auto fails = [&](auto mutate) {
    auto nodes = good;
    auto bad_info = info;
    mutate(nodes, bad_info);
    return code_of([&] { HnswIndex<float, metric::L2> r(schema, params, Limits{}, bad_info, nodes); });
  };
  using Nodes = std::vector<HnswNodeData>;
  CHECK(fails([](Nodes&, HnswGraphInfo&) {}) == ErrorCode::kCancelled);  // the untouched data loads
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].links[0].push_back(100000); }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].links[0].assign(17, n[4].id); }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].key = n[4].key; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].id = n[4].id; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].id = 4000000; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].vector.pop_back(); }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) { n[3].links.clear(); }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes&, HnswGraphInfo& i) { i.entry_point = 99999; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes&, HnswGraphInfo& i) { i.max_level += 1; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes&, HnswGraphInfo& i) { i.level_generator_state = "garbage"; }) == ErrorCode::kCorruptData);
  CHECK(fails([](Nodes& n, HnswGraphInfo&) {
          // A layer-1 link to a node that only lives on layer 0.
          for (auto& node : n)
            if (node.links.size() > 1)
              for (auto& other : n)
                if (other.links.size() == 1) {
                  node.links[1].assign(1, other.id);
                  return;
                }
        }) == ErrorCode::kCorruptData);
}

TEST_CASE("memory per vector is reported, split by purpose") {
  HnswIndex<float, metric::L2> index(VectorSchema{128});
  std::mt19937 rng(1);
  for (int i = 0; i < 4096; ++i) index.upsert(std::to_string(i), random_vector(rng, 128));
  const HnswMemory m = index.memory_breakdown();
  CHECK(m.total() == index.memory_bytes());
  const double per_vector = double(m.total()) / double(index.size());
  MESSAGE("bytes per vector at d=128, M=16: " << per_vector << " (vectors " << double(m.vectors) / 4096 << ", links "
                                              << double(m.links) / 4096 << ", keys " << double(m.keys) / 4096
                                              << ", other " << double(m.other) / 4096 << ")");
  CHECK(m.vectors >= 4096 * 512);
  CHECK(per_vector < 800);
}

TEST_CASE("CandidatePool keeps the closest `capacity` candidates in order and expands each once, closest first") {
  struct C {
    float distance;
    Id id;
  };
  struct Closer {
    bool operator()(const C& a, const C& b) const noexcept {
      return a.distance != b.distance ? a.distance < b.distance : a.id < b.id;
    }
  };
  std::mt19937 rng(7);
  for (std::size_t capacity : {1u, 2u, 5u, 16u, 64u}) {
    detail::CandidatePool<C, Closer> pool;
    pool.reset(capacity);
    // The model: every candidate offered, sorted, with its expanded flag; the pool holds its first
    // `capacity` (one offered when the pool is full and not closer than its farthest is dropped).
    std::vector<std::pair<C, bool>> model;
    std::uniform_int_distribution<int> op(0, 9), dist(0, 40);  // few distances: ties by id
    Id next_id = 0;
    for (int step = 0; step < 2000; ++step) {
      if (op(rng) < 7) {
        const C c{float(dist(rng)), next_id++};
        pool.insert(c);
        model.push_back({c, false});
        std::sort(model.begin(), model.end(), [](const auto& a, const auto& b) { return Closer{}(a.first, b.first); });
        if (model.size() > capacity) model.resize(capacity);
      } else {
        C got{};
        const auto first = std::find_if(model.begin(), model.end(), [](const auto& e) { return !e.second; });
        const C* peeked = pool.peek_next();
        REQUIRE(pool.expand_next(got) == (first != model.end()));
        REQUIRE((peeked != nullptr) == (first != model.end()));
        if (first != model.end()) {
          CHECK(got.id == first->first.id);
          CHECK(peeked->id == got.id);
          first->second = true;
        }
      }
      REQUIRE(pool.size() == model.size());
      CHECK(pool.full() == (model.size() == capacity));
      for (std::size_t i = 0; i < model.size(); ++i) REQUIRE(pool.begin()[i].id == model[i].first.id);
    }
    pool.reset(capacity);  // a new walk starts empty
    CHECK(pool.size() == 0);
    C none{};
    CHECK_FALSE(pool.expand_next(none));
  }
}

// An unfiltered walk runs on a CandidatePool (ef up to 256), a filtered one on two heaps: with a filter
// that keeps everything they must expand the same nodes and return the same answers.
namespace {
using HnswL2 = HnswIndex<float, metric::L2>;
using HnswIp = HnswIndex<float, metric::InnerProduct>;
using HnswCosine = HnswIndex<float, metric::Cosine>;
using HnswL2Sq8 = HnswIndex<float, metric::L2, Sq8>;
using HnswCosineSq8 = HnswIndex<float, metric::Cosine, Sq8>;
}  // namespace

TEST_CASE_TEMPLATE("an unfiltered walk and one filtered by a keep-all predicate do the same work and agree",
                   Index, HnswL2, HnswIp, HnswCosine, HnswL2Sq8, HnswCosineSq8) {
  constexpr std::uint32_t kDim = 19;
  using M = typename Index::Metric;
  Index index(VectorSchema{kDim, ElementType::kFloat32, M::kind}, HnswParams{.m = 8, .ef_construction = 64});
  std::mt19937 rng(11);
  for (int i = 0; i < 3000; ++i) index.upsert("k" + std::to_string(i), random_vector(rng, kDim));
  const Filter keep_all = Filter::by_predicate([](KeyView, Id) { return true; });
  for (std::size_t ef : {1u, 10u, 64u, 256u}) {
    for (int q = 0; q < 30; ++q) {
      const auto query = random_vector(rng, kDim);
      const std::size_t k = std::min<std::size_t>(ef, 10);
      SearchStats plain_stats, filtered_stats;
      const auto plain = index.search(query, k, {.ef = ef, .stats = &plain_stats});
      const auto filtered = index.search(query, k, {.ef = ef, .filter = &keep_all, .stats = &filtered_stats});
      REQUIRE_FALSE(filtered_stats.exact);  // walked, not scanned
      CHECK(plain_stats.distances == filtered_stats.distances);
      CHECK(plain_stats.expansions == filtered_stats.expansions);
      REQUIRE(plain.size() == filtered.size());
      for (std::size_t i = 0; i < plain.size(); ++i) {
        CHECK(plain[i].key == filtered[i].key);
        CHECK(plain[i].distance == filtered[i].distance);
      }
    }
  }
}
