// SQ8 FLAT: FlatIndex<float, M, Sq8> scans 8-bit codes and re-ranks on its floats. Checked against
// brute force (exact distances, the exact answer once every entry is re-ranked), the float FLAT
// (identical before training), filters, range search, erasure, updates, compaction, memory, recall
// on siftsmall, and snapshots that keep the quantizer (and refuse a damaged one).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "support/snapshot_checks.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"
#include "vindex_datasets.hpp"

using namespace vindex;
using vindex_test::Model;

namespace {

std::vector<float> gaussian(std::size_t count, std::size_t dim, std::uint32_t seed, float mean = 0, float sd = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(mean, sd);
  std::vector<float> out(count * dim);
  for (float& x : out) x = nd(rng);
  return out;
}

template <class MetricT>
VectorSchema schema_of(std::uint32_t dim) {
  return VectorSchema{dim, ElementType::kFloat32, MetricT::kind};
}

template <class MetricT>
std::size_t code_slot_bytes(std::size_t dim) {
  return detail::Sq8Codes<MetricT>::bytes(dim);
}

std::vector<float> row(const std::vector<float>& data, std::size_t i, std::size_t dim) {
  return {data.begin() + static_cast<std::ptrdiff_t>(i * dim), data.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim)};
}

}  // namespace

TEST_CASE_TEMPLATE("FlatIndex<float, M, Sq8>: untrained it is the float FLAT; trained, exact distances and brute force",
                   MetricT, metric::L2, metric::InnerProduct, metric::Cosine) {
  const std::uint32_t dim = 24;
  const std::size_t n = Sq8::kTrainAt + 500;
  const auto data = gaussian(n, dim, 7);
  FlatIndex<float, MetricT, Sq8> index(schema_of<MetricT>(dim));
  FlatIndex<float, MetricT> plain(schema_of<MetricT>(dim));
  Model model;
  const auto queries = gaussian(30, dim, 8);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    index.upsert(key, row(data, i, dim));
    plain.upsert(key, row(data, i, dim));
    model[key] = row(data, i, dim);
    if (i + 1 == Sq8::kTrainAt - 1) {
      CHECK_FALSE(index.quantizer_stats().trained);
      for (std::size_t q = 0; q < 5; ++q) {
        const auto query = row(queries, q, dim);
        const auto a = index.search(query, 10), b = plain.search(query, 10);
        REQUIRE(a.size() == b.size());
        for (std::size_t r = 0; r < a.size(); ++r) {
          CHECK(a[r].key == b[r].key);
          CHECK(a[r].distance == b[r].distance);
        }
      }
    }
  }
  const QuantizerStats stats = index.quantizer_stats();
  CHECK(stats.trained);
  CHECK(stats.trained_on == Sq8::kTrainAt);
  CHECK(stats.encoded_since == n);
  // The codes are a part of their own (DIM bytes and the L2 term, a vector), over the float FLAT's.
  const FlatMemory parts = index.memory_breakdown(), plain_parts = plain.memory_breakdown();
  CHECK(parts.total() == index.memory_bytes());
  CHECK(plain_parts.total() == plain.memory_bytes());
  CHECK(plain_parts.codes == 0);
  CHECK(parts.codes >= n * code_slot_bytes<MetricT>(dim));
  CHECK(parts.vectors == plain_parts.vectors);
  CHECK(index.memory_bytes() == plain.memory_bytes() + parts.codes);
  std::size_t found = 0, total = 0;
  for (std::size_t q = 0; q < queries.size() / dim; ++q) {
    const auto query = row(queries, q, dim);
    const auto want = vindex_test::brute_force<MetricT>(model, query, 10);
    // Every entry re-ranked (256 · 10 > n): brute force, with exact distances.
    vindex_test::check_same<MetricT>(index.search(query, 10, {.rerank = Sq8::kMaxRerank}), want, model, query);
    // The default re-ranking: exact distances, nearly all of the true top 10.
    const auto got = index.search(query, 10);
    REQUIRE(got.size() == 10);
    for (const auto& r : got) {
      CHECK(std::abs(r.distance - vindex_test::ref_distance<MetricT>(query, model[r.key])) <=
            1e-4 * std::max(1.0, std::abs(double(r.distance))));
      for (const auto& w : want) found += w.key == r.key;
    }
    total += want.size();
  }
  MESSAGE("SQ8 FLAT recall@10 at rerank 2 on 1524 Gaussian vectors (dim 24): " << double(found) / double(total));
  CHECK(double(found) / double(total) >= 0.97);
}

