// SQ8: the scalar quantizer's training and edge cases, the codec's code distances against the
// decoded vectors, and HnswIndex<float, M, Sq8> against brute force and the float index (recall on
// siftsmall, exact returned distances, training as the index grows, retraining after drift).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
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

}  // namespace

TEST_CASE("ScalarQuantizer: codes stay within half a step inside the range; a constant dimension is exact") {
  const std::size_t dim = 6, n = 500;
  auto data = gaussian(n, dim, 1);
  for (std::size_t r = 0; r < n; ++r) data[r * dim + 2] = 3.25f;  // constant dimension
  ScalarQuantizer q;
  CHECK_FALSE(q.trained());
  q.train(data, n, dim);
  REQUIRE(q.trained());
  CHECK(q.dim() == dim);
  CHECK(q.step(2) == 0.0f);
  CHECK(q.low(2) == 3.25f);
  std::vector<std::uint8_t> c(dim);
  std::vector<float> back(dim);
  std::size_t clamped_total = 0;
  for (std::size_t r = 0; r < n; ++r) {
    clamped_total += q.encode(data.data() + r * dim, c.data());
    q.decode(c.data(), back.data());
    CHECK(back[2] == 3.25f);
    for (std::size_t i = 0; i < dim; ++i) {
      const float x = data[r * dim + i];
      const float hi = q.low(i) + 255 * q.step(i);
      if (x >= q.low(i) && x <= hi) CHECK(std::abs(back[i] - x) <= q.step(i) * 0.5f + 1e-5f);
    }
  }
  // 500 vectors: the most extreme value at each end of each varying dimension is left out.
  CHECK(clamped_total == 5 * 2);
  // A value far outside is clamped to the end and counted.
  std::vector<float> far(dim, 1e6f);
  far[2] = 3.25f;
  CHECK(q.encode(far.data(), c.data()) == dim - 1);
  CHECK(c[0] == 255);
  far[2] = 4.0f;  // the constant dimension changed: counted as clamped too
  CHECK(q.encode(far.data(), c.data()) == dim);
}

TEST_CASE("ScalarQuantizer: one extreme outlier does not spread a dimension's codes") {
  const std::size_t dim = 4, n = 1000;
  auto data = gaussian(n, dim, 2);
  data[17 * dim + 1] = 1e30f;
  data[40 * dim + 1] = -1e30f;
  ScalarQuantizer q;
  q.train(data, n, dim);
  CHECK(q.step(1) < 10.0f / 255);  // the Gaussian's range, not ±1e30
  CHECK(q.step(1) > 1.0f / 255);
  // Encoding the outlier clamps it rather than overflowing.
  std::vector<std::uint8_t> c(dim);
  CHECK(q.encode(data.data() + 17 * dim, c.data()) >= 1);
  CHECK(c[1] == 255);
  // A range as wide as the float type does not overflow the step.
  std::vector<float> wide = {-3e38f, 0, 0, 0, 3e38f, 1, 1, 1};
  ScalarQuantizer w;
  w.train(wide, 2, dim);
  CHECK(std::isfinite(w.step(0)));
  CHECK(w.encode(wide.data() + dim, c.data()) == 0);
  CHECK(c[0] == 255);
}

TEST_CASE("ScalarQuantizer: NaN, Inf, an empty or mis-sized sample are refused and change nothing") {
  const std::size_t dim = 3;
  auto data = gaussian(10, dim, 3);
  ScalarQuantizer q;
  q.train(data, 10, dim);
  const float low0 = q.low(0), step0 = q.step(0);
  auto bad = data;
  bad[4] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(q.train(bad, 10, dim), Error);
  bad[4] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(q.train(bad, 10, dim), Error);
  CHECK_THROWS_AS(q.train({}, 0, dim), Error);
  CHECK_THROWS_AS(q.train(data, 9, dim), Error);
  CHECK(q.low(0) == low0);
  CHECK(q.step(0) == step0);
}

