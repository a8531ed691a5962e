// Element types: FLOAT16, BFLOAT16, INT8 and UINT8 conversions, their distance kernels, and
// HnswIndex / FlatIndex storing vectors in 16 or 8 bits (each type × metric against a
// double-precision brute force over the same values, exact values back, memory, bad input, batches
// and maintenance, snapshots).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

#if defined(__F16C__)
#include <immintrin.h>
#endif

using namespace vindex;
using namespace vindex_test;

namespace {

float bits_to_float(std::uint32_t u) { return std::bit_cast<float>(u); }

// The element of T nearest to x, found by looking at both neighbours of the candidate: the
// specification from_float must meet (ties to even).
template <class T>
void check_nearest(float x) {
  const std::uint16_t h = T::from_float(x);
  const double got = T::to_float(h);
  if (std::isinf(got)) return;  // overflow is checked on its own
  for (int step : {-1, 1}) {
    const std::uint16_t other = static_cast<std::uint16_t>(h + step);
    const double alt = T::to_float(other);
    if (std::isnan(alt) || std::isinf(alt) || (std::signbit(alt) != std::signbit(got) && alt != 0)) continue;
    const double d_got = std::abs(double(x) - got), d_alt = std::abs(double(x) - alt);
    CHECK(d_got <= d_alt);
    if (d_got == d_alt && got != alt) CHECK((h & 1u) == 0u);  // a tie goes to the even one
  }
}

// A float vector whose elements are values of T (as a FLOAT16 / BFLOAT16 / INT8 / UINT8 blob would
// give them). 8-bit elements are drawn 20 times wider (UINT8: folded to >= 0), so that they take
// many values.
template <class T>
std::vector<float> random_elements(std::mt19937& rng, std::size_t dim, float scale = 1.0f) {
  std::normal_distribution<float> nd(0.0f, is_byte_element_v<T> ? 20 * scale : scale);
  std::vector<float> v(dim);
  for (float& x : v) x = T::to_float(T::from_float(std::is_same_v<T, UInt8> ? std::abs(nd(rng)) : nd(rng)));
  return v;
}

// The blob of `v` (values of T): its elements' little-endian bytes.
template <class T>
std::string blob_of(const std::vector<float>& v) {
  constexpr std::size_t width = sizeof(typename T::Storage);
  std::string blob(width * v.size(), '\0');
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto e = static_cast<std::uint16_t>(T::from_float(v[i]));
    for (std::size_t b = 0; b < width; ++b) blob[width * i + b] = static_cast<char>((e >> (8 * b)) & 0xff);
  }
  return blob;
}

template <class T, class M>
struct Case {
  using Element = T;
  using Metric = M;
};

}  // namespace

TEST_CASE("Float16 and BFloat16: every element widens and narrows back to itself") {
  for (std::uint32_t u = 0; u <= 0xffff; ++u) {
    const auto h = static_cast<std::uint16_t>(u);
    const float f = Float16::to_float(h), b = BFloat16::to_float(h);
    if (std::isnan(f)) {
      CHECK(std::isnan(Float16::to_float(Float16::from_float(f))));
    } else if (Float16::from_float(f) != h) {
      FAIL_CHECK("Float16 " << u << " does not come back");
    }
    if (std::isnan(b)) {
      CHECK(std::isnan(BFloat16::to_float(BFloat16::from_float(b))));
    } else if (BFloat16::from_float(b) != h) {
      FAIL_CHECK("BFloat16 " << u << " does not come back");
    }
  }
}

TEST_CASE("Float16 and BFloat16 narrow to the nearest element, ties to even, and overflow to Inf") {
  // Float16's edges: the largest finite value, the rounding boundary past it, subnormals.
  CHECK(Float16::from_float(65504.0f) == 0x7bffu);
  CHECK(Float16::from_float(65519.99f) == 0x7bffu);
  CHECK(Float16::from_float(65520.0f) == 0x7c00u);  // the tie rounds to the even one: Inf
  CHECK(Float16::from_float(-1e9f) == 0xfc00u);
  CHECK(Float16::from_float(std::ldexp(1.0f, -24)) == 1u);         // smallest subnormal
  CHECK(Float16::from_float(std::ldexp(1.0f, -25)) == 0u);         // half of it: tie to even, 0
  CHECK(Float16::from_float(std::ldexp(3.0f, -25)) == 2u);         // 1.5 steps: tie to even, 2
  CHECK(Float16::from_float(std::ldexp(1.0f, -14)) == 0x0400u);    // smallest normal
  CHECK(Float16::from_float(std::ldexp(1023.5f, -24)) == 0x0400u);  // rounds up into the normals
  CHECK(Float16::from_float(-0.0f) == 0x8000u);
  CHECK(std::isnan(Float16::to_float(Float16::from_float(std::numeric_limits<float>::quiet_NaN()))));
  // BFloat16: ties to even, overflow.
  CHECK(BFloat16::from_float(bits_to_float(0x3f808000u)) == 0x3f80u);
  CHECK(BFloat16::from_float(bits_to_float(0x3f818000u)) == 0x3f82u);
  CHECK(BFloat16::from_float(bits_to_float(0x3f808001u)) == 0x3f81u);
  CHECK(BFloat16::from_float(std::numeric_limits<float>::max()) == 0x7f80u);
  CHECK(std::isnan(BFloat16::to_float(BFloat16::from_float(std::numeric_limits<float>::quiet_NaN()))));

  std::mt19937 rng(5);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float x = bits_to_float(bits(rng));
    if (!std::isfinite(x)) continue;
    // Spread over Float16's range too: the same mantissa with an exponent in [-30, 17].
    int exponent = 0;
    const float y = std::ldexp(std::frexp(x, &exponent) * 2.0f, static_cast<int>(bits(rng) % 48) - 30);
    check_nearest<BFloat16>(x);
    check_nearest<Float16>(y);
#if defined(__F16C__)
    if (Float16::from_float(y) != _cvtss_sh(y, _MM_FROUND_TO_NEAREST_INT)) FAIL_CHECK("vcvtps2ph disagrees at " << y);
#endif
  }
}

