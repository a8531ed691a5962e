// Specification of backfill: bounded steps, progress, pause/resume/cancel, source failures, writes
// during a backfill, deferred (coalesced) writes, worker threads, failure counters, and the
// snapshot accessors.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/keyspace_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

constexpr std::uint32_t kDim = 4;

std::vector<float> vec_of(int i) {
  return {static_cast<float>(i), 1.0f, static_cast<float>(i % 7), -2.0f};
}

IndexDefinition doc_definition() {
  return {{"doc:"}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
}

void fill(MemorySource& src, int n) {
  for (int i = 0; i < n; ++i)
    src.set("doc:" + std::to_string(i),
            {{"vec", blob_of(vec_of(i))}, {"genre", i % 2 ? "jazz" : "rock"}, {"year", std::to_string(1990 + i % 30)}});
}

template <class FlatT = FlatL2>
auto make_keyspace(MemorySource& src, IndexDefinition def = doc_definition(),
                   KeyspaceOptions options = {}, Limits limits = {}) {
  const Metric metric = FlatT::Metric::kind;
  return std::make_unique<KeyspaceIndex<FlatT>>(
      def, src, std::make_unique<FlatT>(VectorSchema{kDim, ElementType::kFloat32, metric}, FlatParams{}, limits),
      options);
}

const VectorSchema kSchemaL2{kDim, ElementType::kFloat32, Metric::kL2};
const VectorSchema kSchemaCos{kDim, ElementType::kFloat32, Metric::kCosine};

}  // namespace

TEST_CASE("nothing is scanned before start_backfill; step outside a scan is a no-op") {
  MemorySource src;
  fill(src, 10);
  auto ks = make_keyspace(src);
  CHECK(ks->state() == BackfillState::kIdle);
  CHECK(ks->step(100) == BackfillState::kIdle);
  CHECK(ks->size() == 0);
  CHECK(ks->progress().percent == 0);
  CHECK(src.scan_calls() == 0);
}

TEST_CASE("a backfill in bounded steps indexes every matching entry and reports progress") {
  MemorySource src;
  fill(src, 200);
  src.hset("other:1", "vec", blob_of(vec_of(1)));  // outside the prefixes
  src.hset("doc:novec", "genre", "jazz");           // no vector field: not indexed, not a failure
  auto ks = make_keyspace(src);
  ks->start_backfill();
  CHECK(ks->state() == BackfillState::kBackfilling);
  double last_percent = -1;
  int steps = 0;
  std::uint64_t last_scanned = 0;
  BackfillState s;
  while ((s = ks->step(10)) == BackfillState::kBackfilling) {
    const auto p = ks->progress();
    CHECK(p.state == BackfillState::kBackfilling);
    CHECK(p.counts.keys_scanned == last_scanned + 10);  // each step is bounded by max_keys
    last_scanned = p.counts.keys_scanned;
    CHECK(p.percent > last_percent);
    CHECK(p.percent < 100);
    CHECK(p.entries_indexed == ks->size());
    last_percent = p.percent;
    ++steps;
  }
  CHECK(s == BackfillState::kReady);
  CHECK(steps >= 19);
  const auto p = ks->progress();
  CHECK(p.percent == 100);
  CHECK(p.counts.keys_scanned == 202);
  CHECK(p.counts.inserted == 200);
  CHECK(p.entries_indexed == 200);
  CHECK(p.failures.total() == 0);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
  CHECK_FALSE(ks->contains("other:1"));
  CHECK_FALSE(ks->contains("doc:novec"));
}

