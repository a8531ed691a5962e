// Specification of KeyspaceIndex snapshots: the vector index (FLAT or HNSW) plus definition,
// attributes, failures and an unfinished scan survive a save/load; a loaded mid-backfill index
// finishes to exactly what a fresh backfill gives; a snapshot at T1, loaded and reconciled at T2,
// equals a fresh backfill at T2; damaged or inconsistent snapshots are kCorruptData.
#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

constexpr std::uint32_t kDim = 8;
const VectorSchema kSchema{kDim, ElementType::kFloat32, Metric::kL2};
using HnswL2 = HnswIndex<float, metric::L2>;
const HnswParams kHnswParams{.m = 4, .ef_construction = 32, .ef_runtime = 10, .initial_cap = 64, .block_size = 64};

IndexDefinition definition() {
  return {{"doc:", "item:"}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
}

FieldMap entry(std::mt19937& rng) {
  static const char* genres[] = {"jazz", "rock", "pop,Blues"};
  return {{"vec", blob_of(random_vector(rng, kDim))},
          {"genre", genres[rng() % 3]},
          {"year", std::to_string(1980 + rng() % 40)}};
}

void fill(MemorySource& src, std::mt19937& rng, int n) {
  for (int i = 0; i < n; ++i) src.set("doc:" + std::to_string(i), entry(rng));
  for (int i = 0; i < 10; ++i) src.hset("doc:bad" + std::to_string(i), "vec", "short");
  for (int i = 0; i < 5; ++i) src.set("doc:badyear" + std::to_string(i), {{"vec", blob_of(random_vector(rng, kDim))}, {"year", "x"}});
  for (int i = 0; i < 20; ++i) src.set("other:" + std::to_string(i), entry(rng));
}

std::unique_ptr<FlatL2> new_index(FlatL2*) { return std::make_unique<FlatL2>(kSchema); }
std::unique_ptr<HnswL2> new_index(HnswL2*) { return std::make_unique<HnswL2>(kSchema, kHnswParams); }

template <class I>
Bytes save_bytes(const KeyspaceIndex<I>& ks, std::size_t section_bytes = 1 << 20) {
  MemorySerializer out;
  save(ks, out, {.section_bytes = section_bytes});
  return out.take();
}

template <class I>
std::unique_ptr<KeyspaceIndex<I>> load_bytes(std::span<const std::byte> bytes, KeyValueSource& src,
                                             KeyspaceOptions options = {}) {
  MemoryDeserializer in(bytes);
  return load_keyspace<I>(in, src, {}, options);
}

std::vector<std::pair<std::string, float>> hits_of(const std::vector<SearchResult>& r) {
  std::vector<std::pair<std::string, float>> out;
  for (const auto& h : r) out.emplace_back(h.key, h.distance);
  return out;
}

// Recall@10 of `ks` against brute force over what `want` indexes.
template <class KS>
double recall(const KS& ks, const ExpectedState& want, std::uint32_t seed) {
  Model model;
  for (const auto& [key, e] : want.indexed) model[key] = e.vector;
  std::mt19937 rng(seed);
  double hits = 0, total = 0;
  for (int t = 0; t < 50; ++t) {
    const auto q = random_vector(rng, kDim);
    std::set<std::string> truth;
    for (const auto& h : brute_force<metric::L2>(model, q, 10)) truth.insert(h.key);
    for (const auto& r : ks.search(q, 10)) hits += static_cast<double>(truth.count(r.key));
    total += static_cast<double>(truth.size());
  }
  return hits / total;
}

template <class I>
void mid_backfill_round_trip() {
  std::mt19937 rng(21);
  MemorySource src;
  fill(src, rng, 500);
  KeyspaceIndex<I> ks(definition(), src, new_index(static_cast<I*>(nullptr)), {.defer_writes = true});
  ks.start_backfill();
  for (int i = 0; i < 8; ++i) ks.step(23);
  REQUIRE(ks.state() == BackfillState::kBackfilling);
  // Queued writes (defer_writes) at save time.
  src.set("doc:queued", entry(rng));
  CHECK(ks.on_write("doc:queued") == EntryOutcome::kDeferred);
  const KeyspaceState before = ks.export_state();
  REQUIRE(!before.pending.empty());
  const Bytes bytes = save_bytes(ks, 2048);
  CHECK(save_bytes(ks, 2048) == bytes);  // deterministic

  auto loaded = load_bytes<I>(bytes, src, {.defer_writes = true});
  CHECK(loaded->state() == BackfillState::kBackfilling);
  CHECK(loaded->size() == ks.size());
  const KeyspaceState after = loaded->export_state();
  CHECK(after.definition == before.definition);
  CHECK(after.attributes == before.attributes);
  CHECK(after.failing == before.failing);
  CHECK(after.failure_events == before.failure_events);
  CHECK(after.checkpoint == before.checkpoint);
  CHECK(after.pending == before.pending);

  // The loaded index resumes the scan and ends equal to a fresh full backfill.
  CHECK(run_scan(*loaded) == BackfillState::kReady);
  KeyspaceIndex<I> fresh(definition(), src, new_index(static_cast<I*>(nullptr)));
  fresh.start_backfill();
  REQUIRE(run_scan(fresh) == BackfillState::kReady);
  const ExpectedState want = expected_state(src, definition(), kSchema);
  check_holds(*loaded, want);
  check_holds(fresh, want);
  CHECK(loaded->export_state().attributes == fresh.export_state().attributes);
  CHECK(loaded->export_state().failing == fresh.export_state().failing);
  if constexpr (std::is_same_v<I, FlatL2>) {
    for (int i = 0; i < 10; ++i) {
      const auto q = random_vector(rng, kDim);
      CHECK(hits_of(loaded->search(q, 10, "@genre:{blues}")) == hits_of(fresh.search(q, 10, "@genre:{blues}")));
    }
  } else {
    CHECK(recall(*loaded, want, 3) >= recall(fresh, want, 3) - 0.01);
  }
}

// The source changes between T1 and T2 (as in test_source_reconcile.cpp).
void change_source(MemorySource& src, std::mt19937& rng) {
  for (int i = 0; i < 40; ++i) src.set("doc:new" + std::to_string(i), entry(rng));
  for (int i = 0; i < 30; ++i) src.hset("doc:" + std::to_string(i), "vec", blob_of(random_vector(rng, kDim)));
  for (int i = 30; i < 50; ++i) src.hset("doc:" + std::to_string(i), "genre", "blues");
  for (int i = 50; i < 60; ++i) src.hdel("doc:" + std::to_string(i), "year");
  for (int i = 60; i < 100; ++i) src.del("doc:" + std::to_string(i));
  for (int i = 100; i < 110; ++i) src.hset("doc:" + std::to_string(i), "vec", "bad");
  for (int i = 110; i < 115; ++i) src.hset("doc:" + std::to_string(i), "year", "soon");
  for (int i = 115; i < 120; ++i) src.hdel("doc:" + std::to_string(i), "vec");
  for (int i = 120; i < 135; ++i) {  // renamed out of the prefixes
    const std::string from = "doc:" + std::to_string(i);
    src.set("gone:" + std::to_string(i), *src.get(from));
    src.del(from);
  }
  for (int i = 0; i < 10; ++i) {  // renamed into a prefix
    src.set("item:" + std::to_string(i), *src.get("other:" + std::to_string(i)));
    src.del("other:" + std::to_string(i));
  }
  for (int i = 0; i < 5; ++i) src.hset("doc:bad" + std::to_string(i), "vec", blob_of(random_vector(rng, kDim)));
  for (int i = 5; i < 8; ++i) src.del("doc:bad" + std::to_string(i));
}

template <class I>
void reconcile_after_load() {
  std::mt19937 rng(31);
  MemorySource src;
  fill(src, rng, 600);
  KeyspaceIndex<I> t1(definition(), src, new_index(static_cast<I*>(nullptr)));
  t1.start_backfill();
  REQUIRE(run_scan(t1) == BackfillState::kReady);
  const Bytes snapshot = save_bytes(t1);

  change_source(src, rng);
  auto loaded = load_bytes<I>(snapshot, src);
  CHECK(loaded->state() == BackfillState::kReady);
  CHECK(loaded->size() == t1.size());
  loaded->start_reconcile();
  CHECK(run_scan(*loaded, 64) == BackfillState::kReady);

  KeyspaceIndex<I> t2(definition(), src, new_index(static_cast<I*>(nullptr)));
  t2.start_backfill();
  REQUIRE(run_scan(t2) == BackfillState::kReady);
  const ExpectedState want = expected_state(src, definition(), kSchema);
  check_holds(*loaded, want);
  check_holds(t2, want);
  CHECK(loaded->failures() == t2.failures());
  CHECK(loaded->export_state().attributes == t2.export_state().attributes);
  CHECK(loaded->export_state().failing == t2.export_state().failing);
  if constexpr (std::is_same_v<I, FlatL2>) {
    for (int i = 0; i < 20; ++i) {
      const auto q = random_vector(rng, kDim);
      CHECK(hits_of(loaded->search(q, 10)) == hits_of(t2.search(q, 10)));
      CHECK(hits_of(loaded->search(q, 10, "@genre:{blues|pop} -@year:[1990 2000]")) ==
            hits_of(t2.search(q, 10, "@genre:{blues|pop} -@year:[1990 2000]")));
    }
  } else {
    const double r_loaded = recall(*loaded, want, 5), r_fresh = recall(t2, want, 5);
    MESSAGE("HNSW recall@10: reconciled " << r_loaded << ", fresh backfill " << r_fresh);
    CHECK(r_loaded >= r_fresh - 0.01);
  }
}

Bytes sample_keyspace_bytes(std::size_t section_bytes = 512) {
  std::mt19937 rng(8);
  MemorySource src;
  fill(src, rng, 60);
  KeyspaceIndex<FlatL2> ks(definition(), src, std::make_unique<FlatL2>(kSchema));
  ks.start_backfill();
  ks.step(40);
  return save_bytes(ks, section_bytes);
}

}  // namespace