TEST_CASE_TEMPLATE("16-bit kernels agree with double precision over the widened elements", T, Float16, BFloat16) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  for (std::size_t dim : {1u, 2u, 7u, 8u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 100u, 128u, 257u, 784u}) {
    std::vector<float> q(dim), wide(dim);
    std::vector<std::uint16_t> v(dim), next(dim);
    for (std::size_t i = 0; i < dim; ++i) {
      q[i] = nd(rng);
      v[i] = T::from_float(nd(rng));
      wide[i] = T::to_float(v[i]);
    }
    double l2 = 0, dot = 0, scale = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      const double d = double(q[i]) - double(wide[i]);
      l2 += d * d;
      dot += double(q[i]) * double(wide[i]);
      scale += std::abs(double(q[i]) * double(wide[i])) + double(q[i]) * double(q[i]) + double(wide[i]) * wide[i];
    }
    const double tolerance = 1e-6 * scale + 1e-6;
    CAPTURE(dim);
    CHECK(std::abs(l2_squared_half<T>(q.data(), v.data(), dim) - l2) <= tolerance);
    CHECK(std::abs(dot_half<T>(q.data(), v.data(), dim) - dot) <= tolerance);
    // The fetching variants compute the same sums, bit for bit.
    CHECK(l2_squared_half_fetching<T>(q.data(), v.data(), dim, next.data()) ==
          l2_squared_half<T>(q.data(), v.data(), dim));
    CHECK(dot_half_fetching<T>(q.data(), v.data(), dim, next.data()) == dot_half<T>(q.data(), v.data(), dim));
  }
  MESSAGE("16-bit kernels of this build: " << half_kernels_name());
}

TEST_CASE_TEMPLATE("Int8 and UInt8: every element widens and narrows back; narrowing rounds to nearest even "
                   "and holds() bounds the range", T, Int8, UInt8) {
  using S = typename T::Storage;
  for (int b = std::numeric_limits<S>::min(); b <= std::numeric_limits<S>::max(); ++b) {
    const float x = T::to_float(static_cast<S>(b));
    CHECK(x == static_cast<float>(b));
    CHECK(T::from_float(x) == static_cast<S>(b));
    CHECK(T::holds(x));
    CHECK(T::from_float(x + 0.25f) == static_cast<S>(b));
  }
  CHECK(T::from_float(2.5f) == 2);
  CHECK(T::from_float(3.5f) == 4);
  CHECK(T::from_float(4.5f) == 4);
  CHECK(T::holds(T::kMax + 0.49f));
  CHECK_FALSE(T::holds(T::kMax + 0.5f));  // ties to even: 127.5 -> 128, 255.5 -> 256
  CHECK_FALSE(T::holds(T::kMax + 1));
  CHECK_FALSE(T::holds(T::kMin - 1));
  CHECK_FALSE(T::holds(std::numeric_limits<float>::quiet_NaN()));
  CHECK_FALSE(T::holds(std::numeric_limits<float>::infinity()));
  CHECK(T::from_float(1e9f) == std::numeric_limits<S>::max());  // clamped (holds() says no)
  CHECK(T::from_float(-1e9f) == std::numeric_limits<S>::min());
  if constexpr (std::is_same_v<T, UInt8>) {
    CHECK(T::holds(-0.5f));  // rounds to 0
    CHECK_FALSE(T::holds(-0.51f));
  } else {
    CHECK(T::holds(-128.5f));  // rounds to -128, the even one
    CHECK_FALSE(T::holds(-128.51f));
  }
}

TEST_CASE_TEMPLATE("8-bit kernels agree with double precision over the widened elements", T, Int8, UInt8) {
  using S = typename T::Storage;
  std::mt19937 rng(12);
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> element(std::numeric_limits<S>::min(), std::numeric_limits<S>::max());
  for (std::size_t dim : {1u, 2u, 7u, 8u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 100u, 128u, 257u, 784u}) {
    std::vector<float> q(dim), wide(dim), widened(dim);
    std::vector<S> v(dim), next(dim);
    for (std::size_t i = 0; i < dim; ++i) {
      q[i] = 50 * nd(rng);
      v[i] = static_cast<S>(element(rng));
      wide[i] = static_cast<float>(v[i]);
    }
    double l2 = 0, dot = 0, scale = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      const double d = double(q[i]) - double(wide[i]);
      l2 += d * d;
      dot += double(q[i]) * double(wide[i]);
      scale += std::abs(double(q[i]) * double(wide[i])) + double(q[i]) * double(q[i]) + double(wide[i]) * wide[i];
    }
    const double tolerance = 1e-6 * scale + 1e-6;
    CAPTURE(dim);
    CHECK(std::abs(l2_squared_byte<T>(q.data(), v.data(), dim) - l2) <= tolerance);
    CHECK(std::abs(dot_byte<T>(q.data(), v.data(), dim) - dot) <= tolerance);
    CHECK(l2_squared_byte_fetching<T>(q.data(), v.data(), dim, next.data()) ==
          l2_squared_byte<T>(q.data(), v.data(), dim));
    CHECK(dot_byte_fetching<T>(q.data(), v.data(), dim, next.data()) == dot_byte<T>(q.data(), v.data(), dim));
    widen_byte<T>(v.data(), widened.data(), dim);
    CHECK(widened == wide);
  }
  MESSAGE("8-bit kernels of this build: " << byte_kernels_name());
}