TEST_CASE("each failure reason is counted per key, and uncounted when the key is fixed or deleted") {
  MemorySource src;
  fill(src, 20);
  src.hset("doc:short", "vec", "abc");
  src.hset("doc:nan", "vec", blob_of({1, std::nanf(""), 0, 0}));
  src.hset("doc:inf", "vec", blob_of({1, INFINITY, 0, 0}));
  src.hset("doc:zero", "vec", blob_of({0, 0, 0, 0}));
  src.set("doc:badnum", {{"vec", blob_of(vec_of(3))}, {"year", "nineteen"}});
  src.set("doc:both", {{"vec", "xx"}, {"year", "?"}});  // NUMERIC is checked first
  auto ks = make_keyspace<FlatCos>(src);
  ks->start_backfill();
  CHECK(run_scan(*ks) == BackfillState::kReady);
  const FailureCounts f = ks->failures();
  CHECK(f[IndexingFailure::kWrongSize] == 1);
  CHECK(f[IndexingFailure::kNonFinite] == 2);
  CHECK(f[IndexingFailure::kZeroVector] == 1);
  CHECK(f[IndexingFailure::kBadNumeric] == 2);
  CHECK(f.total() == 6);
  CHECK(ks->failure_of("doc:both") == IndexingFailure::kBadNumeric);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaCos));

  // A valid key turned invalid is removed and counted; fixing it uncounts it.
  src.hset("doc:1", "vec", "bad");
  CHECK(ks->on_write("doc:1") == EntryOutcome::kFailed);
  CHECK_FALSE(ks->contains("doc:1"));
  CHECK(ks->failures()[IndexingFailure::kWrongSize] == 2);
  src.hset("doc:1", "vec", blob_of(vec_of(1)));
  CHECK(ks->on_write("doc:1") == EntryOutcome::kInserted);
  CHECK(ks->failures()[IndexingFailure::kWrongSize] == 1);
  // Deleting, or removing the vector field of, a failing key uncounts it.
  src.del("doc:zero");
  CHECK(ks->on_delete("doc:zero") == EntryOutcome::kNotIndexed);
  src.hdel("doc:short", "vec");
  CHECK(ks->on_write("doc:short") == EntryOutcome::kNotIndexed);
  CHECK(ks->failures()[IndexingFailure::kZeroVector] == 0);
  CHECK(ks->failures()[IndexingFailure::kWrongSize] == 0);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaCos));
  // Events count every rejection, including repeats of the same bad value.
  const auto events_before = ks->failure_events()[IndexingFailure::kNonFinite];
  CHECK(ks->on_write("doc:nan") == EntryOutcome::kFailed);
  CHECK(ks->failure_events()[IndexingFailure::kNonFinite] == events_before + 1);
  CHECK(ks->failures()[IndexingFailure::kNonFinite] == 2);
}

TEST_CASE("mutation hooks report what they did") {
  MemorySource src;
  fill(src, 5);
  auto ks = make_keyspace(src);
  CHECK(ks->on_write("doc:1") == EntryOutcome::kInserted);
  CHECK(ks->on_write("doc:1") == EntryOutcome::kUnchanged);
  src.hset("doc:1", "genre", "pop");  // attributes only
  CHECK(ks->on_write("doc:1") == EntryOutcome::kUpdated);
  CHECK(ks->attributes("doc:1")->at(0).tags == std::vector<std::string>{"pop"});
  src.hset("doc:1", "vec", blob_of(vec_of(100)));
  CHECK(ks->on_write("doc:1") == EntryOutcome::kUpdated);
  src.hset("other:1", "vec", blob_of(vec_of(1)));
  CHECK(ks->on_write("other:1") == EntryOutcome::kNotIndexed);
  CHECK(ks->on_write("doc:absent") == EntryOutcome::kNotIndexed);
  src.del("doc:1");
  CHECK(ks->on_delete("doc:1") == EntryOutcome::kRemoved);
  CHECK(ks->on_delete("doc:1") == EntryOutcome::kNotIndexed);
  CHECK(ks->size() == 0);
  CHECK(ks->state() == BackfillState::kIdle);  // hooks work without any backfill
}

TEST_CASE("a failed point read in on_write throws kSourceFailure and changes nothing") {
  MemorySource src;
  fill(src, 5);
  auto ks = make_keyspace(src);
  CHECK(ks->on_write("doc:2") == EntryOutcome::kInserted);
  src.hset("doc:2", "vec", blob_of(vec_of(50)));
  src.throw_on_read(1);
  CHECK_THROWS_WITH_AS(ks->on_write("doc:2"), doctest::Contains("reading key 'doc:2' failed"), Error);
  CHECK(*ks->index().get_vector("doc:2") == vec_of(2));
  CHECK(ks->on_write("doc:2") == EntryOutcome::kUpdated);  // the host retries
}