TEST_CASE("code_dot: the integer kernel is exact for every dim 1..300, extremes and unaligned starts included") {
  MESSAGE("SQ8 code kernel of this build: " << code_dot_kernels_name());
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(0, 255), weight(-127, 127);
  std::vector<std::uint8_t> c(300 + 3), next(300);
  std::vector<std::int8_t> w(300 + 3);
  for (std::size_t dim = 1; dim <= 300; ++dim) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      for (std::size_t i = 0; i < c.size(); ++i) {
        // Random, then the largest products of each sign: the sums a kernel could saturate on.
        c[i] = static_cast<std::uint8_t>(pattern == 0 ? code(rng) : 255);
        w[i] = static_cast<std::int8_t>(pattern == 0 ? weight(rng) : pattern == 1 ? 127 : -127);
      }
      for (std::size_t offset = 0; offset < 4; offset += 3) {
        std::int64_t want = 0;
        for (std::size_t i = 0; i < dim; ++i) want += std::int64_t{c[offset + i]} * w[offset + i];
        CHECK(code_dot(c.data() + offset, w.data() + offset, dim) == want);
        CHECK(code_dot_fetching(c.data() + offset, w.data() + offset, dim, next.data()) == want);
      }
    }
  }
  // The largest DIM: 32,768 × 255 × 127 fits 32 bits.
  const std::size_t big = 32768;
  std::vector<std::uint8_t> cb(big, 255);
  std::vector<std::int8_t> wb(big, -127);
  CHECK(code_dot(cb.data(), wb.data(), big) == std::int64_t{-255} * 127 * std::int64_t{big});
}

TEST_CASE_TEMPLATE("Sq8Codec: the code distance is the distance to the decoded vector, within the rounding bound", MetricT, metric::L2,
                   metric::InnerProduct, metric::Cosine) {
  using Codec = detail::Sq8Codec<MetricT>;
  for (const std::size_t dim : {1u, 7u, 16u, 33u, 128u, 200u}) {
    const std::size_t n = 300;
    auto data = gaussian(n, dim, static_cast<std::uint32_t>(dim));
    for (std::size_t r = 0; r < n; ++r) metric::prepare<MetricT>({data.data() + r * dim, dim});
    Codec codec;
    codec.train(data, n, dim);
    std::vector<std::byte> record(Codec::bytes(dim));  // the code slot; the floats stay where they are
    auto query = gaussian(1, dim, 99);
    metric::prepare<MetricT>(query);
    const auto form = codec.form(query.data(), dim);
    std::vector<float> decoded(dim);
    for (std::size_t r = 0; r < 20; ++r) {
      codec.encode(data.data() + r * dim, 1.0f, record.data(), dim);
      std::vector<std::uint8_t> c(dim);
      codec.quantizer().encode(data.data() + r * dim, c.data());
      codec.quantizer().decode(c.data(), decoded.data());
      const double want = MetricT::kind == Metric::kL2
                              ? scalar::l2_squared(query.data(), decoded.data(), dim)
                              : 1.0 - scalar::dot(query.data(), decoded.data(), dim);
      // Within δ, the bound the query's integer weights give, plus float rounding.
      const double scale = std::max(1.0, std::abs(want)) * 1e-4 * std::sqrt(double(dim));
      const double delta = form.rounding_bound();
      CHECK(std::abs(codec.distance(form.data(), record.data(), dim) - want) <= delta + scale);
      CHECK(std::abs(codec.distance_within(form.data(), record.data(), dim, 0.0f) - want) <= delta + scale);
      // The exact distance reads the floats, kept apart from the code slot.
      const auto* floats = reinterpret_cast<const std::byte*>(data.data() + r * dim);
      CHECK(codec.exact(form.data(), floats, dim) == MetricT::distance(query.data(), data.data() + r * dim, dim));
    }
  }
}