TEST_CASE("FlatIndex<float, L2, Sq8>: filters, range search, erasure, updates and rerank bounds") {
  const std::uint32_t dim = 16;
  const std::size_t n = 3000;
  const auto data = gaussian(n, dim, 11);
  FlatIndex<float, metric::L2, Sq8> index(schema_of<metric::L2>(dim));
  Model model;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    index.upsert(key, row(data, i, dim));
    model[key] = row(data, i, dim);
  }
  for (std::size_t i = 0; i < n; i += 3) {
    CHECK(index.erase("k" + std::to_string(i)));
    model.erase("k" + std::to_string(i));
  }
  // An update moves a vector: its codes move with it.
  const auto moved = gaussian(1, dim, 99, 0.0f, 0.2f);
  CHECK(index.upsert("k1", moved) == UpsertOutcome::kUpdated);
  model["k1"] = moved;
  const auto top = index.search(moved, 1);
  REQUIRE(top.size() == 1);
  CHECK(top[0].key == "k1");
  CHECK(top[0].distance == 0.0f);

  const auto queries = gaussian(10, dim, 12);
  for (std::size_t q = 0; q < 10; ++q) {
    const auto query = row(queries, q, dim);
    // Key list: every listed entry measured exactly.
    std::vector<std::string> keys;
    for (std::size_t i = 1; i < n; i += 97)
      if (i % 3) keys.push_back("k" + std::to_string(i));
    const Filter by_keys = Filter::allow_keys(std::vector<Key>(keys.begin(), keys.end()));
    const std::set<std::string> allowed(keys.begin(), keys.end());
    vindex_test::check_same<metric::L2>(
        index.search(query, 5, {.filter = &by_keys}),
        vindex_test::brute_force<metric::L2>(model, query, 5, [&](const std::string& k) { return allowed.count(k) != 0; }),
        model, query);
    // Predicate over the codes scan, everything re-ranked: brute force among the matches.
    const Filter even = Filter::by_predicate([](KeyView k, Id) { return (k.back() - '0') % 2 == 0; });
    vindex_test::check_same<metric::L2>(
        index.search(query, 8, {.rerank = Sq8::kMaxRerank, .filter = &even}),
        vindex_test::brute_force<metric::L2>(model, query, 8,
                                             [](const std::string& k) { return (k.back() - '0') % 2 == 0; }),
        model, query);
    // Range search reads the floats: exactly brute force's hits.
    const auto near = vindex_test::brute_force<metric::L2>(model, query, 21);
    const double radius = (near[19].distance + near[20].distance) / 2;
    const auto hits = index.range_search(query, radius);
    REQUIRE(hits.size() == 20);
    for (std::size_t i = 0; i < hits.size(); ++i) CHECK(hits[i].key == near[i].key);
  }
  const std::vector<float> query(dim, 0.0f);
  CHECK_THROWS_AS(index.search(query, 10, {.rerank = 0}), Error);
  CHECK_THROWS_AS(index.search(query, 10, {.rerank = Sq8::kMaxRerank + 1}), Error);
  CHECK(index.search(query, 10, {.rerank = 1}).size() == 10);
  FlatIndex<float, metric::L2> plain(schema_of<metric::L2>(dim));
  CHECK_THROWS_AS(plain.search(query, 10, {.rerank = 0}), Error);
}

TEST_CASE("FlatIndex<float, L2, Sq8>: drift is clamped until compact() trains again; clear() forgets the quantizer") {
  const std::uint32_t dim = 12;
  const auto first = gaussian(2000, dim, 21, 0.0f, 1.0f);
  const auto second = gaussian(2000, dim, 22, 6.0f, 1.0f);
  FlatIndex<float, metric::L2, Sq8> index(schema_of<metric::L2>(dim));
  Model model;
  for (std::size_t i = 0; i < 2000; ++i) {
    index.upsert("a" + std::to_string(i), row(first, i, dim));
    model["a" + std::to_string(i)] = row(first, i, dim);
  }
  CHECK(index.quantizer_stats().trained_on == Sq8::kTrainAt);
  for (std::size_t i = 0; i < 2000; ++i) index.erase("a" + std::to_string(i));
  model.clear();
  for (std::size_t i = 0; i < 2000; ++i) {
    index.upsert("b" + std::to_string(i), row(second, i, dim));
    model["b" + std::to_string(i)] = row(second, i, dim);
  }
  // 4,000 inserted: retrained at 4 × 1,024? No: only 2,000 are live, so the first range stands.
  CHECK(index.quantizer_stats().trained_on == Sq8::kTrainAt);
  CHECK(index.quantizer_stats().clamped_since > 2000 * dim / 2);
  index.compact();
  const QuantizerStats after = index.quantizer_stats();
  CHECK(after.trained_on == 2000);
  CHECK(after.clamped_since < 2000 * dim / 100);
  const auto queries = gaussian(20, dim, 23, 6.0f, 1.0f);
  std::size_t found = 0;
  for (std::size_t q = 0; q < 20; ++q) {
    const auto query = row(queries, q, dim);
    const auto want = vindex_test::brute_force<metric::L2>(model, query, 10);
    for (const auto& r : index.search(query, 10))
      for (const auto& w : want) found += w.key == r.key;
  }
  CHECK(double(found) / 200.0 >= 0.97);
  index.retrain_quantizer();
  CHECK(index.quantizer_stats().encoded_since == 2000);
  index.clear();
  CHECK(index.memory_bytes() == 0);
  CHECK(index.memory_breakdown().total() == 0);
  CHECK_FALSE(index.quantizer_stats().trained);
  index.retrain_quantizer();  // empty: stays untrained
  CHECK_FALSE(index.quantizer_stats().trained);
}