TEST_CASE("pause stops the scan, resume continues it, cancel keeps what was done") {
  MemorySource src;
  fill(src, 100);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  ks->step(30);
  CHECK(ks->pause());
  CHECK_FALSE(ks->pause());
  const auto scanned = ks->progress().counts.keys_scanned;
  CHECK(ks->step(30) == BackfillState::kPaused);
  CHECK(ks->progress().counts.keys_scanned == scanned);
  CHECK(ks->resume());
  CHECK_FALSE(ks->resume());
  CHECK(ks->step(30) == BackfillState::kBackfilling);
  CHECK(ks->size() == 60);
  CHECK(ks->cancel());
  CHECK_FALSE(ks->cancel());
  CHECK(ks->state() == BackfillState::kCancelled);
  CHECK(ks->step(30) == BackfillState::kCancelled);
  CHECK(ks->size() == 60);
  ks->start_backfill();  // starts over from the beginning
  CHECK(run_scan(*ks) == BackfillState::kReady);
  CHECK(ks->size() == 100);
  CHECK(ks->progress().counts.unchanged == 60);
}

TEST_CASE("a source that throws mid-scan stops the backfill with the error; resume finishes it") {
  MemorySource src;
  fill(src, 100);
  src.throw_after(35);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  BackfillState s = run_scan(*ks, 10);
  CHECK(s == BackfillState::kFailed);
  const auto p = ks->progress();
  CHECK(p.error.find("injected scan failure") != std::string::npos);
  CHECK(ks->size() == 35);  // what was done is kept
  CHECK(ks->step(10) == BackfillState::kFailed);  // stays failed until resumed
  CHECK(ks->resume());
  CHECK(ks->progress().error.empty());
  CHECK(run_scan(*ks, 10) == BackfillState::kReady);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
  CHECK(ks->progress().counts.unchanged == 5);  // the failed batch's five delivered keys, revisited
}

TEST_CASE("writes and deletes during a backfill are applied at once and never undone") {
  MemorySource src;
  fill(src, 100);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  ks->step(20);
  // Not yet scanned: delete one, update one, invalidate one, add one.
  src.del("doc:80");
  CHECK(ks->on_delete("doc:80") == EntryOutcome::kNotIndexed);
  src.hset("doc:81", "vec", blob_of(vec_of(1000)));
  CHECK(ks->on_write("doc:81") == EntryOutcome::kInserted);
  src.hset("doc:82", "vec", "bad");
  CHECK(ks->on_write("doc:82") == EntryOutcome::kFailed);
  src.set("doc:new", {{"vec", blob_of(vec_of(7))}});
  CHECK(ks->on_write("doc:new") == EntryOutcome::kInserted);
  // Already scanned: delete one, update one.
  src.del("doc:0");
  CHECK(ks->on_delete("doc:0") == EntryOutcome::kRemoved);
  src.hset("doc:1", "genre", "blues");
  CHECK(ks->on_write("doc:1") == EntryOutcome::kUpdated);
  CHECK(run_scan(*ks) == BackfillState::kReady);
  CHECK_FALSE(ks->contains("doc:80"));
  CHECK_FALSE(ks->contains("doc:0"));
  CHECK(*ks->index().get_vector("doc:81") == vec_of(1000));
  CHECK(ks->failure_of("doc:82") == IndexingFailure::kWrongSize);
  CHECK(ks->progress().counts.skipped >= 2);  // doc:81 and doc:82 were not re-applied by the scan
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
}

namespace {
// A source whose scan serves the data as it was when the source was frozen (like a host scanning a
// fork-time copy), while point reads see live data. A scan must still not undo a hook.
class StaleScanSource final : public KeyValueSource {
 public:
  StaleScanSource(MemorySource& live, MemorySource& frozen) : live_(live), frozen_(frozen) {}
  Cursor scan(Cursor c, std::size_t budget, const ScanVisitor& visit) override {
    return frozen_.scan(c, budget, visit);
  }
  bool read(KeyView key, const ReadVisitor& visit) override { return live_.read(key, visit); }
  std::size_t approximate_count() const override { return frozen_.approximate_count(); }

 private:
  MemorySource& live_;
  MemorySource& frozen_;
};
}  // namespace

TEST_CASE("a scan serving stale values still never undoes a write applied by a hook") {
  MemorySource live, frozen;
  fill(live, 60);
  fill(frozen, 60);
  StaleScanSource src(live, frozen);
  KeyspaceIndex<FlatL2> ks(doc_definition(), src, std::make_unique<FlatL2>(kSchemaL2));
  ks.start_backfill();
  ks.step(10);
  for (int i = 5; i < 60; i += 5) {
    const std::string key = "doc:" + std::to_string(i);
    if (i % 10 == 0) {
      live.del(key);
      ks.on_delete(key);
    } else {
      live.hset(key, "vec", blob_of(vec_of(500 + i)));
      ks.on_write(key);
    }
  }
  CHECK(run_scan(ks) == BackfillState::kReady);
  check_holds(ks, expected_state(live, ks.definition(), kSchemaL2));
}