TEST_CASE_TEMPLATE("HnswIndex over narrow elements agrees with a double brute force over the same values", C,
                   Case<Float16, metric::L2>, Case<Float16, metric::InnerProduct>, Case<Float16, metric::Cosine>,
                   Case<BFloat16, metric::L2>, Case<BFloat16, metric::InnerProduct>, Case<BFloat16, metric::Cosine>,
                   Case<Int8, metric::L2>, Case<Int8, metric::InnerProduct>, Case<Int8, metric::Cosine>,
                   Case<UInt8, metric::L2>, Case<UInt8, metric::InnerProduct>, Case<UInt8, metric::Cosine>) {
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 20;
  const VectorSchema schema{kDim, element_type_v<T>, M::kind};
  HnswIndex<T, M> index(schema, HnswParams{.m = 8, .ef_construction = 60, .block_size = 64, .seed = 9});
  Model model;
  std::mt19937 rng(17);
  for (int i = 0; i < 400; ++i) {
    const std::string key = "k" + std::to_string(i);
    model[key] = random_elements<T>(rng, kDim, 3.0f);
    CHECK(index.upsert_blob(key, blob_of<T>(model[key])) == UpsertOutcome::kInserted);
  }
  // Churn: erase a quarter, replace a few, with maintenance in between.
  for (int i = 0; i < 400; i += 4) {
    index.erase("k" + std::to_string(i));
    model.erase("k" + std::to_string(i));
  }
  for (int i = 1; i < 400; i += 40) {
    const std::string key = "k" + std::to_string(i);
    model[key] = random_elements<T>(rng, kDim, 3.0f);
    CHECK(index.upsert(key, model[key]) == UpsertOutcome::kUpdated);
  }
  index.maintain(1u << 20);
  REQUIRE(index.size() == model.size());

  // Values come back exactly as given.
  for (const auto& [key, v] : model) {
    const auto got = index.get_vector(key);
    REQUIRE(got.has_value());
    CHECK(*got == v);
    CHECK(index.upsert_blob(key, blob_of<T>(v)) == UpsertOutcome::kUnchanged);
  }
  // With ef above the entry count the walk covers the whole graph: results are the exact top 10.
  for (int qi = 0; qi < 40; ++qi) {
    std::normal_distribution<float> nd;
    std::vector<float> q(kDim);
    for (float& x : q) x = nd(rng);
    const auto truth = brute_force<M>(model, q, 10);
    const auto got = index.search(q, 10, {.ef = 512});
    REQUIRE(got.size() == truth.size());
    for (std::size_t r = 0; r < got.size(); ++r) {
      CAPTURE(r);
      CHECK(got[r].key == truth[r].key);
      CHECK(std::abs(got[r].distance - truth[r].distance) <= 1e-5 * (1 + std::abs(truth[r].distance)));
    }
  }
}

TEST_CASE_TEMPLATE("16-bit elements take half the vector memory of floats, 8-bit ones a quarter", C,
                   Case<Float16, metric::L2>, Case<BFloat16, metric::Cosine>, Case<UInt8, metric::L2>,
                   Case<Int8, metric::Cosine>) {
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 64;
  const HnswParams params{.m = 8, .block_size = 128};
  HnswIndex<T, M> narrow(VectorSchema{kDim, element_type_v<T>, M::kind}, params);
  HnswIndex<float, M> wide(VectorSchema{kDim, ElementType::kFloat32, M::kind}, params);
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    const auto v = random_elements<T>(rng, kDim);
    narrow.upsert("k" + std::to_string(i), v);
    wide.upsert("k" + std::to_string(i), v);
  }
  const std::size_t slots = 384;  // three blocks of 128
  // 2 or 1 bytes an element instead of 4, and under COSINE 1/|v| (a float) in the record; the
  // magnitude beside the record is the same for both.
  constexpr std::size_t width = sizeof(typename T::Storage);
  const std::size_t saved = (4 - width) * kDim - (M::kNormalizes ? sizeof(float) : 0);
  CHECK(wide.memory_breakdown().vectors - narrow.memory_breakdown().vectors == slots * saved);
  CHECK(narrow.memory_breakdown().vectors <= slots * (width * kDim + 8) + 64);
  CHECK(narrow.memory_breakdown().links == wide.memory_breakdown().links);
  MESSAGE("bytes per vector, " << to_string(element_type_v<T>) << ": "
                                << narrow.memory_breakdown().vectors / slots << " against "
                                << wide.memory_breakdown().vectors / slots << " for FLOAT32");
}

TEST_CASE("16-bit indexes reject what they cannot store, and change nothing") {
  constexpr std::uint32_t kDim = 4;
  HnswIndex<Float16, metric::Cosine> index(VectorSchema{kDim, ElementType::kFloat16, Metric::kCosine});
  index.upsert("a", std::vector<float>{1, 2, 3, 4});
  const std::size_t bytes = index.memory_bytes();
  // Beyond FLOAT16's range: kNonFinite, as an Inf element would be.
  const auto big = index.try_upsert("b", std::vector<float>{1, 70000, 3, 4});
  CHECK(big.outcome == UpsertOutcome::kRejected);
  CHECK(big.failure == VectorFailure::kNonFinite);
  CHECK_THROWS_AS(index.upsert("a", std::vector<float>{1, -1e6f, 3, 4}), Error);
  // Every element rounds to zero: no direction under COSINE.
  const auto tiny = index.try_upsert("c", std::vector<float>{1e-9f, 0, -1e-9f, 0});
  CHECK(tiny.failure == VectorFailure::kZeroVector);
  // A blob of the wrong size for FLOAT16 (a FLOAT32 blob of the same dimension).
  const auto wrong = index.try_upsert_blob("d", to_float32_blob(std::vector<float>{1, 2, 3, 4}));
  CHECK(wrong.failure == VectorFailure::kWrongSize);
  // A batch with one bad vector inserts nothing.
  const std::vector<float> good{1, 1, 1, 1}, bad{1, 1, 1e5f, 1};
  const std::vector<HnswIndex<Float16, metric::Cosine>::BatchItem> items{{"e", good}, {"f", bad}};
  CHECK_THROWS_AS(index.insert_batch(items, 2), Error);
  CHECK(index.size() == 1);
  CHECK(index.memory_bytes() == bytes);
  CHECK(*index.get_vector("a") == std::vector<float>{1, 2, 3, 4});
  // A float vector is rounded to the nearest FLOAT16.
  index.upsert("g", std::vector<float>{0.1f, 0.2f, 0.3f, 1000.3f});
  const auto g = *index.get_vector("g");
  CHECK(g[0] == Float16::to_float(Float16::from_float(0.1f)));
  CHECK(g[3] == 1000.5f);  // FLOAT16 steps by 0.5 between 512 and 1024
  // The schema's TYPE must be the element type.
  CHECK_THROWS_AS((HnswIndex<Float16, metric::L2>(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2})), Error);
  CHECK_THROWS_AS((HnswIndex<BFloat16, metric::L2>(VectorSchema{kDim, ElementType::kFloat16, Metric::kL2})), Error);
}