TEST_CASE_TEMPLATE("HnswIndex<float, M, Sq8>: untrained it is a float index; trained, its results match brute force",
                   MetricT, metric::L2, metric::InnerProduct, metric::Cosine) {
  const std::uint32_t dim = 24;
  const std::size_t n = Sq8::kTrainAt + 500;
  const auto data = gaussian(n, dim, 7);
  HnswIndex<float, MetricT, Sq8> index(schema_of<MetricT>(dim), HnswParams{.m = 12, .ef_construction = 100});
  HnswIndex<float, MetricT> plain(schema_of<MetricT>(dim), HnswParams{.m = 12, .ef_construction = 100});
  Model model;
  const auto queries = gaussian(30, dim, 8);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    const std::span<const float> v{data.data() + i * dim, dim};
    index.upsert(key, v);
    plain.upsert(key, v);
    model[key] = std::vector<float>(v.begin(), v.end());
    if (i + 1 == Sq8::kTrainAt - 1) {
      // One short of the threshold: untrained, and the same graph and results as the float index.
      CHECK_FALSE(index.quantizer_stats().trained);
      for (std::size_t q = 0; q < 5; ++q) {
        const std::span<const float> query{queries.data() + q * dim, dim};
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
  // An exhaustive walk (ef = n) with every candidate re-ranked is brute force with exact distances.
  for (std::size_t q = 0; q < queries.size() / dim; ++q) {
    const std::vector<float> query(queries.begin() + q * dim, queries.begin() + (q + 1) * dim);
    const auto got = index.search(query, 10, {.ef = n, .rerank = Sq8::kMaxRerank});
    vindex_test::check_same<MetricT>(got, vindex_test::brute_force<MetricT>(model, query, 10), model, query);
  }
  // At an everyday ef the default re-ranking finds nearly all of the true top 10, with exact distances.
  std::size_t found = 0, total = 0;
  for (std::size_t q = 0; q < queries.size() / dim; ++q) {
    const std::vector<float> query(queries.begin() + q * dim, queries.begin() + (q + 1) * dim);
    const auto got = index.search(query, 10, {.ef = 64});
    const auto want = vindex_test::brute_force<MetricT>(model, query, 10);
    for (const auto& r : got) {
      CHECK(std::abs(r.distance - vindex_test::ref_distance<MetricT>(query, model[r.key])) <=
            1e-4 * std::max(1.0, std::abs(double(r.distance))));
      for (const auto& w : want) found += w.key == r.key;
    }
    total += want.size();
  }
  MESSAGE("recall@10 at ef=64 on 1524 Gaussian vectors (dim 24): " << double(found) / double(total));
  CHECK(double(found) / double(total) >= 0.97);
}

TEST_CASE("HnswIndex<float, L2, Sq8>: filtered, range and erased entries; rerank bounds") {
  const std::uint32_t dim = 16;
  const std::size_t n = 3000;
  const auto data = gaussian(n, dim, 11);
  HnswIndex<float, metric::L2, Sq8> index(schema_of<metric::L2>(dim));
  Model model;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    index.upsert(key, {data.data() + i * dim, dim});
    model[key] = std::vector<float>(data.begin() + i * dim, data.begin() + (i + 1) * dim);
  }
  for (std::size_t i = 0; i < n; i += 3) {
    CHECK(index.erase("k" + std::to_string(i)));
    model.erase("k" + std::to_string(i));
  }
  const auto queries = gaussian(10, dim, 12);
  for (std::size_t q = 0; q < 10; ++q) {
    const std::vector<float> query(queries.begin() + q * dim, queries.begin() + (q + 1) * dim);
    // A selective key filter is answered by an exact scan: exact distances, brute force's answer.
    std::vector<std::string> keys;
    for (std::size_t i = 1; i < n; i += 97)
      if (i % 3) keys.push_back("k" + std::to_string(i));
    const Filter filter = Filter::allow_keys(std::vector<Key>(keys.begin(), keys.end()));
    const std::set<std::string> allowed(keys.begin(), keys.end());
    vindex_test::check_same<metric::L2>(index.search(query, 5, {.filter = &filter}),
                                        vindex_test::brute_force<metric::L2>(
                                            model, query, 5, [&](const std::string& k) { return allowed.count(k) != 0; }),
                                        model, query);
    // Range search: every hit within the radius with its exact distance; with a wide walk
    // (EPSILON 1), exactly brute force's 20.
    const auto near = vindex_test::brute_force<metric::L2>(model, query, 21);
    const double radius = (near[19].distance + near[20].distance) / 2;
    const auto hits = index.range_search(query, radius, {.epsilon = 1.0});
    CHECK(hits.size() == 20);
    for (const auto& h : hits) {
      REQUIRE(model.count(h.key));
      CHECK(h.distance <= radius);
      CHECK(std::abs(h.distance - vindex_test::ref_distance<metric::L2>(query, model[h.key])) <= 1e-4 * radius);
    }
  }
  const std::vector<float> query(dim, 0.0f);
  CHECK_THROWS_AS(index.search(query, 10, {.rerank = 0}), Error);
  CHECK_THROWS_AS(index.search(query, 10, {.rerank = Sq8::kMaxRerank + 1}), Error);
  CHECK(index.search(query, 10, {.rerank = 1}).size() == 10);
  // The float index checks the range too.
  HnswIndex<float, metric::L2> plain(schema_of<metric::L2>(dim));
  CHECK_THROWS_AS(plain.search(query, 10, {.rerank = 0}), Error);
}

TEST_CASE("HnswIndex<float, L2, Sq8>: data that drifts is clamped until compact() trains again") {
  const std::uint32_t dim = 12;
  const auto first = gaussian(2000, dim, 21, 0.0f, 1.0f);
  const auto second = gaussian(2000, dim, 22, 6.0f, 1.0f);  // far outside the first range
  HnswIndex<float, metric::L2, Sq8> index(schema_of<metric::L2>(dim));
  Model model;
  auto add = [&](const std::vector<float>& d, const std::string& prefix) {
    for (std::size_t i = 0; i < d.size() / dim; ++i) {
      const std::string key = prefix + std::to_string(i);
      index.upsert(key, {d.data() + i * dim, dim});
      model[key] = std::vector<float>(d.begin() + i * dim, d.begin() + (i + 1) * dim);
    }
  };
  add(first, "a");
  const auto before = index.quantizer_stats();
  CHECK(before.trained);
  add(second, "b");
  const auto drifted = index.quantizer_stats();
  CHECK(drifted.trained_on == before.trained_on);  // 4000 < 4 · 1024: no automatic retraining yet
  CHECK(drifted.clamped_since > 2000 * dim / 2);   // most elements of the second half are clamped
  auto recall = [&] {
    const auto queries = gaussian(20, dim, 23, 6.0f, 1.0f);
    std::size_t found = 0;
    for (std::size_t q = 0; q < 20; ++q) {
      const std::vector<float> query(queries.begin() + q * dim, queries.begin() + (q + 1) * dim);
      const auto got = index.search(query, 10, {.ef = 64, .rerank = 1});
      for (const auto& w : vindex_test::brute_force<metric::L2>(model, query, 10))
        for (const auto& r : got) found += r.key == w.key;
    }
    return double(found) / 200.0;
  };
  const double drifted_recall = recall();
  index.compact();
  const auto retrained = index.quantizer_stats();
  CHECK(retrained.trained_on == 4000);
  CHECK(retrained.encoded_since == 4000);
  CHECK(retrained.clamped_since < 4000 * dim / 100);
  const double retrained_recall = recall();
  MESSAGE("recall@10 with no re-ranking on the drifted half: " << drifted_recall << " before retraining, "
                                                               << retrained_recall << " after");
  CHECK(retrained_recall >= drifted_recall);
  CHECK(retrained_recall >= 0.8);
  // Growing on: at 4 · 4000 live vectors the index trains again by itself.
  add(gaussian(12000, dim, 24, 3.0f, 2.0f), "c");
  CHECK(index.quantizer_stats().trained_on == 16000);
  // The memory split: the codes (DIM bytes padded to 4, and the L2 term) apart from the float copy,
  // the parts adding up to what the resource holds.
  const HnswMemory m = index.memory_breakdown();
  CHECK(m.total() == index.memory_bytes());
  CHECK(m.codes % (dim + 4) == 0);
  CHECK(m.codes >= index.size() * (dim + 4));
  CHECK(m.vectors / (4 * dim) == m.codes / (dim + 4));  // a float copy per code slot
  // clear() forgets the quantizer.
  index.clear();
  CHECK_FALSE(index.quantizer_stats().trained);
}

TEST_CASE_TEMPLATE("HnswIndex<float, M, Sq8>: compact() moves each node's codes and floats together; clear() starts over",
                   MetricT, metric::L2, metric::Cosine) {
  // The codes live in the node records, the floats in an array of their own: every path that moves
  // or frees nodes must keep the two in step. Checked against a model after each.
  const std::uint32_t dim = 20;
  HnswIndex<float, MetricT, Sq8> index(schema_of<MetricT>(dim), HnswParams{.m = 8, .ef_construction = 64});
  Model model;
  auto add = [&](std::size_t count, std::uint32_t seed, const std::string& prefix) {
    const auto d = gaussian(count, dim, seed);
    for (std::size_t i = 0; i < count; ++i) {
      const std::string key = prefix + std::to_string(i);
      index.upsert(key, {d.data() + i * dim, dim});
      model[key] = std::vector<float>(d.begin() + i * dim, d.begin() + (i + 1) * dim);
    }
  };
  auto check_against_model = [&] {
    REQUIRE(index.size() == model.size());
    std::size_t found = 0;
    for (const auto& [key, v] : model) {
      const auto stored = index.get_vector(key);
      REQUIRE(stored);
      for (std::size_t j = 0; j < dim; ++j) CHECK((*stored)[j] == doctest::Approx(v[j]).epsilon(1e-5));
      const auto got = index.search(v, 1, {.ef = 64});
      REQUIRE(got.size() == 1);
      found += got[0].key == key;
      CHECK(got[0].distance == doctest::Approx(vindex_test::ref_distance<MetricT>(v, model.at(got[0].key))).epsilon(1e-5));
    }
    CHECK(found >= model.size() * 99 / 100);  // a node's own vector finds it (exact re-ranking)
    const HnswMemory m = index.memory_breakdown();
    const std::size_t slot = (dim + 3) / 4 * 4 + (MetricT::kind == Metric::kL2 ? 4 : 0);
    CHECK(m.codes % slot == 0);
    const std::size_t slots = m.codes / slot, floats = slots * dim * sizeof(float);
    CHECK(m.vectors >= floats);  // a float copy per code slot, and COSINE's magnitudes
    CHECK(m.vectors <= floats + (MetricT::kNormalizes ? slots * sizeof(float) + 1024 : 0));
  };
  add(1600, 31, "a");
  REQUIRE(index.quantizer_stats().trained);
  for (std::size_t i = 0; i < 1600; i += 2) {  // every other one: the survivors move down
    index.erase("a" + std::to_string(i));
    model.erase("a" + std::to_string(i));
  }
  CHECK(index.compact() > 0);
  check_against_model();
  add(300, 32, "b");  // into the compacted storage
  check_against_model();
  index.clear();
  model.clear();
  CHECK(index.memory_bytes() == 0);
  add(200, 33, "c");  // untrained again: walked on the floats
  CHECK_FALSE(index.quantizer_stats().trained);
  check_against_model();
  add(1200, 34, "d");
  CHECK(index.quantizer_stats().trained);
  check_against_model();
}

TEST_CASE("HnswIndex<float, L2, Sq8>: a batch built by two threads trains at its end") {
  const std::uint32_t dim = 20;
  const std::size_t n = 2500;
  const auto data = gaussian(n, dim, 31);
  HnswIndex<float, metric::L2, Sq8> index(schema_of<metric::L2>(dim));
  std::vector<std::string> keys(n);
  std::vector<HnswIndex<float, metric::L2, Sq8>::BatchItem> items;
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = "k" + std::to_string(i);
    items.emplace_back(keys[i], std::span<const float>(data.data() + i * dim, dim));
  }
  CHECK(index.insert_batch(items, 2) == n);
  CHECK(index.quantizer_stats().trained);
  CHECK(index.quantizer_stats().trained_on == n);
  Model model;
  for (std::size_t i = 0; i < n; ++i) model[keys[i]] = std::vector<float>(data.begin() + i * dim, data.begin() + (i + 1) * dim);
  const std::vector<float> query(data.begin(), data.begin() + dim);
  const auto got = index.search(query, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].key == "k0");
  CHECK(got[0].distance == 0.0f);
}