TEST_CASE("deferred writes: repeated writes to one key between two steps cost one read") {
  MemorySource src;
  fill(src, 50);
  auto ks = make_keyspace(src, doc_definition(), KeyspaceOptions{.defer_writes = true});
  ks->start_backfill();
  ks->step(10);
  const auto reads = src.read_calls();
  for (int v = 0; v < 10; ++v) {
    src.hset("doc:3", "vec", blob_of(vec_of(300 + v)));
    CHECK(ks->on_write("doc:3") == EntryOutcome::kDeferred);
  }
  src.del("doc:40");
  CHECK(ks->on_delete("doc:40") == EntryOutcome::kDeferred);
  src.hset("doc:41", "vec", blob_of(vec_of(41)));
  ks->on_write("doc:41");
  src.del("doc:41");  // written then deleted before the next step
  ks->on_delete("doc:41");
  CHECK(ks->pending_writes() == 3);
  CHECK(*ks->index().get_vector("doc:3") == vec_of(3));  // not applied yet
  ks->step(10);
  CHECK(src.read_calls() == reads + 3);  // one read per queued key
  CHECK(ks->pending_writes() == 0);
  CHECK(*ks->index().get_vector("doc:3") == vec_of(309));
  CHECK(run_scan(*ks) == BackfillState::kReady);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
  // flush_writes applies the queue without a scan.
  src.hset("doc:3", "vec", blob_of(vec_of(3)));
  ks->on_write("doc:3");
  CHECK(ks->flush_writes() == 1);
  CHECK(*ks->index().get_vector("doc:3") == vec_of(3));
}

TEST_CASE("a failed read of a queued write keeps it queued and reports the error") {
  MemorySource src;
  fill(src, 10);
  auto ks = make_keyspace(src, doc_definition(), KeyspaceOptions{.defer_writes = true});
  ks->on_write("doc:1");
  ks->on_write("doc:2");
  src.throw_on_read(1);
  CHECK_THROWS_AS(ks->flush_writes(), Error);
  CHECK(ks->pending_writes() == 2);
  CHECK(ks->flush_writes() == 2);
  CHECK(ks->size() == 2);
}

TEST_CASE("a worker-thread backfill builds the same index as a serial one, with duplicates") {
  MemorySource src;
  fill(src, 500);
  src.hset("doc:bad", "vec", "x");
  src.set_duplicates(4, 0.1, 3);
  for (std::size_t tasks : {2u, 3u, 8u}) {
    INFO("tasks " << tasks);
    auto ks = make_keyspace(src);
    ThreadExecutor pool;
    ks->start_backfill();
    BackfillState s;
    while ((s = ks->step(64, pool.executor(), tasks)) == BackfillState::kBackfilling) pool.join();
    pool.join();
    CHECK(s == BackfillState::kReady);
    check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
    CHECK(ks->failure_events()[IndexingFailure::kWrongSize] >= 1);
  }
}