TEST_CASE_TEMPLATE("narrow batches and blob batches store the same values as single upserts", T, Float16, BFloat16,
                   Int8, UInt8) {
  constexpr std::uint32_t kDim = 24;
  const VectorSchema schema{kDim, element_type_v<T>, Metric::kIP};
  HnswIndex<T, metric::InnerProduct> batch(schema), blobs(schema);
  std::mt19937 rng(23);
  std::vector<std::string> keys;
  std::vector<std::vector<float>> vectors;
  std::vector<std::string> blob_bytes;
  for (int i = 0; i < 300; ++i) {
    keys.push_back("b" + std::to_string(i));
    vectors.push_back(random_elements<T>(rng, kDim));
    blob_bytes.push_back(blob_of<T>(vectors.back()));
  }
  std::vector<typename HnswIndex<T, metric::InnerProduct>::BatchItem> items;
  std::vector<typename HnswIndex<T, metric::InnerProduct>::BlobItem> blob_items;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    items.emplace_back(keys[i], vectors[i]);
    blob_items.emplace_back(keys[i], blob_bytes[i]);
  }
  CHECK(batch.insert_batch(items, 2) == keys.size());
  std::vector<UpsertResult> results(blob_items.size());
  std::vector<std::thread> threads;
  blobs.try_upsert_blobs(blob_items, results, 2, [&](std::function<void()> task) { threads.emplace_back(task); });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    CHECK(results[i].outcome == UpsertOutcome::kInserted);
    CHECK(*batch.get_vector(keys[i]) == vectors[i]);
    CHECK(*blobs.get_vector(keys[i]) == vectors[i]);
  }
  for (std::size_t i = 0; i < keys.size(); i += 2) batch.erase(keys[i]);
  batch.compact();
  CHECK(batch.size() == keys.size() / 2);
  for (std::size_t i = 1; i < keys.size(); i += 2) CHECK(*batch.get_vector(keys[i]) == vectors[i]);
}

TEST_CASE_TEMPLATE("narrow snapshots load back the same values and answers", C, Case<Float16, metric::Cosine>,
                   Case<BFloat16, metric::L2>, Case<Int8, metric::Cosine>, Case<UInt8, metric::L2>) {
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 16;
  HnswIndex<T, M> index(VectorSchema{kDim, element_type_v<T>, M::kind}, HnswParams{.m = 6, .seed = 4});
  std::mt19937 rng(29);
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < 250; ++i) {
    vectors.push_back(random_elements<T>(rng, kDim, 10.0f));
    index.upsert("s" + std::to_string(i), vectors.back());
  }
  for (int i = 0; i < 250; i += 5) index.erase("s" + std::to_string(i));  // tombstones, repaired on export
  MemorySerializer out;
  save(index, out);
  const auto bytes = out.take();
  MemoryDeserializer in(bytes);
  const auto loaded = load_hnsw<M, T>(in);
  REQUIRE(loaded->size() == index.size());
  for (int i = 1; i < 250; ++i) {
    if (i % 5 == 0) continue;
    const std::string key = "s" + std::to_string(i);
    CHECK(*loaded->get_vector(key) == vectors[static_cast<std::size_t>(i)]);
  }
  for (int qi = 0; qi < 20; ++qi) {
    const auto q = random_elements<T>(rng, kDim);
    const auto a = index.search(q, 5, {.ef = 300}), b = loaded->search(q, 5, {.ef = 300});
    REQUIRE(a.size() == b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      CHECK(a[r].key == b[r].key);
      CHECK(a[r].distance == b[r].distance);
    }
  }
  // Saved again, the loaded index gives the same bytes.
  MemorySerializer again;
  save(*loaded, again);
  CHECK(again.take() == bytes);
  // A float index loads it too (widened; under COSINE it keeps the normalised vector and its
  // magnitude, so the product is the value up to float rounding); a 16-bit index refuses a snapshot
  // of another TYPE.
  MemoryDeserializer wide_in(bytes);
  const auto wide = load_hnsw<M>(wide_in);
  const auto widened = *wide->get_vector("s1");
  for (std::size_t i = 0; i < kDim; ++i) CHECK(widened[i] == doctest::Approx(vectors[1][i]).epsilon(1e-6));
  HnswIndex<float, M> floats(VectorSchema{kDim, ElementType::kFloat32, M::kind});
  floats.upsert("x", vectors[1]);
  MemorySerializer float_out;
  save(floats, float_out);
  const auto float_bytes = float_out.take();
  MemoryDeserializer float_in(float_bytes);
  try {
    load_hnsw<M, T>(float_in);
    FAIL("a FLOAT32 snapshot loaded into a 16-bit index");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
}