TEST_CASE("siftsmall: SQ8 recall@10 at the float index's ef within 0.005, distances exact") {
  const auto dir = vindex_support::siftsmall_dir();
  if (!dir) {
    MESSAGE("siftsmall not found: skipped");
    return;
  }
  const auto base = vindex_support::read_vecs<float>(*dir / "siftsmall_base.fvecs");
  const auto queries = vindex_support::read_vecs<float>(*dir / "siftsmall_query.fvecs");
  const auto truth = vindex_support::read_vecs<std::int32_t>(*dir / "siftsmall_groundtruth.ivecs");
  const HnswParams params{.m = 16, .ef_construction = 200};
  HnswIndex<float, metric::L2, Sq8> sq8(VectorSchema{128}, params);
  HnswIndex<float, metric::L2> plain(VectorSchema{128}, params);
  for (std::size_t i = 0; i < base.rows; ++i) {
    sq8.upsert(std::to_string(i), {base.row(i), 128});
    plain.upsert(std::to_string(i), {base.row(i), 128});
  }
  CHECK(sq8.quantizer_stats().trained_on == 4096);  // trained at 1,024 and again at 4,096
  for (const std::size_t ef : {16u, 32u, 64u}) {
    double r_sq8 = 0, r_plain = 0;
    for (std::size_t q = 0; q < queries.rows; ++q) {
      const std::span<const float> query{queries.row(q), 128};
      const auto a = sq8.search(query, 10, {.ef = ef});
      const auto b = plain.search(query, 10, {.ef = ef});
      for (std::size_t t = 0; t < 10; ++t) {
        const std::string want = std::to_string(truth.row(q)[t]);
        for (const auto& r : a) r_sq8 += r.key == want;
        for (const auto& r : b) r_plain += r.key == want;
      }
      for (const auto& r : a) {
        const float* v = base.row(std::stoul(r.key));
        CHECK(r.distance == metric::L2::distance(query.data(), v, 128));
      }
    }
    r_sq8 /= double(queries.rows * 10);
    r_plain /= double(queries.rows * 10);
    MESSAGE("siftsmall recall@10 at ef=" << ef << ": SQ8 " << r_sq8 << ", float " << r_plain);
    CHECK(r_sq8 >= r_plain - 0.005);
  }
}