TEST_CASE("an HNSW keyspace backfills and reconciles through its batch insert on worker threads") {
  // HnswIndex serialises single upserts, so a worker-thread step hands it the step's upserts as one
  // batch (try_upsert_blobs) whose workers run on the executor; erases and rejected blobs follow.
  // The result must be what a serial scan gives: same entries, counters and progress counts.
  using HnswL2 = HnswIndex<float, metric::L2>;
  auto scan = [](KeyspaceIndex<HnswL2>& ks, std::size_t batch, std::size_t tasks, bool reconcile) {
    ThreadExecutor pool;
    if (reconcile) {
      ks.start_reconcile();
    } else {
      ks.start_backfill();
    }
    BackfillState s;
    while ((s = ks.step(batch, pool.executor(), tasks)) == BackfillState::kBackfilling) pool.join();
    pool.join();
    return s;
  };
  // Every entry is reachable: an exhaustive search for its own vector finds it.
  auto check_found = [](const KeyspaceIndex<HnswL2>& ks, const ExpectedState& want) {
    std::size_t lost = 0;
    for (const auto& [key, e] : want.indexed) {
      const auto hits = ks.index().search(e.vector, 1, {.ef = ks.size()});
      lost += hits.empty() || hits[0].distance != 0.0;
    }
    CHECK(lost == 0);
  };
  auto make = [](MemorySource& src) {
    return std::make_unique<KeyspaceIndex<HnswL2>>(
        doc_definition(), src, std::make_unique<HnswL2>(kSchemaL2, HnswParams{.m = 6, .ef_construction = 40}));
  };
  // What changed, as (inserted, updated, removed): the serial scan (tasks = 1) sets the reference.
  using Changes = std::array<std::uint64_t, 3>;
  auto changes = [](const ScanCounts& c) { return Changes{c.inserted, c.updated, c.removed}; };
  std::optional<Changes> serial_backfill, serial_reconcile;
  for (std::size_t tasks : {1u, 2u, 3u}) {
    INFO("tasks " << tasks);
    MemorySource src;
    fill(src, 400);
    src.hset("doc:bad", "vec", "x");
    src.set_duplicates(4, 0.1, 5);
    auto ks = make(src);
    REQUIRE(scan(*ks, 64, tasks, false) == BackfillState::kReady);
    const auto after_backfill = expected_state(src, ks->definition(), kSchemaL2);
    check_holds(*ks, after_backfill);
    check_found(*ks, after_backfill);
    CHECK(ks->progress().counts.inserted == 400);
    if (!serial_backfill) serial_backfill = changes(ks->progress().counts);
    CHECK(changes(ks->progress().counts) == *serial_backfill);

    // Change the data behind the index (new, modified, broken and deleted entries) and reconcile.
    for (int i = 0; i < 400; i += 9) src.hset("doc:" + std::to_string(i), "vec", blob_of(vec_of(i + 1000)));
    for (int i = 1; i < 400; i += 31) src.hset("doc:" + std::to_string(i), "vec", "short");
    for (int i = 2; i < 400; i += 17) src.del("doc:" + std::to_string(i));
    for (int i = 400; i < 460; ++i) src.set("doc:" + std::to_string(i), {{"vec", blob_of(vec_of(i))}});
    REQUIRE(scan(*ks, 50, tasks, true) == BackfillState::kReady);
    const auto after_reconcile = expected_state(src, ks->definition(), kSchemaL2);
    check_holds(*ks, after_reconcile);
    check_found(*ks, after_reconcile);
    const Changes reconciled = changes(ks->progress().counts);
    CHECK(reconciled[0] == 60);
    CHECK(reconciled[1] > 30);
    CHECK(reconciled[2] > 30);
    if (!serial_reconcile) serial_reconcile = reconciled;
    CHECK(reconciled == *serial_reconcile);
  }
}

TEST_CASE("a worker-thread step that hits a source failure keeps what it read and resumes") {
  MemorySource src;
  fill(src, 100);
  src.throw_after(70);
  auto ks = make_keyspace(src);
  ThreadExecutor pool;
  ks->start_backfill();
  BackfillState s;
  while ((s = ks->step(25, pool.executor(), 2)) == BackfillState::kBackfilling) pool.join();
  pool.join();
  CHECK(s == BackfillState::kFailed);
  CHECK(ks->size() == 70);
  ks->resume();
  while ((s = ks->step(25, pool.executor(), 2)) == BackfillState::kBackfilling) pool.join();
  pool.join();
  CHECK(s == BackfillState::kReady);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
}

TEST_CASE("an executor that refuses tasks makes the step run them inline") {
  MemorySource src;
  fill(src, 30);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  Executor refuse = [](std::function<void()>) { throw std::runtime_error("pool full"); };
  BackfillState s;
  while ((s = ks->step(8, refuse, 4)) == BackfillState::kBackfilling) {
  }
  CHECK(s == BackfillState::kReady);
  CHECK(ks->size() == 30);
}

TEST_CASE("steps on a worker thread while the host thread writes and searches") {
  MemorySource src;
  fill(src, 400);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  std::thread driver([&] {
    while (ks->step(16) == BackfillState::kBackfilling) std::this_thread::yield();
  });
  std::mt19937 rng(8);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "doc:" + std::to_string(rng() % 450);
    if (rng() % 3 == 0) {
      src.del(key);
      ks->on_delete(key);
    } else {
      src.set(key, {{"vec", blob_of(vec_of(static_cast<int>(rng() % 1000)))}, {"genre", rng() % 2 ? "jazz" : "pop"}});
      ks->on_write(key);
    }
    const auto hits = ks->search(vec_of(i), 5, parse_filter("@genre:{jazz}"));
    for (const auto& h : hits) CHECK(h.key.rfind("doc:", 0) == 0);
    (void)ks->progress();
  }
  driver.join();
  CHECK(ks->state() == BackfillState::kReady);
  check_holds(*ks, expected_state(src, ks->definition(), kSchemaL2));
}

