// Specification of what a hostile client cannot do through the library: vectors whose distances
// would overflow float are refused (and FLAT and HNSW agree on everything else, from subnormal to
// near-overflow magnitudes, under every metric); filters are bounded in size, nesting and tests;
// searches and filter evaluation stop at a deadline; a host's key predicate narrows a keyspace
// search inside it; the failure counters of the newer codes survive a snapshot.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

ErrorCode code_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("expected a vindex::Error");
  return ErrorCode::kCancelled;
}

// Vectors of every magnitude a client can send as finite floats: ordinary, tiny (down to
// subnormal), huge (some past the 2^124 bound on the squared length), zero, near the bound, with
// one enormous component.
std::vector<float> hostile_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dim);
  switch (rng() % 6) {
    case 0:  // ordinary
      for (float& x : v) x = normal(rng);
      break;
    case 1: {  // one scale anywhere from 1e-44 to 1e38
      const float scale = std::pow(10.0f, static_cast<float>(static_cast<int>(rng() % 83) - 44));
      for (float& x : v) x = normal(rng) * scale;
      break;
    }
    case 2:  // zero, or a single subnormal component
      if (rng() % 2) v[rng() % dim] = std::numeric_limits<float>::denorm_min() * static_cast<float>(1 + rng() % 5);
      break;
    case 3: {  // squared length a little under or over 2^124
      const float per = std::ldexp(1.0f, 62) / std::sqrt(static_cast<float>(dim));
      const float factor = (rng() % 2) ? 0.99f : 1.01f;
      for (float& x : v) x = (rng() % 2 ? per : -per) * factor;
      break;
    }
    case 4:  // one enormous component
      for (float& x : v) x = normal(rng);
      v[rng() % dim] = (rng() % 2 ? 1.0f : -1.0f) * 3e38f;
      break;
    default:  // mixed scales in one vector
      for (float& x : v) x = normal(rng) * std::pow(10.0f, static_cast<float>(static_cast<int>(rng() % 40) - 20));
  }
  return v;
}

// The documented rule, computed independently.
VectorFailure expected_failure(const std::vector<float>& v, Metric metric) {
  long double squared = 0;
  bool zero = true;
  for (float x : v) {
    squared += static_cast<long double>(x) * x;
    zero &= x == 0;
  }
  if (squared > std::ldexp(1.0L, 124)) return VectorFailure::kOutOfRange;
  if (zero && metric == Metric::kCosine) return VectorFailure::kZeroVector;
  return VectorFailure::kNone;
}

template <class MetricT>
void flat_and_hnsw_agree_on_hostile_magnitudes(std::uint32_t seed) {
  constexpr std::size_t kDimension = 8, kVectors = 500;
  const VectorSchema schema{kDimension, ElementType::kFloat32, MetricT::kind};
  FlatIndex<float, MetricT> flat(schema);
  HnswIndex<float, MetricT> hnsw(schema, {.m = 6, .ef_construction = 64, .ef_runtime = 10, .block_size = 64});
  std::mt19937 rng(seed);
  std::vector<std::string> stored;
  for (std::size_t i = 0; i < kVectors; ++i) {
    const std::vector<float> v = hostile_vector(rng, kDimension);
    const std::string key = "k" + std::to_string(i);
    const UpsertResult f = flat.try_upsert(key, v);
    const UpsertResult h = hnsw.try_upsert(key, v);
    const VectorFailure want = expected_failure(v, MetricT::kind);
    CHECK(f.failure == want);
    CHECK(h.failure == want);
    CHECK((f.outcome == UpsertOutcome::kRejected) == (want != VectorFailure::kNone));
    CHECK((h.outcome == UpsertOutcome::kRejected) == (want != VectorFailure::kNone));
    if (want == VectorFailure::kNone) stored.push_back(key);
  }
  for (std::size_t i = 0; i < stored.size(); i += 5) {  // erase a fifth: tombstones, then a sweep
    CHECK(flat.erase(stored[i]));
    CHECK(hnsw.erase(stored[i]));
  }
  hnsw.sweep_tombstones();
  REQUIRE(flat.size() == hnsw.size());
  for (int q = 0; q < 60; ++q) {
    const std::vector<float> query = hostile_vector(rng, kDimension);
    if (expected_failure(query, MetricT::kind) != VectorFailure::kNone) {
      CHECK(code_of([&] { flat.search(query, 10); }) == ErrorCode::kInvalidVector);
      CHECK(code_of([&] { hnsw.search(query, 10); }) == ErrorCode::kInvalidVector);
      continue;
    }
    const auto exact = flat.search(query, 10);
    // ef above the entry count: the walk reaches every node, so HNSW must give FLAT's exact answer.
    const auto approximate = hnsw.search(query, 10, {.ef = kVectors});
    CHECK(exact.size() == std::min<std::size_t>(10, flat.size()));
    REQUIRE(approximate.size() == exact.size());
    for (std::size_t i = 0; i < exact.size(); ++i) {
      CHECK(std::isfinite(exact[i].distance));
      CHECK(approximate[i].key == exact[i].key);
      CHECK(approximate[i].distance == exact[i].distance);
    }
  }
}

}  // namespace