TEST_CASE_TEMPLATE("a float index's snapshot of 16-bit vectors loads into a 16-bit index exactly", C,
                   Case<Float16, metric::Cosine>, Case<BFloat16, metric::Cosine>, Case<Float16, metric::L2>) {
  // What the Redis module wrote before HNSW kept 16-bit TYPEs in 16 bits: a float index whose schema
  // says FLOAT16 / BFLOAT16. Under COSINE it saved normalised floats and magnitudes; normalised ×
  // magnitude must round back to the given elements.
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 33;
  const VectorSchema schema{kDim, element_type_v<T>, M::kind};
  HnswIndex<float, M> old(schema, HnswParams{.m = 6, .seed = 8});
  std::mt19937 rng(31);
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < 300; ++i) {
    // Elements over the whole range, subnormals included.
    std::vector<float> v = random_elements<T>(rng, kDim, i % 3 == 0 ? 1e-6f : i % 3 == 1 ? 1.0f : 3000.0f);
    vectors.push_back(v);
    old.upsert_blob("o" + std::to_string(i), blob_of<T>(v));
  }
  MemorySerializer out;
  save(old, out);
  const auto bytes = out.take();
  MemoryDeserializer in(bytes);
  const auto loaded = load_hnsw<M, T>(in);
  REQUIRE(loaded->size() == vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i)
    if (*loaded->get_vector("o" + std::to_string(i)) != vectors[i]) FAIL_CHECK("entry " << i << " changed");
  for (int qi = 0; qi < 20; ++qi) {
    const auto q = random_elements<T>(rng, kDim);
    // The tiny vectors are all at nearly |q|² under L2, closer than float resolves: the two kernels
    // (another summing order) may order those near-ties differently, so distances are compared.
    const auto a = old.search(q, 5, {.ef = 400}), b = loaded->search(q, 5, {.ef = 400});
    REQUIRE(a.size() == b.size());
    for (std::size_t r = 0; r < a.size(); ++r)
      CHECK(a[r].distance == doctest::Approx(b[r].distance).epsilon(1e-5));
  }
}

TEST_CASE_TEMPLATE("FlatIndex over narrow elements is exact over the same values, in every query form", C,
                   Case<Float16, metric::L2>, Case<Float16, metric::InnerProduct>, Case<Float16, metric::Cosine>,
                   Case<BFloat16, metric::L2>, Case<BFloat16, metric::InnerProduct>, Case<BFloat16, metric::Cosine>,
                   Case<Int8, metric::L2>, Case<Int8, metric::InnerProduct>, Case<Int8, metric::Cosine>,
                   Case<UInt8, metric::L2>, Case<UInt8, metric::InnerProduct>, Case<UInt8, metric::Cosine>) {
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 37;  // odd: the elements are padded to 4 bytes in each slot
  const VectorSchema schema{kDim, element_type_v<T>, M::kind};
  FlatIndex<T, M> index(schema, FlatParams{.block_size = 64});
  Model model;
  std::mt19937 rng(41);
  for (int i = 0; i < 500; ++i) {
    const std::string key = "f" + std::to_string(i);
    model[key] = random_elements<T>(rng, kDim, 2.0f);
    CHECK(index.upsert_blob(key, blob_of<T>(model[key])) == UpsertOutcome::kInserted);
  }
  for (int i = 0; i < 500; i += 3) {
    index.erase("f" + std::to_string(i));
    model.erase("f" + std::to_string(i));
  }
  CHECK(index.upsert("f1", model["f1"]) == UpsertOutcome::kUnchanged);
  model["f2"] = random_elements<T>(rng, kDim, 2.0f);
  CHECK(index.upsert_blob("f2", blob_of<T>(model["f2"])) == UpsertOutcome::kUpdated);
  index.compact();
  REQUIRE(index.size() == model.size());
  for (const auto& [key, v] : model) CHECK(*index.get_vector(key) == v);

  std::vector<float> batch;
  std::vector<std::vector<float>> queries;
  std::normal_distribution<float> nd;
  for (int qi = 0; qi < 25; ++qi) {
    std::vector<float> q(kDim);
    for (float& x : q) x = nd(rng);
    queries.push_back(q);
    batch.insert(batch.end(), q.begin(), q.end());
  }
  const auto batched = index.search_batch(batch, 10);
  for (std::size_t qi = 0; qi < queries.size(); ++qi) {
    const auto truth = brute_force<M>(model, queries[qi], 10);
    const auto got = index.search(queries[qi], 10);
    REQUIRE(got.size() == truth.size());
    REQUIRE(batched[qi].size() == got.size());
    for (std::size_t r = 0; r < got.size(); ++r) {
      CAPTURE(r);
      CHECK(got[r].key == truth[r].key);
      CHECK(std::abs(got[r].distance - truth[r].distance) <= 1e-5 * (1 + std::abs(truth[r].distance)));
      CHECK(batched[qi][r].key == got[r].key);
      CHECK(batched[qi][r].distance == got[r].distance);
    }
    if (got.back().distance >= 0) {  // a radius is >= 0 (IP distances may be negative)
      const auto within = index.range_search(queries[qi], got.back().distance);
      CHECK(within.size() >= got.size());
      for (std::size_t r = 0; r < got.size(); ++r) CHECK(within[r].key == got[r].key);
    }
  }

  MemorySerializer out;
  save(index, out);
  const auto bytes = out.take();
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<M, T>(in);
  REQUIRE(loaded->size() == model.size());
  for (const auto& [key, v] : model) CHECK(*loaded->get_vector(key) == v);
  for (const auto& q : queries) {
    const auto a = index.search(q, 10), b = loaded->search(q, 10);
    REQUIRE(a.size() == b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      CHECK(a[r].key == b[r].key);
      CHECK(a[r].distance == b[r].distance);
    }
  }
  MemoryDeserializer wide_in(bytes);
  CHECK(load_flat<M>(wide_in)->size() == model.size());  // a float index takes it too, widened
  FlatIndex<float, M> floats(VectorSchema{kDim, ElementType::kFloat32, M::kind});
  floats.upsert("x", model.begin()->second);
  MemorySerializer float_out;
  save(floats, float_out);
  const auto float_bytes = float_out.take();
  MemoryDeserializer float_in(float_bytes);
  CHECK_THROWS_AS((load_flat<M, T>(float_in)), Error);
}