TEST_CASE("step_for runs steps until its time budget is spent or the scan completes") {
  MemorySource src;
  fill(src, 300);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  const auto calls = src.scan_calls();
  ks->step_for(std::chrono::nanoseconds(0), 7);  // a zero budget still makes one step
  CHECK(src.scan_calls() == calls + 1);
  while (ks->step_for(std::chrono::milliseconds(1), 7) == BackfillState::kBackfilling) {
  }
  CHECK(ks->state() == BackfillState::kReady);
  CHECK(ks->size() == 300);
}

TEST_CASE("over-long keys are counted as failures, not thrown") {
  MemorySource src;
  fill(src, 3);
  const std::string long_key = "doc:" + std::string(100, 'k');
  src.hset(long_key, "vec", blob_of(vec_of(1)));
  Limits limits;
  limits.max_key_bytes = 64;
  auto ks = make_keyspace(src, doc_definition(), {}, limits);
  ks->start_backfill();
  CHECK(run_scan(*ks) == BackfillState::kReady);
  CHECK(ks->size() == 3);
  CHECK(ks->failure_of(long_key) == IndexingFailure::kKeyTooLong);
  CHECK(ks->on_write(long_key) == EntryOutcome::kFailed);
}

TEST_CASE("export_state and the restoring constructor carry a half-done backfill") {
  MemorySource src;
  fill(src, 120);
  src.hset("doc:bad", "vec", "x");
  auto ks = make_keyspace(src);
  ks->start_backfill();
  ks->step(50);
  src.hset("doc:100", "vec", blob_of(vec_of(9999)));
  ks->on_write("doc:100");  // touched: the resumed scan must not redo it
  const KeyspaceState state = ks->export_state();
  CHECK(state.definition == ks->definition());
  CHECK(state.attributes.size() == ks->size());
  CHECK(state.checkpoint.state == BackfillState::kBackfilling);
  CHECK(state.checkpoint.cursor != 0);
  CHECK(state.checkpoint.touched == std::vector<Key>{"doc:100"});

  // "Load": a fresh vector index with the same vectors, plus the exported state.
  auto loaded = std::make_unique<FlatL2>(kSchemaL2);
  ks->index().for_each([&](KeyView key, Id, std::span<const float> v) { loaded->upsert(key, v); });
  KeyspaceIndex<FlatL2> restored(src, std::move(loaded), state);
  CHECK(restored.export_state().checkpoint == state.checkpoint);
  CHECK(restored.failures() == ks->failures());
  CHECK(run_scan(restored) == BackfillState::kReady);
  CHECK(restored.progress().counts.skipped == 1);
  check_holds(restored, expected_state(src, restored.definition(), kSchemaL2));
}

TEST_CASE("a restored state that disagrees with the vector index is rejected as corrupt") {
  MemorySource src;
  fill(src, 10);
  auto ks = make_keyspace(src);
  ks->start_backfill();
  run_scan(*ks);
  auto copy_index = [&] {
    auto idx = std::make_unique<FlatL2>(kSchemaL2);
    ks->index().for_each([&](KeyView key, Id, std::span<const float> v) { idx->upsert(key, v); });
    return idx;
  };
  auto corrupt = [&](auto mutate, const char* what) {
    KeyspaceState s = ks->export_state();
    mutate(s);
    CHECK_THROWS_WITH_AS(KeyspaceIndex<FlatL2>(src, copy_index(), s), doctest::Contains(what), Error);
  };
  corrupt([](KeyspaceState& s) { s.attributes.pop_back(); }, "attribute rows for");
  corrupt([](KeyspaceState& s) { s.attributes.back().first = "doc:zzz"; }, "not in the index");
  corrupt([](KeyspaceState& s) { s.attributes.back().second.pop_back(); }, "values, expected 2");
  corrupt([](KeyspaceState& s) { s.failing.emplace_back("doc:x", static_cast<IndexingFailure>(9)); }, "failure code 9");
  corrupt([](KeyspaceState& s) { s.failing.emplace_back("doc:1", IndexingFailure::kWrongSize); }, "is indexed");
  corrupt([](KeyspaceState& s) { s.checkpoint.state = static_cast<BackfillState>(77); }, "backfill state code 77");
  CHECK_NOTHROW(KeyspaceIndex<FlatL2>(src, copy_index(), ks->export_state()));
}