TEST_CASE("a FLAT keyspace saved mid-backfill loads, resumes, and ends equal to a fresh backfill") {
  mid_backfill_round_trip<FlatL2>();
}
TEST_CASE("an HNSW keyspace saved mid-backfill loads, resumes, and ends equal to a fresh backfill") {
  mid_backfill_round_trip<HnswL2>();
}
TEST_CASE("FLAT: snapshot at T1, source changes, load + reconcile equals a fresh backfill at T2") {
  reconcile_after_load<FlatL2>();
}
TEST_CASE("HNSW: snapshot at T1, source changes, load + reconcile equals a fresh backfill at T2") {
  reconcile_after_load<HnswL2>();
}

TEST_CASE("bare index and keyspace snapshots are not confused") {
  MemorySource src;
  FlatL2 flat(kSchema);
  flat.upsert("doc:1", std::vector<float>(kDim, 1.0f));
  try {
    load_bytes<FlatL2>(snapshot_bytes(flat), src);
    FAIL("a bare index loaded as a keyspace");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
  const Bytes ks = sample_keyspace_bytes();
  MemoryDeserializer in(ks);
  try {
    load_flat<metric::L2>(in);
    FAIL("a keyspace loaded as a bare index");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
  try {
    load_bytes<HnswL2>(ks, src);
    FAIL("a FLAT keyspace loaded as HNSW");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
}

TEST_CASE("truncated or damaged keyspace snapshots are errors, never crashes") {
  MemorySource src;
  const Bytes bytes = sample_keyspace_bytes();
  REQUIRE(bytes.size() > 1024);
  for (std::size_t n = 0; n < 1024; ++n) CHECK_THROWS_AS(load_bytes<FlatL2>(std::span<const std::byte>(bytes).first(n), src), Error);
  for (std::size_t b : section_boundaries(bytes)) {
    if (b == bytes.size()) continue;
    for (std::size_t n : {b - 1, b, b + 1}) {
      try {
        load_bytes<FlatL2>(std::span<const std::byte>(bytes).first(n), src);
        FAIL("truncated keyspace snapshot loaded");
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kCorruptData);
      }
    }
  }
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    Bytes damaged = bytes;
    damaged[i] ^= std::byte{0x20};
    CHECK_THROWS_AS(load_bytes<FlatL2>(damaged, src), Error);
  }
  // With checksums recomputed, damage reaches the parsers and the restoring constructor.
  std::mt19937 rng(4);
  for (int t = 0; t < 3000; ++t) {
    Bytes damaged = bytes;
    damaged[snapshot::kHeaderBytes + rng() % (damaged.size() - snapshot::kHeaderBytes)] ^=
        static_cast<std::byte>(1 + rng() % 255);
    try {
      auto ks = load_bytes<FlatL2>(with_repaired_checksums(damaged), src);
      (void)ks->search(std::vector<float>(kDim, 0.5f), 3);
    } catch (const Error&) {
    }
  }
}

TEST_CASE("a keyspace state that disagrees with its index is kCorruptData") {
  // The index sections of one keyspace with the state sections of another.
  std::mt19937 rng(2);
  MemorySource a_src, b_src;
  fill(a_src, rng, 30);
  fill(b_src, rng, 40);
  KeyspaceIndex<FlatL2> a(definition(), a_src, std::make_unique<FlatL2>(kSchema));
  KeyspaceIndex<FlatL2> b(definition(), b_src, std::make_unique<FlatL2>(kSchema));
  a.start_backfill();
  b.start_backfill();
  run_scan(a);
  run_scan(b);
  auto sa = split_sections(save_bytes(a)), sb = split_sections(save_bytes(b));
  std::vector<RawSection> mixed;
  for (const auto& s : sa)
    if (s.tag == snapshot::tag::kIndex || s.tag == snapshot::tag::kFlatParams || s.tag == snapshot::tag::kEntries)
      mixed.push_back(s);
  for (const auto& s : sb)
    if (s.tag == snapshot::tag::kDefinition || s.tag == snapshot::tag::kAttributes ||
        s.tag == snapshot::tag::kFailures || s.tag == snapshot::tag::kBackfill)
      mixed.push_back(s);
  try {
    load_bytes<FlatL2>(assemble(mixed), a_src);
    FAIL("inconsistent keyspace snapshot loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCorruptData);
  }
  // A missing BKFL, a second KDEF, sections out of order.
  auto without = [&](std::uint32_t tag) {
    std::vector<RawSection> out;
    for (const auto& s : sa)
      if (s.tag != tag) out.push_back(s);
    return out;
  };
  CHECK_THROWS_AS(load_bytes<FlatL2>(assemble(without(snapshot::tag::kBackfill)), a_src), Error);
  auto twice = sa;
  for (const auto& s : sa)
    if (s.tag == snapshot::tag::kDefinition) twice.push_back(s);
  CHECK_THROWS_AS(load_bytes<FlatL2>(assemble(twice), a_src), Error);
}