TEST_CASE("FlatIndex over 16-bit elements takes half the vector memory and rejects what it cannot store") {
  constexpr std::uint32_t kDim = 64;
  FlatIndex<Float16, metric::L2> narrow(VectorSchema{kDim, ElementType::kFloat16, Metric::kL2},
                                        FlatParams{.block_size = 128});
  FlatIndex<float, metric::L2> wide(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2},
                                    FlatParams{.block_size = 128});
  std::mt19937 rng(43);
  for (int i = 0; i < 200; ++i) {
    const auto v = random_elements<Float16>(rng, kDim);
    narrow.upsert("k" + std::to_string(i), v);
    wide.upsert("k" + std::to_string(i), v);
  }
  // Two blocks of 128 slots: 2 bytes an element saved in each.
  CHECK(wide.memory_bytes() - narrow.memory_bytes() == 256 * kDim * 2);
  const std::size_t bytes = narrow.memory_bytes();
  std::vector<float> big(kDim, 1.0f);
  big[5] = 1e6f;
  CHECK(narrow.try_upsert("k1", big).failure == VectorFailure::kNonFinite);
  CHECK(narrow.memory_bytes() == bytes);
  CHECK(*narrow.get_vector("k1") == *wide.get_vector("k1"));
  CHECK_THROWS_AS((FlatIndex<Float16, metric::L2>(VectorSchema{kDim, ElementType::kBFloat16, Metric::kL2})), Error);
}

