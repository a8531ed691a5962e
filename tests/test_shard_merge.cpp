// Specification of merge_shard_hits: a page merged from per-shard top-k lists equals the page one
// index holding every entry returns.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

using namespace vindex;

namespace {

SearchResult hit(std::string key, float distance) { return SearchResult{std::move(key), kInvalidId, distance}; }

std::vector<std::string> keys_of(const std::vector<ShardHits>& shards, const MergedPage& page) {
  std::vector<std::string> out;
  for (const MergedHit& h : page.hits) out.push_back(shards[h.shard].hits[h.index].key);
  return out;
}

// What one index returns for a page: its top-k, reversed when descending, then [offset, offset+count).
std::vector<SearchResult> single_page(std::vector<SearchResult> top, const PageRequest& page) {
  if (page.descending) std::reverse(top.begin(), top.end());
  const std::size_t first = std::min(page.offset, top.size());
  const std::size_t last = std::min(top.size(), first + std::min(page.count, top.size()));
  return {top.begin() + static_cast<std::ptrdiff_t>(first), top.begin() + static_cast<std::ptrdiff_t>(last)};
}

}  // namespace

TEST_CASE("merging orders by distance, then key bytes, across shards") {
  const std::vector<SearchResult> a{hit("b", 1.0f), hit("d", 2.0f)};
  const std::vector<SearchResult> b{hit("a", 1.0f), hit("c", 2.0f), hit("e", 3.0f)};
  const std::vector<ShardHits> shards{{a, 2}, {b, 3}};
  const MergedPage page = merge_shard_hits(shards, {.k = 10, .offset = 0, .count = 10});
  CHECK(page.total == 5);
  CHECK(keys_of(shards, page) == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("key bytes compare unsigned, as inside an index") {
  const std::vector<SearchResult> a{hit(std::string("\xff", 1), 1.0f)};
  const std::vector<SearchResult> b{hit(std::string("\x01", 1), 1.0f)};
  const std::vector<ShardHits> shards{{a, 1}, {b, 1}};
  const MergedPage page = merge_shard_hits(shards, {.k = 2});
  CHECK(keys_of(shards, page) == std::vector<std::string>{"\x01", "\xff"});
}

TEST_CASE("the total is min(k, sum of found) and LIMIT cuts the page") {
  const std::vector<SearchResult> a{hit("a0", 0.0f), hit("a1", 1.0f)};
  const std::vector<SearchResult> b{hit("b0", 0.5f), hit("b1", 1.5f)};
  const std::vector<ShardHits> shards{{a, 5}, {b, 7}};
  const PageRequest request{.k = 10, .offset = 1, .count = 1};
  CHECK(shard_hits_needed(request) == 2);
  const MergedPage page = merge_shard_hits(shards, request);
  CHECK(page.total == 10);
  CHECK(keys_of(shards, page) == std::vector<std::string>{"b0"});
  // LIMIT 0 0: the count alone.
  const MergedPage none = merge_shard_hits(std::vector<ShardHits>{{{}, 5}, {{}, 7}}, {.k = 10, .offset = 0, .count = 0});
  CHECK(none.total == 10);
  CHECK(none.hits.empty());
  CHECK(shard_hits_needed({.k = 10, .offset = 0, .count = 0}) == 0);
  // An offset past the top-k: empty page, same total.
  CHECK(shard_hits_needed({.k = 3, .offset = 100, .count = 10}) == 3);
}

TEST_CASE("a descending page comes from the far end of the top-k") {
  const std::vector<SearchResult> a{hit("a", 1.0f), hit("c", 3.0f), hit("e", 5.0f)};
  const std::vector<SearchResult> b{hit("b", 2.0f), hit("d", 4.0f)};
  const std::vector<ShardHits> shards{{a, 3}, {b, 2}};
  const PageRequest request{.k = 4, .offset = 1, .count = 2, .descending = true};
  CHECK(shard_hits_needed(request) == 4);
  const MergedPage page = merge_shard_hits(shards, request);
  CHECK(page.total == 4);
  // Top 4 ascending a b c d; reversed d c b a; page [1, 3) = c b.
  CHECK(keys_of(shards, page) == std::vector<std::string>{"c", "b"});
}

TEST_CASE("a key returned by two shards counts once and keeps its closer entry") {
  const std::vector<SearchResult> a{hit("x", 2.0f), hit("y", 3.0f)};
  const std::vector<SearchResult> b{hit("x", 1.0f), hit("z", 4.0f)};
  const std::vector<ShardHits> shards{{a, 2}, {b, 2}};
  const MergedPage page = merge_shard_hits(shards, {.k = 10});
  CHECK(page.total == 3);
  REQUIRE(page.hits.size() == 3);
  CHECK(page.hits[0].shard == 1);
  CHECK(keys_of(shards, page) == std::vector<std::string>{"x", "y", "z"});
}

TEST_CASE("a shard answer that cannot give an exact page is refused") {
  const std::vector<SearchResult> two{hit("a", 1.0f), hit("b", 2.0f)};
  // More hits than found.
  CHECK_THROWS_AS(merge_shard_hits(std::vector<ShardHits>{{two, 1}}, {.k = 10}), Error);
  // Fewer hits than the page needs.
  CHECK_THROWS_AS(merge_shard_hits(std::vector<ShardHits>{{two, 5}}, {.k = 10, .offset = 0, .count = 3}), Error);
  // A descending page needs the shard's whole top-k.
  CHECK_THROWS_AS(merge_shard_hits(std::vector<ShardHits>{{two, 3}}, {.k = 3, .offset = 0, .count = 1, .descending = true}),
                  Error);
  CHECK_NOTHROW(merge_shard_hits(std::vector<ShardHits>{{two, 9}}, {.k = 10, .offset = 0, .count = 2}));
}

TEST_CASE("no shards, or shards without hits, merge to an empty page") {
  CHECK(merge_shard_hits({}, {.k = 5}).total == 0);
  const MergedPage page = merge_shard_hits(std::vector<ShardHits>{{{}, 0}, {{}, 0}}, {.k = 5, .descending = true});
  CHECK(page.total == 0);
  CHECK(page.hits.empty());
}

TEST_CASE("property: merged pages of FLAT shards equal the page of one FLAT index over the union") {
  using Flat = FlatIndex<float, metric::L2>;
  constexpr std::uint32_t kDim = 3;
  const VectorSchema schema{kDim, ElementType::kFloat32, Metric::kL2};
  std::mt19937 rng(20261127);
  // Small integer coordinates make equal distances common, so ties by key are exercised.
  std::uniform_int_distribution<int> coord(-2, 2);
  for (int round = 0; round < 40; ++round) {
    const std::size_t n_shards = 1 + rng() % 5;
    const std::size_t n = rng() % 120;
    Flat all(schema);
    std::vector<std::unique_ptr<Flat>> shards;
    for (std::size_t s = 0; s < n_shards; ++s) shards.push_back(std::make_unique<Flat>(schema));
    for (std::size_t i = 0; i < n; ++i) {
      // Binary keys of varying length, some sharing prefixes.
      std::string key = "k" + std::to_string(rng() % 1000);
      if (rng() % 4 == 0) key.push_back(static_cast<char>(rng() % 256));
      std::vector<float> v(kDim);
      for (float& x : v) x = static_cast<float>(coord(rng));
      if (all.contains(key)) continue;
      all.upsert(key, v);
      shards[rng() % n_shards]->upsert(key, v);
    }
    for (int q = 0; q < 25; ++q) {
      std::vector<float> query(kDim);
      for (float& x : query) x = static_cast<float>(coord(rng)) * 0.5f;
      PageRequest request;
      request.k = 1 + rng() % 40;
      request.offset = rng() % 50;
      request.count = rng() % 30;
      request.descending = rng() % 3 == 0;
      const std::size_t m = shard_hits_needed(request);
      std::vector<std::vector<SearchResult>> lists;
      std::vector<ShardHits> answers;
      for (const auto& shard : shards) {
        std::vector<SearchResult> top = shard->search(query, request.k);
        const std::size_t found = top.size();
        top.resize(std::min(top.size(), m));
        lists.push_back(std::move(top));
        answers.push_back({{}, found});
      }
      for (std::size_t s = 0; s < shards.size(); ++s) answers[s].hits = lists[s];
      const MergedPage merged = merge_shard_hits(answers, request);
      const std::vector<SearchResult> top = all.search(query, request.k);
      const std::vector<SearchResult> want = single_page(top, request);
      CHECK(merged.total == top.size());
      REQUIRE(merged.hits.size() == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        const SearchResult& got = answers[merged.hits[i].shard].hits[merged.hits[i].index];
        CHECK(got.key == want[i].key);
        CHECK(std::memcmp(&got.distance, &want[i].distance, sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("property: shards searched with a key predicate (KeyspaceIndex keep) merge to the union's page") {
  // One keyspace holds entries of every "slot"; shard s is the same index searched with
  // keep = (slot(key) == s), as a cluster node holding keys it does not own would be.
  using Flat = FlatIndex<float, metric::L2>;
  constexpr std::uint32_t kDim = 2;
  MemorySource source;
  const IndexDefinition definition{{"p:"}, "v", {{"t", AttributeType::kTag}}};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> coord(-3, 3);
  for (int i = 0; i < 300; ++i) {
    float v[kDim] = {static_cast<float>(coord(rng)), static_cast<float>(coord(rng))};
    source.hset("p:" + std::to_string(i), "v", std::string(reinterpret_cast<const char*>(v), sizeof v));
    source.hset("p:" + std::to_string(i), "t", i % 3 == 0 ? "red" : "blue");
  }
  KeyspaceIndex<Flat> index(definition, source,
                            std::make_unique<Flat>(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2}));
  index.start_backfill();
  while (index.step(1000) == BackfillState::kBackfilling) {
  }
  REQUIRE(index.size() == 300);
  const auto slot = [](KeyView key) { return std::hash<KeyView>{}(key) % 4; };
  for (const char* filter : {"*", "@t:{red}", "-@t:{red}"}) {
    for (int q = 0; q < 30; ++q) {
      const std::vector<float> query{static_cast<float>(coord(rng)), static_cast<float>(coord(rng))};
      PageRequest request{.k = 1 + rng() % 60, .offset = rng() % 20, .count = rng() % 20, .descending = rng() % 2 == 0};
      const std::size_t m = shard_hits_needed(request);
      std::vector<std::vector<SearchResult>> lists(4);
      std::vector<ShardHits> answers(4);
      for (std::size_t s = 0; s < 4; ++s) {
        lists[s] = index.search(query, request.k, filter, {}, [&](KeyView key) { return slot(key) == s; });
        answers[s].found = lists[s].size();
        lists[s].resize(std::min(lists[s].size(), m));
        answers[s].hits = lists[s];
      }
      const MergedPage merged = merge_shard_hits(answers, request);
      const std::vector<SearchResult> top = index.search(query, request.k, filter);
      const std::vector<SearchResult> want = single_page(top, request);
      CHECK(merged.total == top.size());
      REQUIRE(merged.hits.size() == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        CHECK(answers[merged.hits[i].shard].hits[merged.hits[i].index].key == want[i].key);
        CHECK(answers[merged.hits[i].shard].hits[merged.hits[i].index].distance == want[i].distance);
      }
    }
  }
}
