// Specification of loading damaged and hostile snapshots: every truncation, byte flip, wrong
// header and lying size gives a vindex::Error (never a crash, hang or giant allocation), and an
// index that was there before is untouched. The ASan/UBSan CI build runs these too.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

#if defined(__GNUC__) && !defined(__clang__)
// The replacements below pair operator new with free() through malloc; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Records the largest single allocation, so that tests can prove a hostile size was refused
// before anything was allocated for it.
namespace {
std::atomic<std::size_t> g_largest_allocation{0};
void note_allocation(std::size_t n) {
  std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
  while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

void* operator new(std::size_t n) {
  note_allocation(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t align) {
  note_allocation(n);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace vindex;
using namespace vindex_test;

namespace {

std::string binary_key(std::size_t i) {
  std::string k("\0h", 2);
  k += static_cast<char>(0x80 + i % 100);
  return k + std::to_string(i);
}

// Snapshot of a sample index with erased slots.
template <class MetricT>
Bytes sample(std::uint32_t dim, std::size_t n, std::uint32_t seed, std::size_t section_bytes = 1 << 20) {
  FlatIndex<float, MetricT> index(VectorSchema{dim, ElementType::kFloat32, MetricT::kind},
                                  {.initial_cap = 4, .block_size = 8});
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < n; ++i) index.upsert(binary_key(i), random_vector(rng, dim));
  for (std::size_t i = 0; i < n; i += 4) index.erase(binary_key(i));
  return snapshot_bytes(index, {.section_bytes = section_bytes});
}

// Loads through memory (size known) and through 7-byte chunks (size unknown); both must throw a
// vindex::Error. Returns the memory load's error code.
ErrorCode load_error(std::span<const std::byte> bytes, const LoadOptions& options = {}) {
  ErrorCode code = ErrorCode::kCancelled;
  try {
    load_any(bytes, options);
    FAIL("a damaged snapshot loaded");
  } catch (const Error& e) {
    code = e.code();
  }
  std::size_t at = 0;
  ChunkedDeserializer chunked([&]() -> std::span<const std::byte> {
    const std::size_t n = std::min<std::size_t>(7, bytes.size() - at);
    auto chunk = bytes.subspan(at, n);
    at += n;
    return chunk;
  });
  CHECK_THROWS_AS(load_any_flat(chunked, options), Error);
  return code;
}

// Rewrites the header's version field and fixes its checksum.
Bytes with_version(Bytes bytes, std::uint32_t version) {
  le::store(bytes.data() + 8, version);
  le::store(bytes.data() + 16, crc32c(0, std::span<const std::byte>(bytes.data(), 16)));
  return bytes;
}

Bytes payload_of(std::initializer_list<std::uint64_t> u64s) {
  Bytes b;
  for (auto v : u64s) {
    b.resize(b.size() + 8);
    le::store(b.data() + b.size() - 8, v);
  }
  return b;
}

// INDX payload: kind, type, metric, stored encoding, dim, entry count.
Bytes index_payload(std::uint8_t kind, std::uint8_t type, std::uint8_t metric, std::uint32_t dim, std::uint64_t count) {
  PayloadWriter p;
  p.u8(kind);
  p.u8(type);
  p.u8(metric);
  p.u8(1);
  p.u32(dim);
  p.u64(count);
  return Bytes(p.view().begin(), p.view().end());
}

}  // namespace

TEST_CASE("truncation at every byte of the first 4 KiB and at every section boundary is an error") {
  const Bytes bytes = sample<metric::Cosine>(12, 150, 1, 512);
  REQUIRE(bytes.size() > 4096);
  for (std::size_t n = 0; n < 4096; ++n) load_error(std::span<const std::byte>(bytes).first(n));
  const auto boundaries = section_boundaries(bytes);
  CHECK(boundaries.size() > 8);
  for (std::size_t b : boundaries) {
    if (b == bytes.size()) continue;
    for (std::size_t n : {b - 1, b, b + 1}) CHECK(load_error(std::span<const std::byte>(bytes).first(n)) == ErrorCode::kCorruptData);
  }
  for (std::size_t n = bytes.size() - 40; n < bytes.size(); ++n) load_error(std::span<const std::byte>(bytes).first(n));
}

TEST_CASE("flipping any byte of a snapshot is detected") {
  const Bytes bytes = sample<metric::L2>(4, 24, 2, 128);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
      Bytes damaged = bytes;
      damaged[i] ^= std::byte{mask};
      CHECK_MESSAGE(load_error(damaged) == ErrorCode::kCorruptData, "byte " << i << " mask " << int(mask));
    }
  }
}

TEST_CASE("random damage to a larger snapshot is detected") {
  const Bytes bytes = sample<metric::InnerProduct>(32, 400, 3, 4096);
  std::mt19937 rng(5);
  for (int t = 0; t < 2000; ++t) {
    Bytes damaged = bytes;
    const std::size_t at = rng() % bytes.size();
    damaged[at] ^= static_cast<std::byte>(1 + rng() % 255);
    if (t % 2) damaged[rng() % bytes.size()] = static_cast<std::byte>(rng() & 0xffu);
    if (damaged == bytes) continue;
    load_error(damaged);
  }
}

TEST_CASE("a failed load leaves the index that was there before untouched") {
  const Bytes good = sample<metric::Cosine>(8, 50, 4);
  MemoryDeserializer in(good);
  std::unique_ptr<FlatIndex<float, metric::Cosine>> live = load_flat<metric::Cosine>(in);
  Bytes bad = good;
  bad[bad.size() / 2] ^= std::byte{0x10};
  try {
    MemoryDeserializer in2(bad);
    live = load_flat<metric::Cosine>(in2);  // the host swaps only on success
    FAIL("a damaged snapshot loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
  CHECK(snapshot_bytes(*live) == good);
}

TEST_CASE("wrong magic, newer or invalid version, and unknown header flags are refused") {
  const Bytes good = sample<metric::L2>(4, 10, 5);
  Bytes magic = good;
  magic[1] = std::byte{'W'};
  CHECK(load_error(magic) == ErrorCode::kCorruptData);
  try {
    load_any(with_version(good, 2));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("newer than this reader") != std::string::npos);
  }
  CHECK(load_error(with_version(good, 0)) == ErrorCode::kCorruptData);
  Bytes flags = good;
  le::store(flags.data() + 12, std::uint32_t{4});
  le::store(flags.data() + 16, crc32c(0, std::span<const std::byte>(flags.data(), 16)));
  CHECK(load_error(flags) == ErrorCode::kCorruptData);
  CHECK(load_error(Bytes{}) == ErrorCode::kCorruptData);
}

TEST_CASE("a snapshot with valid checksums but impossible content is refused with the field named") {
  const Bytes good = sample<metric::Cosine>(4, 10, 6);
  const auto sections = split_sections(good);
  auto replace = [&](std::size_t which, Bytes payload) {
    auto s = sections;
    s[which].payload = std::move(payload);
    return assemble(s);
  };
  auto message = [&](const Bytes& bytes, const LoadOptions& options = {}) {
    try {
      load_any(bytes, options);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kCorruptData);
      return std::string(e.what());
    }
    FAIL("loaded");
    return std::string();
  };
  CHECK(message(replace(0, index_payload(9, 1, 3, 4, 7))).find("unknown index kind code 9") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 7, 3, 4, 7))).find("unknown element type") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 1, 0, 4, 7))).find("unknown metric") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 1, 3, 0, 7))).find("DIM 0") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 1, 3, 40000, 7))).find("DIM 40000") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 1, 3, 4, 6))).find("INDX announced 6") != std::string::npos);
  CHECK(message(replace(0, index_payload(1, 1, 3, 4, 8))).find("INDX announced 8") != std::string::npos);
  CHECK(message(replace(1, payload_of({16, 0}))).find("BLOCK_SIZE 0") != std::string::npos);
  CHECK(message(replace(1, payload_of({16, 1u << 21}))).find("BLOCK_SIZE") != std::string::npos);
  CHECK(message(replace(1, payload_of({std::uint64_t{1} << 33, 8}))).find("INITIAL_CAP") != std::string::npos);
  CHECK(message(replace(1, payload_of({16}))).find("BLOCK_SIZE needs 8 bytes") != std::string::npos);
  CHECK(message(replace(1, payload_of({16, 8, 0}))).find("EXACT_VECTORS 0 is not 1") != std::string::npos);
  CHECK(message(replace(1, payload_of({16, 8, 1, 0}))).find("unexpected bytes") != std::string::npos);
  // EXACT_VECTORS 1: codes as vectors, which a float index refuses to load
  try {
    load_any(replace(1, payload_of({16, 8, 1})));
    FAIL("a float FLAT loaded codes as vectors");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
    CHECK(std::string(e.what()).find("re-ranking from the host") != std::string::npos);
  }
  // sections out of order
  auto swapped = sections;
  std::swap(swapped[0], swapped[1]);
  CHECK(message(assemble(swapped)).find("expected section 'INDX'") != std::string::npos);
  // an HNSW snapshot given to the FLAT loader
  try {
    load_any(replace(0, index_payload(2, 1, 3, 4, 7)));
    FAIL("loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
}

TEST_CASE("entries that break the index's invariants are refused") {
  using vindex::snapshot::tag::kEntries;
  FlatIndex<float, metric::Cosine> empty(VectorSchema{2, ElementType::kFloat32, Metric::kCosine});
  auto sections = split_sections(snapshot_bytes(empty));
  auto with_entries = [&](std::uint64_t announced, std::initializer_list<std::tuple<std::string, float, float, float>> entries) {
    auto s = sections;
    s[0].payload = index_payload(1, 1, 3, 2, announced);
    PayloadWriter p;
    p.u32(static_cast<std::uint32_t>(entries.size()));
    for (const auto& [key, magnitude, x, y] : entries) {
      p.u32(static_cast<std::uint32_t>(key.size()));
      p.bytes(key);
      p.f32(magnitude);
      p.f32(x);
      p.f32(y);
    }
    s.push_back({kEntries, 0, Bytes(p.view().begin(), p.view().end()), 0});
    return assemble(s);
  };
  CHECK(load_any(with_entries(2, {{"a", 2.0f, 0.6f, 0.8f}, {"b", 1.0f, 1.0f, 0.0f}})).index() == 2);
  auto message = [&](const Bytes& bytes) {
    try {
      load_any(bytes);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kCorruptData);
      return std::string(e.what());
    }
    FAIL("loaded");
    return std::string();
  };
  CHECK(message(with_entries(2, {{"a", 2.0f, 0.6f, 0.8f}, {"a", 1.0f, 1.0f, 0.0f}})).find("duplicate key 'a'") != std::string::npos);
  CHECK(message(with_entries(1, {{"a", 2.0f, 0.6f, NAN}})).find("NaN") != std::string::npos);
  CHECK(message(with_entries(1, {{"a", 0.0f, 0.6f, 0.8f}})).find("magnitude") != std::string::npos);
  CHECK(message(with_entries(1, {{"a", INFINITY, 0.6f, 0.8f}})).find("magnitude") != std::string::npos);
  CHECK(message(with_entries(1, {{"a", 1.0f, 3.0f, 4.0f}})).find("unit length") != std::string::npos);
  CHECK(message(with_entries(1, {{"a", 1.0f, 0.0f, 0.0f}})).find("unit length") != std::string::npos);
  CHECK(message(with_entries(1, {})).find("empty ENTR") != std::string::npos);
}