TEST_CASE("FLAT and HNSW agree on vectors of every finite magnitude, and refuse those that could overflow") {
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    SUBCASE("L2") { flat_and_hnsw_agree_on_hostile_magnitudes<metric::L2>(seed); }
    SUBCASE("IP") { flat_and_hnsw_agree_on_hostile_magnitudes<metric::InnerProduct>(seed); }
    SUBCASE("COSINE") { flat_and_hnsw_agree_on_hostile_magnitudes<metric::Cosine>(seed); }
  }
}

TEST_CASE("HNSW: writes of vectors near ±3e38 are refused, and vectors at the bound keep the graph whole") {
  // The reproduction: ~80 such writes used to overflow every distance to +inf and crash the
  // reachability repair with an out-of-range id.
  const VectorSchema schema{4, ElementType::kFloat32, Metric::kL2};
  HnswIndex<float, metric::L2> hnsw(schema, {.m = 4, .ef_construction = 16});
  FlatIndex<float, metric::L2> flat(schema);
  std::mt19937 rng(7);
  auto sign = [&] { return rng() % 2 ? 1.0f : -1.0f; };
  for (int i = 0; i < 200; ++i) {
    const std::vector<float> huge{sign() * 3e38f, sign() * 3e38f, sign() * 3e38f, sign() * 3e38f};
    CHECK(hnsw.try_upsert("huge" + std::to_string(i), huge).failure == VectorFailure::kOutOfRange);
    // Each component 2^61 × (0.5..1): squared length up to 2^124, distances up to 2^126, all finite.
    std::vector<float> big(4);
    for (float& x : big) x = sign() * std::ldexp(0.5f + static_cast<float>(rng() % 1000) / 2000.0f, 61);
    CHECK(hnsw.try_upsert("big" + std::to_string(i), big).outcome == UpsertOutcome::kInserted);
    flat.upsert("big" + std::to_string(i), big);
  }
  for (int i = 0; i < 200; i += 3) {
    hnsw.erase("big" + std::to_string(i));
    flat.erase("big" + std::to_string(i));
  }
  hnsw.sweep_tombstones();
  const std::vector<float> query{std::ldexp(1.0f, 60), -std::ldexp(1.0f, 60), std::ldexp(1.0f, 60), 0.0f};
  const auto exact = flat.search(query, 10);
  const auto approximate = hnsw.search(query, 10, {.ef = 256});
  REQUIRE(approximate.size() == 10);
  for (std::size_t i = 0; i < 10; ++i) CHECK(approximate[i].key == exact[i].key);
  // A finite query whose distances would overflow is refused by both, not answered with 1 hit.
  const std::vector<float> overflowing{3e38f, -3e38f, 3e38f, -3e38f};
  CHECK(code_of([&] { hnsw.search(overflowing, 10); }) == ErrorCode::kInvalidVector);
  CHECK(code_of([&] { flat.search(overflowing, 10); }) == ErrorCode::kInvalidVector);
}

