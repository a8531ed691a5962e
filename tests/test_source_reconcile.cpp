// Specification of reconcile after a snapshot load: index at T1, the source changes, then a
// reconcile makes the index equal to a fresh backfill at T2, at the cost of a scan for unchanged
// entries.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

constexpr std::uint32_t kDim = 8;
const VectorSchema kSchema{kDim, ElementType::kFloat32, Metric::kL2};

IndexDefinition definition() {
  return {{"doc:", "item:"}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
}

FieldMap entry(std::mt19937& rng) {
  static const char* genres[] = {"jazz", "rock", "pop"};
  return {{"vec", blob_of(random_vector(rng, kDim))},
          {"genre", genres[rng() % 3]},
          {"year", std::to_string(1980 + rng() % 40)}};
}

// What a snapshot load produces: a new vector index with the same vectors, plus the exported state.
std::unique_ptr<KeyspaceIndex<FlatL2>> save_and_load(const KeyspaceIndex<FlatL2>& ks, KeyValueSource& src) {
  std::vector<Key> keys;
  ks.index().for_each([&](KeyView key, Id, std::span<const float>) { keys.emplace_back(key); });
  auto loaded = std::make_unique<FlatL2>(kSchema);
  for (const Key& key : keys) loaded->upsert(key, *ks.index().get_vector(key));
  return std::make_unique<KeyspaceIndex<FlatL2>>(src, std::move(loaded), ks.export_state());
}

std::vector<std::pair<std::string, float>> hits_of(const std::vector<SearchResult>& r) {
  std::vector<std::pair<std::string, float>> out;
  for (const auto& h : r) out.emplace_back(h.key, h.distance);
  return out;
}

}  // namespace

TEST_CASE("reconcile after a load equals a fresh backfill, and unchanged entries cost no insert") {
  std::mt19937 rng(31);
  MemorySource src;
  for (int i = 0; i < 600; ++i) src.set("doc:" + std::to_string(i), entry(rng));
  for (int i = 0; i < 10; ++i) src.hset("doc:bad" + std::to_string(i), "vec", "short");
  for (int i = 0; i < 20; ++i) src.set("other:" + std::to_string(i), entry(rng));

  // T1: index and "save".
  KeyspaceIndex<FlatL2> t1(definition(), src, std::make_unique<FlatL2>(kSchema));
  t1.start_backfill();
  REQUIRE(run_scan(t1) == BackfillState::kReady);
  REQUIRE(t1.size() == 600);

  // The source changes while the index is down.
  std::size_t changed = 0, added = 0;
  for (int i = 0; i < 40; ++i) src.set("doc:new" + std::to_string(i), entry(rng)), ++added;   // inserts
  for (int i = 0; i < 30; ++i)                                                             // vector updates
    src.hset("doc:" + std::to_string(i), "vec", blob_of(random_vector(rng, kDim))), ++changed;
  for (int i = 30; i < 50; ++i) src.hset("doc:" + std::to_string(i), "genre", "blues"), ++changed;  // attributes
  for (int i = 50; i < 60; ++i) src.hdel("doc:" + std::to_string(i), "year"), ++changed;     // attribute gone
  for (int i = 60; i < 100; ++i) src.del("doc:" + std::to_string(i));                       // deletes
  for (int i = 100; i < 110; ++i) src.hset("doc:" + std::to_string(i), "vec", "bad");       // made invalid
  for (int i = 110; i < 115; ++i) src.hset("doc:" + std::to_string(i), "year", "soon");     // bad NUMERIC
  for (int i = 115; i < 120; ++i) src.hdel("doc:" + std::to_string(i), "vec");              // vector gone
  for (int i = 120; i < 135; ++i) {                                                           // renamed out
    const std::string from = "doc:" + std::to_string(i);
    src.set("gone:" + std::to_string(i), *src.get(from));
    src.del(from);
  }
  for (int i = 0; i < 10; ++i) {                                                              // renamed in
    src.set("item:" + std::to_string(i), *src.get("other:" + std::to_string(i)));
    src.del("other:" + std::to_string(i));
    ++added;
  }
  for (int i = 0; i < 5; ++i) src.hset("doc:bad" + std::to_string(i), "vec", blob_of(random_vector(rng, kDim))), ++added;  // fixed
  for (int i = 5; i < 8; ++i) src.del("doc:bad" + std::to_string(i));                       // failing, deleted
  const std::size_t removed = 40 + 10 + 5 + 5 + 15;

  // T2: load the T1 snapshot and reconcile, with duplicate scan results and a source failure.
  src.set_duplicates(3, 0.05, 9);
  auto loaded = save_and_load(t1, src);
  CHECK(loaded->state() == BackfillState::kReady);
  CHECK(loaded->size() == 600);
  const auto reads_before = src.read_calls();
  src.throw_after(250);
  loaded->start_reconcile();
  CHECK(run_scan(*loaded, 64) == BackfillState::kFailed);
  CHECK(loaded->resume());
  CHECK(run_scan(*loaded, 64) == BackfillState::kReady);
  CHECK(src.read_calls() == reads_before);  // a scan, no point reads
  const auto p = loaded->progress();
  CHECK(p.mode == ScanMode::kReconcile);
  CHECK(p.counts.inserted == added);
  CHECK(p.counts.updated == changed);
  CHECK(p.counts.removed == removed);
  CHECK(p.counts.unchanged >= 600 - changed - removed);

  // A fresh backfill at T2.
  src.set_duplicates(0, 0);
  KeyspaceIndex<FlatL2> t2(definition(), src, std::make_unique<FlatL2>(kSchema));
  t2.start_backfill();
  REQUIRE(run_scan(t2) == BackfillState::kReady);
  CHECK(t2.progress().counts.inserted == t2.size());

  const ExpectedState want = expected_state(src, definition(), kSchema);
  check_holds(*loaded, want);
  check_holds(t2, want);
  CHECK(loaded->size() == t2.size());
  CHECK(loaded->failures() == t2.failures());
  CHECK(loaded->export_state().attributes == t2.export_state().attributes);
  CHECK(loaded->export_state().failing == t2.export_state().failing);
  for (int i = 0; i < 20; ++i) {
    const auto q = random_vector(rng, kDim);
    CHECK(hits_of(loaded->search(q, 10)) == hits_of(t2.search(q, 10)));
    CHECK(hits_of(loaded->search(q, 10, "@genre:{blues|pop} -@year:[1990 2000]")) ==
          hits_of(t2.search(q, 10, "@genre:{blues|pop} -@year:[1990 2000]")));
  }
}