TEST_CASE("hostile counts and lengths fail fast without allocating for them") {
  const Bytes good = sample<metric::L2>(4, 10, 7);
  const auto sections = split_sections(good);
  auto expect_small_allocations = [&](const Bytes& bytes) {
    g_largest_allocation = 0;
    load_error(bytes);
    CHECK(g_largest_allocation.load() < (std::size_t{2} << 20));
  };
  // 2^40 entries announced
  {
    auto s = sections;
    s[0].payload = index_payload(1, 1, 1, 4, std::uint64_t{1} << 40);
    expect_small_allocations(assemble(s));
  }
  // 2^31 entries in one ENTR section of a few bytes; a 2^31-byte key
  for (std::uint32_t field : {0u, 4u}) {
    auto s = sections;
    Bytes& p = s[2].payload;
    le::store(p.data() + field, std::uint32_t{1u << 31});
    expect_small_allocations(assemble(s));
  }
  // a section claiming 2^40 and 60 MiB of payload, read from a stream that cannot tell its size
  for (std::uint64_t length : {std::uint64_t{1} << 40, std::uint64_t{60} << 20}) {
    Bytes bytes = good;
    le::store(bytes.data() + sections[2].offset + 8, length);
    expect_small_allocations(bytes);
  }
  // a huge block requested by BLOCK_SIZE × DIM
  {
    auto s = sections;
    s[0].payload = index_payload(1, 1, 1, 32768, 1);
    s[1].payload = payload_of({16, 1u << 20});
    expect_small_allocations(assemble(s));
  }
}