TEST_CASE("filters are bounded in nesting, tests and length, with an error naming the limit") {
  const Limits limits;
  auto nested = [](std::size_t levels) { return std::string(levels, '(') + "*" + std::string(levels, ')'); };
  // The top level is one level: 127 groups inside it reach the default depth of 128.
  CHECK_NOTHROW(parse_filter(nested(limits.max_filter_depth - 1)));
  CHECK(code_of([&] { parse_filter(nested(limits.max_filter_depth)); }) == ErrorCode::kLimit);
  // What used to overflow the stack: thousands of unbalanced groups, tens of thousands of negations.
  CHECK(code_of([&] { parse_filter(std::string(10000, '(')); }) == ErrorCode::kLimit);
  CHECK(code_of([&] { parse_filter(std::string(58000, '-') + "*"); }) == ErrorCode::kLimit);
  CHECK_NOTHROW(parse_filter(std::string(limits.max_filter_depth - 1, '-') + "*"));
  // Juxtaposition adds an AND level that no group or negation counts: the tree is bounded too, so
  // that evaluation, which bounds the tree, takes whatever parsing accepted (a fuzzer find).
  const IndexDefinition def{{}, "vec", {{"t", AttributeType::kTag}}};
  AttributeIndex attributes(def);
  attributes.set("a", {{true, {"x"}, 0}});
  const FilterExpr deepest = parse_filter(std::string(limits.max_filter_depth - 2, '-') + "* *");
  CHECK(filter_depth(deepest) == limits.max_filter_depth);
  CHECK(attributes.evaluate(deepest).count == 1);  // an even number of NOTs of everything
  CHECK(code_of([&] { parse_filter(std::string(limits.max_filter_depth - 1, '-') + "* *"); }) == ErrorCode::kLimit);
  CHECK(code_of([&] { parse_filter(std::string(limits.max_filter_depth - 2, '-') + "(* | * @t:{x})"); }) ==
        ErrorCode::kLimit);
  // Tests: tag values, ranges and * count; 1024 pass, 1025 do not.
  auto tags = [](std::size_t n) {
    std::string text = "@t:{v0";
    for (std::size_t i = 1; i < n; ++i) text += "|v" + std::to_string(i);
    return text + "}";
  };
  CHECK(parse_filter(tags(limits.max_filter_terms)).values().size() == limits.max_filter_terms);
  CHECK(code_of([&] { parse_filter(tags(limits.max_filter_terms + 1)); }) == ErrorCode::kLimit);
  std::string ranges;
  for (std::size_t i = 0; i <= limits.max_filter_terms; ++i) ranges += "@n:[-inf +inf] ";
  CHECK(code_of([&] { parse_filter(ranges); }) == ErrorCode::kLimit);
  // Length.
  CHECK(code_of([&] { parse_filter("@t:{" + std::string(limits.max_filter_bytes, 'a') + "}"); }) == ErrorCode::kLimit);
  // Configurable, and the message names the limit.
  try {
    parse_filter("((*))", Limits{.max_filter_depth = 2});
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kLimit);
    CHECK(std::string(e.what()).find("max_filter_depth") != std::string::npos);
  }
}

TEST_CASE("a programmatic filter deeper than the limit is refused by evaluation without recursing") {
  const IndexDefinition def{{}, "vec", {{"t", AttributeType::kTag}}};
  AttributeIndex attributes(def);
  attributes.set("a", {{true, {"x"}, 0}});
  FilterExpr deep = FilterExpr::tag_in("t", {"x"});
  for (int i = 0; i < 3000; ++i) deep = FilterExpr::negate(std::move(deep));
  CHECK(filter_depth(deep) == 3001);
  CHECK(code_of([&] { attributes.evaluate(deep); }) == ErrorCode::kLimit);
  CHECK(attributes.evaluate(deep, {}, 4000).count == 1);  // an even number of NOTs of a match
}