TEST_CASE("a snapshot with an element beyond the 16-bit type's range is refused as corrupt") {
  // A float index's schema may say FLOAT16 while its float API took 1e6: a 16-bit index must not
  // load that as Inf.
  constexpr std::uint32_t kDim = 4;
  const std::vector<float> big{1, 1e6f, 0, 0};
  HnswIndex<float, metric::Cosine> hnsw(VectorSchema{kDim, ElementType::kFloat16, Metric::kCosine});
  hnsw.upsert("a", std::vector<float>{1, 2, 3, 4});
  hnsw.upsert("b", big);
  // (BFLOAT16 has float's range: a vector within kMaxSquaredNorm always fits it.)
  FlatIndex<float, metric::L2> flat(VectorSchema{kDim, ElementType::kFloat16, Metric::kL2});
  flat.upsert("b", std::vector<float>{1, -65520, 0, 0});  // rounds past FLOAT16's largest value
  MemorySerializer hnsw_out, flat_out;
  save(hnsw, hnsw_out);
  save(flat, flat_out);
  const auto hnsw_bytes = hnsw_out.take(), flat_bytes = flat_out.take();
  MemoryDeserializer hnsw_in(hnsw_bytes), flat_in(flat_bytes);
  try {
    load_hnsw<metric::Cosine, Float16>(hnsw_in);
    FAIL("loaded an element beyond FLOAT16");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
  try {
    load_flat<metric::L2, Float16>(flat_in);
    FAIL("loaded an element beyond FLOAT16");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
}

TEST_CASE("8-bit indexes reject what they cannot store, and change nothing") {
  constexpr std::uint32_t kDim = 4;
  HnswIndex<Int8, metric::L2> index(VectorSchema{kDim, ElementType::kInt8, Metric::kL2});
  FlatIndex<UInt8, metric::Cosine> flat(VectorSchema{kDim, ElementType::kUint8, Metric::kCosine});
  index.upsert("a", std::vector<float>{1, -2, 3, 127});
  flat.upsert("a", std::vector<float>{1, 2, 3, 255});
  const std::size_t bytes = index.memory_bytes(), flat_bytes = flat.memory_bytes();
  // Beyond the integer range after rounding: kOutOfRange.
  CHECK(index.try_upsert("b", std::vector<float>{1, 128, 3, 4}).failure == VectorFailure::kOutOfRange);
  CHECK(index.try_upsert("b", std::vector<float>{-128.6f, 0, 0, 0}).failure == VectorFailure::kOutOfRange);
  CHECK(flat.try_upsert("b", std::vector<float>{1, -1, 3, 4}).failure == VectorFailure::kOutOfRange);
  CHECK(flat.try_upsert("b", std::vector<float>{1, 256, 3, 4}).failure == VectorFailure::kOutOfRange);
  CHECK_THROWS_AS(index.upsert("a", std::vector<float>{1, 2, 3, 200}), Error);
  // Every element rounds to zero: no direction under COSINE.
  CHECK(flat.try_upsert("c", std::vector<float>{0.2f, 0, 0.4f, 0}).failure == VectorFailure::kZeroVector);
  // A blob of the wrong size (a FLOAT16-sized blob for INT8), and NaN from the float API.
  CHECK(index.try_upsert_blob("d", std::string(8, '\1')).failure == VectorFailure::kWrongSize);
  CHECK(index.try_upsert("d", std::vector<float>{1, std::nanf(""), 3, 4}).failure == VectorFailure::kNonFinite);
  // A batch with one bad vector inserts nothing.
  const std::vector<float> good{1, 1, 1, 1}, bad{1, 1, 300, 1};
  const std::vector<HnswIndex<Int8, metric::L2>::BatchItem> items{{"e", good}, {"f", bad}};
  CHECK_THROWS_AS(index.insert_batch(items, 2), Error);
  CHECK(index.size() == 1);
  CHECK(flat.size() == 1);
  CHECK(index.memory_bytes() == bytes);
  CHECK(flat.memory_bytes() == flat_bytes);
  CHECK(*index.get_vector("a") == std::vector<float>{1, -2, 3, 127});
  // A float vector is rounded to the nearest integer (ties to even).
  index.upsert("g", std::vector<float>{0.4f, 2.5f, -3.5f, 126.6f});
  CHECK(*index.get_vector("g") == std::vector<float>{0, 2, -4, 127});
  // Blobs: INT8 bytes are two's complement, UINT8 bytes as they are.
  index.upsert_blob("h", std::string("\x01\xff\x80\x7f", 4));
  CHECK(*index.get_vector("h") == std::vector<float>{1, -1, -128, 127});
  flat.upsert_blob("h", std::string("\x01\xff\x80\x7f", 4));
  CHECK(*flat.get_vector("h") == std::vector<float>{1, 255, 128, 127});
  // The schema's TYPE must be the element type.
  CHECK_THROWS_AS((HnswIndex<Int8, metric::L2>(VectorSchema{kDim, ElementType::kUint8, Metric::kL2})), Error);
  CHECK_THROWS_AS((FlatIndex<UInt8, metric::L2>(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2})), Error);
}

TEST_CASE("a snapshot with an element beyond the 8-bit type's range is refused as corrupt") {
  // A float index's schema may say INT8 / UINT8 while its float API took other values.
  constexpr std::uint32_t kDim = 4;
  HnswIndex<float, metric::L2> hnsw(VectorSchema{kDim, ElementType::kInt8, Metric::kL2});
  hnsw.upsert("a", std::vector<float>{1, 2, 3, 4});
  hnsw.upsert("b", std::vector<float>{1, 200, 0, 0});
  FlatIndex<float, metric::Cosine> flat(VectorSchema{kDim, ElementType::kUint8, Metric::kCosine});
  flat.upsert("b", std::vector<float>{1, -3, 0, 0});
  MemorySerializer hnsw_out, flat_out;
  save(hnsw, hnsw_out);
  save(flat, flat_out);
  const auto hnsw_bytes = hnsw_out.take(), flat_bytes = flat_out.take();
  MemoryDeserializer hnsw_in(hnsw_bytes), flat_in(flat_bytes);
  try {
    load_hnsw<metric::L2, Int8>(hnsw_in);
    FAIL("loaded an element beyond INT8");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
  try {
    load_flat<metric::Cosine, UInt8>(flat_in);
    FAIL("loaded an element beyond UINT8");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
}

namespace {
Bytes read_data_file(const std::string& name) {
  std::ifstream f(std::string(VINDEX_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  std::string s{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return Bytes(p, p + s.size());
}
// Whether two answers name the same keys at the same distances (ids may differ after a load).
bool same_answers(const std::vector<SearchResult>& a, const std::vector<SearchResult>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t r = 0; r < a.size(); ++r)
    if (a[r].key != b[r].key || a[r].distance != b[r].distance) return false;
  return true;
}
// The INDX payload's stored-encoding byte (offset 3).
std::uint8_t stored_encoding(std::span<const std::byte> snapshot) {
  for (const RawSection& s : split_sections(snapshot))
    if (s.tag == snapshot::tag::kIndex) return static_cast<std::uint8_t>(s.payload.at(3));
  return 0;
}
}  // namespace

TEST_CASE("golden snapshots of narrow indexes with float entries (stored encoding 1) still load exactly") {
  // Written before ENTR could hold elements as their TYPE; committed once, never regenerated.
  const Bytes hnsw_bytes = read_data_file("hnsw_float16_cosine_enc1.vdx");
  const Bytes flat_bytes = read_data_file("flat_uint8_l2_enc1.vdx");
  REQUIRE(!hnsw_bytes.empty());
  REQUIRE(!flat_bytes.empty());
  CHECK(stored_encoding(hnsw_bytes) == snapshot::kStoredFloat32);
  CHECK(stored_encoding(flat_bytes) == snapshot::kStoredFloat32);
  MemoryDeserializer hnsw_in(hnsw_bytes), flat_in(flat_bytes);
  const auto hnsw = load_hnsw<metric::Cosine, Float16>(hnsw_in);
  const auto flat = load_flat<metric::L2, UInt8>(flat_in);
  const auto fresh_hnsw = NarrowGoldenContent::hnsw();
  const auto fresh_flat = NarrowGoldenContent::flat();
  CHECK(hnsw->size() == fresh_hnsw->size());
  CHECK(flat->size() == fresh_flat->size());
  for (int i = 0; i < 60; ++i) {
    const std::string key = NarrowGoldenContent::key(i);
    if (NarrowGoldenContent::erased(i)) {
      CHECK(!hnsw->get_vector(key));
      CHECK(!flat->get_vector(key));
      continue;
    }
    CHECK(*hnsw->get_vector(key) == NarrowGoldenContent::vector(i, true));
    CHECK(*flat->get_vector(key) == NarrowGoldenContent::vector(i, false));
  }
  for (int qi = 0; qi < 10; ++qi) {
    const auto q = NarrowGoldenContent::vector(100 + qi, true);
    const auto a = hnsw->search(q, 5, {.ef = 100}), b = fresh_hnsw->search(q, 5, {.ef = 100});
    REQUIRE(a.size() == b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      CHECK(a[r].key == b[r].key);
      CHECK(a[r].distance == b[r].distance);
    }
    CHECK(same_answers(flat->search(q, 5), fresh_flat->search(q, 5)));
  }
  // Saved again, they take this version's encoding: the TYPE's own elements.
  CHECK(stored_encoding(snapshot_bytes(*hnsw)) == snapshot::kStoredAsType);
  CHECK(stored_encoding(snapshot_bytes(*flat)) == snapshot::kStoredAsType);
}

TEST_CASE_TEMPLATE("narrow indexes snapshot their elements as their TYPE: smaller, and exact back", C,
                   Case<Float16, metric::Cosine>, Case<BFloat16, metric::InnerProduct>, Case<Int8, metric::L2>,
                   Case<UInt8, metric::Cosine>) {
  using T = typename C::Element;
  using M = typename C::Metric;
  constexpr std::uint32_t kDim = 40;
  const VectorSchema schema{kDim, element_type_v<T>, M::kind};
  HnswIndex<T, M> narrow(schema, HnswParams{.m = 6, .seed = 2});
  HnswIndex<float, M> wide(schema, HnswParams{.m = 6, .seed = 2});  // a float index of the same TYPE
  FlatIndex<T, M> flat(schema);
  std::mt19937 rng(47);
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    const auto v = random_elements<T>(rng, kDim, 5.0f);
    narrow.upsert("e" + std::to_string(i), v);
    wide.upsert("e" + std::to_string(i), v);
    flat.upsert("e" + std::to_string(i), v);
  }
  const Bytes narrow_bytes = snapshot_bytes(narrow), wide_bytes = snapshot_bytes(wide), flat_bytes = snapshot_bytes(flat);
  CHECK(stored_encoding(narrow_bytes) == snapshot::kStoredAsType);
  CHECK(stored_encoding(flat_bytes) == snapshot::kStoredAsType);
  CHECK(stored_encoding(wide_bytes) == snapshot::kStoredFloat32);
  // Same graph, entries of width·dim bytes instead of 4·dim (+ a float magnitude under COSINE).
  const std::size_t saved = (4 - sizeof(typename T::Storage)) * kDim + (M::kNormalizes ? 4 : 0);
  CHECK(wide_bytes.size() - narrow_bytes.size() >= kCount * saved);
  CHECK(wide_bytes.size() - narrow_bytes.size() <= kCount * saved + 64);  // section framing
  MESSAGE(to_string(element_type_v<T>) << " " << to_string(M::kind) << ": HNSW snapshot " << narrow_bytes.size()
                                       << " bytes against " << wide_bytes.size() << " with float entries");
  // Loaded into the narrow index: the same entries, the same answers, the same bytes again.
  MemoryDeserializer in(narrow_bytes), flat_in(flat_bytes), widened_in(narrow_bytes);
  const auto loaded = load_hnsw<M, T>(in);
  const auto loaded_flat = load_flat<M, T>(flat_in);
  CHECK(snapshot_bytes(*loaded) == narrow_bytes);
  CHECK(snapshot_bytes(*loaded_flat) == flat_bytes);
  // A float index takes it too, as it would have taken the blobs.
  const auto widened = load_hnsw<M>(widened_in);
  for (int i = 0; i < kCount; i += 7) {
    const std::string key = "e" + std::to_string(i);
    CHECK(*loaded->get_vector(key) == *narrow.get_vector(key));
    CHECK(*loaded_flat->get_vector(key) == *narrow.get_vector(key));
    CHECK(*widened->get_vector(key) == *wide.get_vector(key));
  }
  for (int qi = 0; qi < 10; ++qi) {
    const auto q = random_elements<T>(rng, kDim);
    const auto a = narrow.search(q, 5, {.ef = 300}), b = loaded->search(q, 5, {.ef = 300});
    REQUIRE(a.size() == b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      CHECK(a[r].key == b[r].key);
      CHECK(a[r].distance == b[r].distance);
    }
    CHECK(same_answers(widened->search(q, 5, {.ef = 300}), wide.search(q, 5, {.ef = 300})));
  }
}

TEST_CASE("a loader refuses damaged entries stored as their TYPE") {
  constexpr std::uint32_t kDim = 4;
  HnswIndex<Float16, metric::Cosine> index(VectorSchema{kDim, ElementType::kFloat16, Metric::kCosine});
  index.upsert("a", std::vector<float>{1, 2, 3, 4});
  index.upsert("b", std::vector<float>{0, 1, 0, 0});
  const Bytes good = snapshot_bytes(index);
  // Each case rewrites one payload (checksums repaired) and must be refused as corrupt, not loaded.
  auto refused = [&](const char* what, auto&& damage) {
    auto sections = split_sections(good);
    damage(sections);
    const Bytes bad = assemble(sections);
    MemoryDeserializer in(bad);
    try {
      load_hnsw<metric::Cosine, Float16>(in);
      FAIL_CHECK("loaded: " << what);
    } catch (const Error& e) {
      CAPTURE(what);
      CHECK(e.code() == ErrorCode::kCorruptData);
    }
  };
  auto entries = [](std::vector<RawSection>& sections) -> Bytes& {
    for (RawSection& s : sections)
      if (s.tag == snapshot::tag::kEntries) return s.payload;
    throw std::logic_error("no ENTR");
  };
  // ENTR: u32 count, then u32 key length 1, "a", 4 × u16 elements.
  refused("an Inf element", [&](auto& s) {
    entries(s)[9] = std::byte{0x00};
    entries(s)[10] = std::byte{0x7c};
  });
  refused("a NaN element", [&](auto& s) { entries(s)[10] = std::byte{0x7e}; });
  refused("a zero vector under COSINE", [&](auto& s) {
    for (std::size_t i = 9; i < 17; ++i) entries(s)[i] = std::byte{0};
  });
  refused("a truncated entry", [&](auto& s) { entries(s).pop_back(); });
  refused("encoding 2 with TYPE FLOAT32", [&](auto& s) {
    for (RawSection& r : s)
      if (r.tag == snapshot::tag::kIndex) r.payload[1] = std::byte{1};
  });
  refused("an unknown encoding", [&](auto& s) {
    for (RawSection& r : s)
      if (r.tag == snapshot::tag::kIndex) r.payload[3] = std::byte{3};
  });
  // A bfloat16 element near float's largest: finite, but its square overflows kMaxSquaredNorm.
  HnswIndex<BFloat16, metric::L2> big(VectorSchema{kDim, ElementType::kBFloat16, Metric::kL2});
  big.upsert("a", std::vector<float>{1, 2, 3, 4});
  auto sections = split_sections(snapshot_bytes(big));
  entries(sections)[10] = std::byte{0x7f};  // element 0: 0x7f00 ≈ 1.7e38
  entries(sections)[9] = std::byte{0x00};
  const Bytes bad = assemble(sections);
  MemoryDeserializer in(bad);
  CHECK_THROWS_AS((load_hnsw<metric::L2, BFloat16>(in)), Error);
}

TEST_CASE("a COSINE vector whose given elements round to zero in the narrow type cannot be stored") {
  // A snapshot with float entries (stored encoding 1) can hold such a vector; stored at its width
  // it would save as the zero vector and not load again (found by fuzz_snapshot_load).
  const std::vector<float> unit = {0.6f, 0.8f, 0.0f};
  CHECK(detail::VectorCodec<Float16, metric::Cosine>::fits(unit.data(), 1.0f, 3));
  CHECK_FALSE(detail::VectorCodec<Float16, metric::Cosine>::fits(unit.data(), 1e-9f, 3));
  CHECK_FALSE(detail::VectorCodec<UInt8, metric::Cosine>::fits(unit.data(), 0.5f, 3));
  CHECK(detail::VectorCodec<Float16, metric::L2>::fits(unit.data(), 1.0f, 3));
  const std::vector<float> zero = {0.0f, 0.0f, 0.0f};
  CHECK(detail::VectorCodec<UInt8, metric::L2>::fits(zero.data(), 1.0f, 3));  // zero is fine under L2
}