TEST_CASE("writes during a reconcile are kept: the sweep only removes what neither scan nor hook saw") {
  std::mt19937 rng(7);
  MemorySource src;
  for (int i = 0; i < 200; ++i) src.set("doc:" + std::to_string(i), entry(rng));
  KeyspaceIndex<FlatL2> t1(definition(), src, std::make_unique<FlatL2>(kSchema));
  t1.start_backfill();
  run_scan(t1);
  auto loaded = save_and_load(t1, src);
  for (int i = 0; i < 20; ++i) src.del("doc:" + std::to_string(i));  // deleted while down
  loaded->start_reconcile();
  loaded->step(50);
  // A key written during the reconcile (new) and one written then deleted.
  src.set("doc:late", entry(rng));
  CHECK(loaded->on_write("doc:late") == EntryOutcome::kInserted);
  src.del("doc:150");
  CHECK(loaded->on_delete("doc:150") == EntryOutcome::kRemoved);
  src.hset("doc:160", "vec", blob_of(random_vector(rng, kDim)));
  CHECK(loaded->on_write("doc:160") == EntryOutcome::kUpdated);
  CHECK(run_scan(*loaded) == BackfillState::kReady);
  check_holds(*loaded, expected_state(src, definition(), kSchema));
  CHECK(loaded->contains("doc:late"));
  CHECK_FALSE(loaded->contains("doc:5"));
}

TEST_CASE("a reconcile of an unchanged keyspace changes nothing") {
  std::mt19937 rng(3);
  MemorySource src;
  for (int i = 0; i < 300; ++i) src.set("doc:" + std::to_string(i), entry(rng));
  KeyspaceIndex<FlatL2> ks(definition(), src, std::make_unique<FlatL2>(kSchema));
  ks.start_backfill();
  run_scan(ks);
  ks.start_reconcile();
  CHECK(run_scan(ks) == BackfillState::kReady);
  const auto p = ks.progress();
  CHECK(p.counts.unchanged == 300);
  CHECK(p.counts.inserted + p.counts.updated + p.counts.removed == 0);
}