TEST_CASE("searches and filter evaluation stop at their deadline: an error, or flagged partial results") {
  const VectorSchema schema{16, ElementType::kFloat32, Metric::kL2};
  FlatIndex<float, metric::L2> flat(schema);
  HnswIndex<float, metric::L2> hnsw(schema, {.m = 8, .ef_construction = 32});
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const auto v = random_vector(rng, 16);
    flat.upsert("k" + std::to_string(i), v);
    hnsw.upsert("k" + std::to_string(i), v);
  }
  const auto query = random_vector(rng, 16);
  const Deadline passed(Deadline::Clock::now() - std::chrono::milliseconds(1));

  SearchStats stats;
  CHECK(flat.search(query, 10, {.stats = &stats}).size() == 10);
  CHECK(stats.distances == 3000);
  CHECK(stats.exact);
  CHECK(!stats.timed_out);
  CHECK(hnsw.search(query, 10, {.ef = 200, .stats = &stats}).size() == 10);
  CHECK(stats.distances > 200);
  CHECK(stats.expansions > 16);
  CHECK(!stats.exact);

  CHECK(code_of([&] { flat.search(query, 10, {.deadline = passed}); }) == ErrorCode::kTimeout);
  CHECK(code_of([&] { hnsw.search(query, 10, {.ef = 1000, .deadline = passed}); }) == ErrorCode::kTimeout);
  CHECK(code_of([&] { hnsw.range_search(query, 1e9, {.deadline = passed}); }) == ErrorCode::kTimeout);

  const auto partial_flat = flat.search(query, 10, {.deadline = passed, .partial_on_timeout = true, .stats = &stats});
  CHECK(stats.timed_out);
  CHECK(stats.distances == 0);  // the deadline had passed before the scan began: nothing scanned
  CHECK(partial_flat.empty());
  const auto partial_hnsw =
      hnsw.search(query, 10, {.ef = 1000, .deadline = passed, .partial_on_timeout = true, .stats = &stats});
  CHECK(stats.timed_out);
  CHECK(stats.expansions <= 32);    // stopped at its first look at the clock
  CHECK(!partial_hnsw.empty());     // the seeds of the walk

  // A deadline far away changes nothing.
  const Deadline later = Deadline::after(std::chrono::hours(1));
  CHECK(flat.search(query, 10, {.deadline = later}) == flat.search(query, 10));
  CHECK(hnsw.search(query, 10, {.ef = 64, .deadline = later}) == hnsw.search(query, 10, {.ef = 64}));

  // Filter evaluation, and a keyspace search through it.
  const IndexDefinition def{{}, "vec", {{"n", AttributeType::kNumeric}}};
  AttributeIndex attributes(def);
  for (int i = 0; i < 10000; ++i) attributes.set("k" + std::to_string(i), {{true, {}, double(i)}});
  CHECK(attributes.evaluate(parse_filter("@n:[-inf +inf]")).count == 10000);
  CHECK(code_of([&] { attributes.evaluate(parse_filter("@n:[-inf +inf]"), passed); }) == ErrorCode::kTimeout);

  MemorySource source;
  for (int i = 0; i < 500; ++i)
    source.set("k" + std::to_string(i), {{"vec", blob_of(random_vector(rng, 16))}, {"n", std::to_string(i)}});
  KeyspaceIndex<FlatIndex<float, metric::L2>> ks(def, source, std::make_unique<FlatIndex<float, metric::L2>>(schema));
  ks.start_backfill();
  while (ks.step(1000) == BackfillState::kBackfilling) {
  }
  CHECK(code_of([&] { ks.search(query, 10, "@n:[0 +inf]", {.deadline = passed}); }) == ErrorCode::kTimeout);
  CHECK(code_of([&] { ks.search(query, 10, "*", {.deadline = passed}); }) == ErrorCode::kTimeout);
}