TEST_CASE("siftsmall: SQ8 FLAT recall@10 >= 0.99 at the default re-ranking, distances exact") {
  const auto dir = vindex_support::siftsmall_dir();
  if (!dir) {
    MESSAGE("siftsmall not found: skipped");
    return;
  }
  const auto base = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
  const auto queries = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
  const auto truth = vindex_support::read_vecs<std::int32_t>(*dir / "siftsmall_groundtruth.ivecs");
  FlatIndex<float, metric::L2, Sq8> sq8(VectorSchema{128});
  for (std::size_t i = 0; i < base.rows; ++i) sq8.upsert(std::to_string(i), {base.row(i), 128});
  for (const std::size_t rerank : {1u, 2u, 4u}) {
    double recall = 0;
    for (std::size_t q = 0; q < queries.rows; ++q) {
      const std::span<const float> query{queries.row(q), 128};
      const auto got = sq8.search(query, 10, {.rerank = rerank});
      for (std::size_t t = 0; t < 10; ++t)
        for (const auto& r : got) recall += r.key == std::to_string(truth.row(q)[t]);
      for (const auto& r : got) CHECK(r.distance == metric::L2::distance(query.data(), base.row(std::stoul(r.key)), 128));
    }
    recall /= double(queries.rows * 10);
    MESSAGE("siftsmall SQ8 FLAT recall@10 at rerank " << rerank << ": " << recall);
    if (rerank >= Sq8::kDefaultRerank) CHECK(recall >= 0.99);
  }
}

namespace {

using Sq8Flat = FlatIndex<float, metric::Cosine, Sq8>;

std::unique_ptr<Sq8Flat> trained_flat(std::uint32_t dim, std::size_t n, std::uint32_t seed) {
  auto index = std::make_unique<Sq8Flat>(schema_of<metric::Cosine>(dim));
  const auto data = gaussian(n, dim, seed, 0.5f);
  for (std::size_t i = 0; i < n; ++i) index->upsert("k" + std::to_string(i), row(data, i, dim));
  for (std::size_t i = 0; i < n; i += 5) index->erase("k" + std::to_string(i));
  return index;
}

}  // namespace

TEST_CASE("SQ8 FLAT snapshots: the quantizer is saved, and the loaded index answers exactly as the saved one") {
  const std::uint32_t dim = 10;
  const auto index = trained_flat(dim, 1500, 41);
  REQUIRE(index->quantizer_stats().trained);
  const auto bytes = vindex_test::snapshot_bytes(*index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<metric::Cosine, float, Sq8>(in);
  CHECK(loaded->size() == index->size());
  vindex_test::check_same_quantizer(index->saved_quantizer(), loaded->saved_quantizer());
  vindex_test::check_same_answers(*index, *loaded, gaussian(20 * dim, 1, 42), dim, {.rerank = 1});
  CHECK(vindex_test::snapshot_bytes(*loaded) == bytes);
  // A float reader takes the vectors and leaves the quantizer.
  MemoryDeserializer as_float(bytes);
  const auto plain = load_flat<metric::Cosine>(as_float);
  CHECK(plain->size() == index->size());
  // A float snapshot loaded as SQ8 trains on the loaded vectors (1,200 of them: once, at 1,024).
  const auto float_bytes = vindex_test::snapshot_bytes(*plain);
  for (const auto& sec : vindex_test::split_sections(float_bytes)) CHECK(sec.tag != snapshot::tag::kQuantizer);
  MemoryDeserializer from_float(float_bytes);
  const auto trained_on_load = load_flat<metric::Cosine, float, Sq8>(from_float);
  CHECK(trained_on_load->quantizer_stats().trained_on == Sq8::kTrainAt);
  // Damaged quantizers, SQ8Q twice or after ENTR: kCorruptData for the SQ8 reader and the float reader.
  for (const auto& c : vindex_test::damaged_quantizer_snapshots(bytes, dim)) {
    MemoryDeserializer a(c), b(c);
    vindex_test::check_corrupt([&] { (void)load_flat<metric::Cosine, float, Sq8>(a); });
    vindex_test::check_corrupt([&] { (void)load_flat<metric::Cosine>(b); });
  }
}