namespace {

using Sq8Index = HnswIndex<float, metric::L2, Sq8>;

std::unique_ptr<Sq8Index> trained_index(std::uint32_t dim, std::size_t n, std::uint32_t seed) {
  auto index = std::make_unique<Sq8Index>(schema_of<metric::L2>(dim), HnswParams{.m = 8, .ef_construction = 60});
  const auto data = gaussian(n, dim, seed);
  for (std::size_t i = 0; i < n; ++i) index->upsert("k" + std::to_string(i), {data.data() + i * dim, dim});
  for (std::size_t i = 0; i < n; i += 5) index->erase("k" + std::to_string(i));
  index->sweep_tombstones();  // so that the saved graph is exactly the one searches walk
  return index;
}

}  // namespace

TEST_CASE("SQ8 snapshots: the quantizer is saved, and the loaded index answers exactly as the saved one") {
  const std::uint32_t dim = 10;
  const auto index = trained_index(dim, 1500, 41);
  REQUIRE(index->quantizer_stats().trained);
  const auto bytes = vindex_test::snapshot_bytes(*index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_hnsw<metric::L2, float, Sq8>(in);
  CHECK(loaded->size() == index->size());
  vindex_test::check_same_quantizer(index->saved_quantizer(), loaded->saved_quantizer());
  vindex_test::check_same_answers(*index, *loaded, gaussian(20 * dim, 1, 42), dim, {.rerank = 1});
  // The same bytes again: saving is deterministic, the quantizer included.
  CHECK(vindex_test::snapshot_bytes(*loaded) == bytes);
  // A reader that wants a float index takes the vectors and leaves the quantizer.
  MemoryDeserializer as_float(bytes);
  const auto plain = load_hnsw<metric::L2>(as_float);
  CHECK(plain->size() == index->size());
  // A float index's snapshot loaded as SQ8 trains on the loaded vectors.
  const auto float_bytes = vindex_test::snapshot_bytes(*plain);
  MemoryDeserializer from_float(float_bytes);
  const auto trained_on_load = load_hnsw<metric::L2, float, Sq8>(from_float);
  CHECK(trained_on_load->quantizer_stats().trained);
  CHECK(trained_on_load->quantizer_stats().trained_on == index->size());
  // An untrained SQ8 index writes no SQ8Q section and loads untrained.
  Sq8Index small(schema_of<metric::L2>(dim));
  small.upsert("a", std::vector<float>(dim, 1.0f));
  const auto small_bytes = vindex_test::snapshot_bytes(small);
  for (const auto& sec : vindex_test::split_sections(small_bytes)) CHECK(sec.tag != snapshot::tag::kQuantizer);
  MemoryDeserializer small_in(small_bytes);
  CHECK_FALSE(load_hnsw<metric::L2, float, Sq8>(small_in)->quantizer_stats().trained);
}

TEST_CASE("SQ8 snapshots: a damaged quantizer section is kCorruptData for every reader") {
  const std::uint32_t dim = 6;
  const auto bytes = vindex_test::snapshot_bytes(*trained_index(dim, 1200, 43));
  for (const auto& c : vindex_test::damaged_quantizer_snapshots(bytes, dim)) {
    MemoryDeserializer a(c), b(c);
    vindex_test::check_corrupt([&] { (void)load_hnsw<metric::L2, float, Sq8>(a); });
    vindex_test::check_corrupt([&] { (void)load_hnsw<metric::L2>(b); });
  }
}
