// Specification of the core layer: schema, limits and blob decoding.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/storage/growth.hpp"
#include "vindex/storage/key_map.hpp"

using namespace vindex;

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
}  // namespace

TEST_CASE("schema: DIM must be within 1..max_dim, and the limit is configurable") {
  CHECK(code_of([] { VectorSchema{0}.validate(); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { VectorSchema{32769}.validate(); }) == ErrorCode::kInvalidArgument);
  VectorSchema{32768}.validate();
  Limits small;
  small.max_dim = 16;
  CHECK(code_of([&] { VectorSchema{17}.validate(small); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([] { VectorSchema{4, static_cast<ElementType>(9)}.validate(); }) ==
        ErrorCode::kInvalidArgument);
  CHECK(code_of([] { VectorSchema{4, ElementType::kFloat32, static_cast<Metric>(0)}.validate(); }) ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("limits: k, ef, M and block size are checked with clear messages") {
  Limits l;
  CHECK(code_of([&] { l.check_k(0); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { l.check_k(10001); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { l.check_ef(4097); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { l.check_m(1); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { l.check_m(513); }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { l.check_block_size(0); }) == ErrorCode::kInvalidArgument);
  l.check_k(10000);
  l.check_ef(4096);
  l.check_m(2);
  try {
    l.check_k(123456);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("123456") != std::string::npos);
  }
}

TEST_CASE("parse_metric and parse_element_type accept Redis names in any case") {
  CHECK(parse_metric("cosine") == Metric::kCosine);
  CHECK(parse_metric("L2") == Metric::kL2);
  CHECK(parse_metric("Ip") == Metric::kIP);
  CHECK_FALSE(parse_metric("L1").has_value());
  CHECK(parse_element_type("float32") == ElementType::kFloat32);
  CHECK(parse_element_type("BFLOAT16") == ElementType::kBFloat16);
  CHECK_FALSE(parse_element_type("FLOAT64").has_value());
}

TEST_CASE("a FLOAT32 blob round-trips through to_float32_blob and decode_blob") {
  const std::vector<float> v = {1.5f, -2.25f, 0.0f, 3e-38f, 1e18f};
  const std::string blob = to_float32_blob(v);
  CHECK(blob.size() == 20);
  // Little-endian layout as numpy writes it: 1.5f = 0x3fc00000.
  CHECK(static_cast<unsigned char>(blob[3]) == 0x3f);
  CHECK(static_cast<unsigned char>(blob[2]) == 0xc0);
  std::vector<float> out(5);
  CHECK(decode_blob(VectorSchema{5}, blob, out) == VectorFailure::kNone);
  CHECK(out == v);
}

TEST_CASE("each bad blob has its own failure reason") {
  std::vector<float> out(4);
  const VectorSchema l2{4, ElementType::kFloat32, Metric::kL2};
  const VectorSchema cosine{4, ElementType::kFloat32, Metric::kCosine};
  CHECK(decode_blob(l2, std::string(15, '\0'), out) == VectorFailure::kWrongSize);
  CHECK(decode_blob(l2, std::string(17, '\0'), out) == VectorFailure::kWrongSize);
  CHECK(decode_blob(l2, "", out) == VectorFailure::kWrongSize);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(decode_blob(l2, to_float32_blob(std::vector<float>{1, nan, 0, 0}), out) == VectorFailure::kNonFinite);
  CHECK(decode_blob(l2, to_float32_blob(std::vector<float>{1, 0, -inf, 0}), out) == VectorFailure::kNonFinite);
  CHECK(decode_blob(l2, to_float32_blob(std::vector<float>{0, 0, 0, 0}), out) == VectorFailure::kNone);
  CHECK(decode_blob(cosine, to_float32_blob(std::vector<float>{0, 0, 0, 0}), out) == VectorFailure::kZeroVector);
  CHECK(decode_blob(cosine, to_float32_blob(std::vector<float>{0, 0, -0.0f, 1e-30f}), out) == VectorFailure::kNone);
}

TEST_CASE("a vector whose squared length exceeds 2^124 is out of range: its distances could overflow") {
  std::vector<float> out(4);
  const VectorSchema l2{4, ElementType::kFloat32, Metric::kL2};
  // Finite components near the float maximum: their squares overflow, so every distance would be +inf.
  CHECK(decode_blob(l2, to_float32_blob(std::vector<float>{3e38f, -3e38f, 3e38f, -3e38f}), out) ==
        VectorFailure::kOutOfRange);
  // Exactly at the bound (4 × (2^61)² = 2^124) is accepted; one component a step larger is not.
  const float at = std::ldexp(1.0f, 61);
  CHECK(check_vector(l2, std::vector<float>{at, -at, at, -at}) == VectorFailure::kNone);
  CHECK(check_vector(l2, std::vector<float>{std::nextafter(at, 1e38f), -at, at, -at}) == VectorFailure::kOutOfRange);
  // The bound holds for every metric and element type (BFLOAT16 reaches 3.4e38 too).
  const VectorSchema cosine{4, ElementType::kFloat32, Metric::kCosine};
  CHECK(check_vector(cosine, std::vector<float>{1e30f, 0, 0, 0}) == VectorFailure::kOutOfRange);
  const unsigned char bf16_big[] = {0x7f, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};  // 0x7f7f ≈ 3.39e38
  CHECK(decode_blob(VectorSchema{4, ElementType::kBFloat16}, std::string_view(reinterpret_cast<const char*>(bf16_big), 8),
                    out) == VectorFailure::kOutOfRange);
  // Tiny and subnormal vectors are fine, also under COSINE (normalised in double precision).
  CHECK(check_vector(cosine, std::vector<float>{std::numeric_limits<float>::denorm_min(), 0, 0, 0}) ==
        VectorFailure::kNone);
  CHECK(code_of([&] { throw_if_failed(VectorFailure::kOutOfRange, l2, "k", 4, false); }) == ErrorCode::kInvalidVector);
  CHECK(to_string(VectorFailure::kOutOfRange) == "magnitude out of range");
}

TEST_CASE("FLOAT16 and BFLOAT16 blobs decode to the same floats") {
  // 1.0 = 0x3c00 (half) / 0x3f80 (bfloat16); -2.5 = 0xc100 / 0xc020; smallest subnormal half = 0x0001.
  const unsigned char half[] = {0x00, 0x3c, 0x00, 0xc1, 0x01, 0x00, 0x00, 0x7c};
  const unsigned char bf16[] = {0x80, 0x3f, 0x20, 0xc0, 0x00, 0x00, 0x80, 0x7f};
  std::vector<float> out(4);
  const VectorSchema h{4, ElementType::kFloat16};
  const VectorSchema b{4, ElementType::kBFloat16};
  CHECK(decode_blob(h, std::string_view(reinterpret_cast<const char*>(half), 8), out) == VectorFailure::kNonFinite);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -2.5f);
  CHECK(out[2] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(out[3]));
  CHECK(decode_blob(b, std::string_view(reinterpret_cast<const char*>(bf16), 8), out) == VectorFailure::kNonFinite);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -2.5f);
  CHECK(out[2] == 0.0f);
  CHECK(decode_blob(h, std::string_view(reinterpret_cast<const char*>(half), 6), out) == VectorFailure::kWrongSize);
}

TEST_CASE("error messages name binary keys safely") {
  const std::string key("a\0b\xff", 4);
  CHECK(printable_key(key) == "'a\\x00b\\xff'");
  try {
    throw_if_failed(VectorFailure::kWrongSize, VectorSchema{4}, key, 3, true);
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
    const std::string what = e.what();
    CHECK(what.find("3 bytes") != std::string::npos);
    CHECK(what.find("expected 16") != std::string::npos);
  }
}

TEST_CASE("reserve_for grows geometrically, so reserving before each push stays amortised O(1)") {
  std::vector<int> v;
  std::size_t reallocations = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::size_t before = v.capacity();
    vindex::reserve_for(v, v.size() + 1);
    reallocations += v.capacity() != before;
    REQUIRE(v.capacity() >= v.size() + 1);
    v.push_back(i);
  }
  CHECK(reallocations <= 15);  // 8, 16, ... 131072: 15 sizes; reserve(size() + 1) would take 100000
  const std::size_t cap = v.capacity();
  vindex::reserve_for(v, 10);  // enough room already: nothing changes
  CHECK(v.capacity() == cap);
  vindex::reserve_for(v, 10 * cap);  // asked for more than double: gets what it asked for
  CHECK(v.capacity() >= 10 * cap);
}

TEST_CASE("KeyMap::reserve sizes the table once and changes no lookup") {
  vindex::KeyMap keys;
  for (int i = 0; i < 100; ++i) keys.insert("short" + std::to_string(i));
  keys.reserve(50);  // smaller than the size: nothing to do
  keys.reserve(20000);
  for (int i = 100; i < 18000; ++i) keys.insert("a key long enough to be stored out of line " + std::to_string(i));
  for (int i = 0; i < 18000; ++i) {
    const std::string key = i < 100 ? "short" + std::to_string(i) : "a key long enough to be stored out of line " + std::to_string(i);
    const auto id = keys.find(key);
    REQUIRE(id);
    CHECK(*id == static_cast<vindex::Id>(i));
    CHECK(keys.key(*id) == key);
  }
  CHECK(keys.size() == 18000);
  vindex::KeyMap fresh;  // the table is allocated by reserve, before any insert
  fresh.reserve(20000);
  CHECK(fresh.memory_bytes() >= 20000 * sizeof(vindex::Id));
}