TEST_CASE("a keyspace search keeps only keys the host's predicate accepts, and still returns k of them") {
  const VectorSchema schema{8, ElementType::kFloat32, Metric::kL2};
  const IndexDefinition def{{}, "vec", {{"n", AttributeType::kNumeric}}};
  MemorySource source;
  std::mt19937 rng(11);
  std::map<std::string, std::vector<float>> vectors;
  for (int i = 0; i < 800; ++i) {
    const std::string key = "k" + std::to_string(i);
    vectors[key] = random_vector(rng, 8);
    source.set(key, {{"vec", blob_of(vectors[key])}, {"n", std::to_string(i % 10)}});
  }
  const KeyPredicate even = [](KeyView key) { return (key.back() - '0') % 2 == 0; };
  const auto query = random_vector(rng, 8);
  auto expected = [&](auto&& matches) {
    std::vector<std::pair<double, std::string>> all;
    for (const auto& [key, v] : vectors)
      if (matches(key)) all.emplace_back(metric::L2::reference(query.data(), v.data(), 8), key);
    std::sort(all.begin(), all.end());
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < 10 && i < all.size(); ++i) keys.push_back(all[i].second);
    return keys;
  };
  auto keys_of = [](const std::vector<SearchResult>& hits) {
    std::vector<std::string> keys;
    for (const auto& h : hits) keys.push_back(h.key);
    return keys;
  };
  for (std::size_t allow_list_max : {std::size_t{0}, std::size_t{4096}}) {  // predicate and allow-list paths
    KeyspaceIndex<FlatIndex<float, metric::L2>> ks(def, source, std::make_unique<FlatIndex<float, metric::L2>>(schema),
                                                  {.allow_list_max = allow_list_max});
    ks.start_backfill();
    while (ks.step(1000) == BackfillState::kBackfilling) {
    }
    CHECK(keys_of(ks.search(query, 10, "*", {}, even)) == expected([&](const std::string& k) { return even(k); }));
    CHECK(keys_of(ks.search(query, 10, "@n:[0 4]", {}, even)) == expected([&](const std::string& k) {
            return even(k) && (std::stoi(k.substr(1)) % 10) <= 4;
          }));
    CHECK(ks.search(query, 10, "-*", {}, even).empty());
  }
  // HNSW: the predicate is applied inside the walk, so k accepted hits still come back.
  KeyspaceIndex<HnswIndex<float, metric::L2>> hnsw(def, source,
                                                   std::make_unique<HnswIndex<float, metric::L2>>(schema));
  hnsw.start_backfill();
  while (hnsw.step(1000) == BackfillState::kBackfilling) {
  }
  const auto hits = hnsw.search(query, 10, "*", {.ef = 800}, even);
  CHECK(keys_of(hits) == expected([&](const std::string& k) { return even(k); }));
}

TEST_CASE("failure counters of codes past BKFL's layout survive a snapshot in a skippable FEVX section") {
  const VectorSchema schema{4, ElementType::kFloat32, Metric::kL2};
  const IndexDefinition def{{}, "vec", {}};
  MemorySource source;
  source.set("ok", {{"vec", blob_of({1, 2, 3, 4})}});
  using Flat = FlatIndex<float, metric::L2>;
  auto saved_bytes = [&](KeyspaceIndex<Flat>& ks) {
    MemorySerializer out;
    save(ks, out);
    return out.take();
  };
  auto has_fevx = [](const std::vector<std::byte>& bytes) {
    const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return text.find("FEVX") != std::string::npos;
  };
  KeyspaceIndex<Flat> ks(def, source, std::make_unique<Flat>(schema));
  ks.start_backfill();
  while (ks.step(100) == BackfillState::kBackfilling) {
  }
  CHECK(!has_fevx(saved_bytes(ks)));  // no counter of a newer code: the bytes of the old layout

  source.set("huge", {{"vec", blob_of({3e38f, 3e38f, 0, 0})}});
  CHECK(ks.on_write("huge") == EntryOutcome::kFailed);
  CHECK(ks.failure_of("huge") == IndexingFailure::kOutOfRange);
  const std::vector<std::byte> bytes = saved_bytes(ks);
  CHECK(has_fevx(bytes));
  MemoryDeserializer in(bytes);
  const auto loaded = load_keyspace<Flat>(in, source);
  CHECK(loaded->failure_events()[IndexingFailure::kOutOfRange] == 1);
  CHECK(loaded->failures()[IndexingFailure::kOutOfRange] == 1);
  CHECK(loaded->failure_of("huge") == IndexingFailure::kOutOfRange);
  CHECK(to_string(IndexingFailure::kOutOfMemory) == "out of memory");
}
