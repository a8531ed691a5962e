// Model-based test: thousands of random interleavings of host writes, deletes, renames, backfill
// steps (serial, on threads, time-budgeted), pause/resume/cancel/restart, reconciles, duplicate
// scan results and injected source failures. The model is the source itself: after every batch of
// operations, every key a hook has applied must be in the index exactly as the source holds it, and
// nothing in the index may be stale; at the end the index holds exactly the valid, prefix-matching
// entries with their current vectors and attributes, and the failure counters equal the model's.
#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;
using namespace std::string_literals;

namespace {

constexpr std::uint32_t kDim = 6;
const VectorSchema kSchema{kDim, ElementType::kFloat32, Metric::kCosine};

IndexDefinition definition() {
  return {{"doc:", "bin\0:"s},
          "vec",
          {{"genre", AttributeType::kTag}, {"score", AttributeType::kNumeric}, {"code", AttributeType::kTag, ';', true}}};
}

struct World {
  std::mt19937 rng;
  explicit World(unsigned seed) : rng(seed) {}

  std::string key() {
    const unsigned n = rng() % 300;
    if (n < 230) return "doc:" + std::to_string(n);
    if (n < 270) return "bin\0:\xff"s + std::to_string(n);  // binary-safe prefix and key
    return "tmp:" + std::to_string(n);                      // outside the prefixes
  }
  std::vector<float> vector() {
    std::normal_distribution<float> g;
    std::vector<float> v(kDim);
    for (float& x : v) x = g(rng);
    return v;
  }
  std::string valid_blob() { return blob_of(vector()); }
  std::string invalid_blob() {
    switch (rng() % 3) {
      case 0: return std::string(kDim * 4 - 4 * (1 + rng() % 2), 'x');
      case 1: {
        auto v = vector();
        v[rng() % kDim] = rng() % 2 ? std::nanf("") : -INFINITY;
        return blob_of(v);
      }
      default: return blob_of(std::vector<float>(kDim, 0.0f));
    }
  }
  FieldMap fields() {
    static const char* genres[] = {"jazz", "Rock", "pop", "jazz, pop", " folk ,ROCK"};
    static const char* codes[] = {"A", "a", "A;B", "b"};
    FieldMap f;
    f["vec"] = rng() % 12 ? valid_blob() : invalid_blob();
    if (rng() % 5) f["genre"] = genres[rng() % 5];
    if (rng() % 4) f["score"] = rng() % 25 ? std::to_string(static_cast<int>(rng() % 100) - 20) : "n/a";
    if (rng() % 3 == 0) f["code"] = codes[rng() % 4];
    if (rng() % 20 == 0) f.erase("vec");
    return f;
  }
};

// Oracle of a hybrid query on the expected state.
std::vector<RefHit> expected_hits(const ExpectedState& want, const std::vector<float>& q, std::size_t k,
                                  const std::function<bool(const AttributeRow&)>& keep) {
  Model model;
  for (const auto& [key, e] : want.indexed)
    if (keep(e.row)) model[key] = e.vector;
  return brute_force<metric::Cosine>(model, q, k);
}

void run_model(unsigned seed, bool defer_writes, int operations) {
  World w(seed);
  MemorySource src;
  src.set_duplicates(2, 0.05, seed);
  for (int i = 0; i < 200; ++i) src.set(w.key(), w.fields());  // data before the index exists
  const auto def = definition();
  KeyspaceIndex<FlatCos> ks(def, src, std::make_unique<FlatCos>(kSchema, FlatParams{.initial_cap = 8, .block_size = 32}),
                            KeyspaceOptions{.allow_list_max = 16, .defer_writes = defer_writes});
  std::set<std::string> hooked;  // keys a hook has applied: these must always be exact
  std::size_t scans_completed = 0, failures_seen = 0, read_faults = 0;
  ThreadExecutor pool;

  auto hook_write = [&](const std::string& key) {
    if (w.rng() % 40 == 0) {  // injected read failure: the host sees the error and retries
      src.throw_on_read(1);
      try {
        ks.on_write(key);
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kSourceFailure);
        ++read_faults;
      }
      src.throw_on_read(0);
    }
    ks.on_write(key);
    hooked.insert(key);
  };
  auto hook_delete = [&](const std::string& key) {
    ks.on_delete(key);
    hooked.insert(key);
  };
  auto check_invariants = [&] {
    if (defer_writes) ks.flush_writes();
    const ExpectedState want = expected_state(src, def, kSchema);
    // Nothing in the index is stale or should not be there.
    ks.index().for_each([&](KeyView key, Id, std::span<const float>) {
      INFO("indexed key " << printable_key(key));
      REQUIRE(want.indexed.count(std::string(key)) == 1);
    });
    for (const auto& entry : want.indexed) {
      const std::string& key = entry.first;
      const Expected& e = entry.second;
      if (!ks.contains(key)) {
        INFO("missing key " << printable_key(key));
        CHECK(hooked.count(key) == 0);  // only keys no hook applied may still wait for the scan
        continue;
      }
      const auto got = *ks.index().get_vector(key);
      bool same = true;
      for (std::size_t i = 0; i < kDim; ++i)
        same &= std::abs(got[i] - e.vector[i]) <= 1e-5f * std::max(1.0f, std::abs(e.vector[i]));
      if (!same || *ks.attributes(key) != e.row) {
        INFO("stale key " << printable_key(key));
        CHECK(same);
        CHECK(*ks.attributes(key) == e.row);
      }
    }
    for (const std::string& key : hooked) {
      auto it = want.failing.find(key);
      const auto want_failure = it == want.failing.end() ? std::nullopt : std::optional(it->second);
      if (ks.failure_of(key) != want_failure) {
        INFO("hooked key " << printable_key(key));
        CHECK(ks.failure_of(key) == want_failure);
      }
    }
  };

  for (int op = 0; op < operations; ++op) {
    const unsigned r = w.rng() % 100;
    if (r < 30) {
      const std::string key = w.key();
      src.set(key, w.fields());
      hook_write(key);
    } else if (r < 38) {  // attribute-only change
      const std::string key = w.key();
      if (src.get(key)) {
        src.hset(key, "genre", w.rng() % 2 ? "blues" : "jazz");
        src.hset(key, "score", std::to_string(w.rng() % 50));
        hook_write(key);
      }
    } else if (r < 41) {  // the vector field disappears
      const std::string key = w.key();
      src.hdel(key, "vec");
      hook_write(key);
    } else if (r < 52) {
      const std::string key = w.key();
      src.del(key);
      hook_delete(key);
    } else if (r < 55) {  // rename (possibly across prefixes)
      const std::string from = w.key(), to = w.key();
      if (auto fields = src.get(from); fields && from != to) {
        src.del(from);
        src.set(to, *fields);
        hook_delete(from);
        hook_write(to);
      }
    } else if (r < 70) {
      ks.step(1 + w.rng() % 40);
    } else if (r < 76) {
      ks.step(1 + w.rng() % 60, pool.executor(), 2 + w.rng() % 3);
      pool.join();
    } else if (r < 78) {
      ks.step_for(std::chrono::nanoseconds(0), 1 + w.rng() % 10);  // one step: keeps the run deterministic
    } else if (r < 80) {
      src.throw_after(w.rng() % 40);
    } else if (r < 83) {
      if (ks.state() == BackfillState::kFailed) ++failures_seen;
      ks.resume();
    } else if (r < 85) {
      ks.pause();
    } else if (r < 86) {
      ks.cancel();
    } else if (r < 88) {
      const bool reconcile = w.rng() % 2;
      const auto s = ks.state();
      if (s != BackfillState::kBackfilling && s != BackfillState::kFailed) {
        if (s == BackfillState::kReady) ++scans_completed;
        if (reconcile) ks.start_reconcile(); else ks.start_backfill();
      }
    } else if (r < 90) {
      check_invariants();
    } else {
      ks.step(1 + w.rng() % 20);
    }
    if (op % 97 == 0) check_invariants();
  }

  // Finish: clear faults, complete a scan, and compare everything.
  src.clear_faults();
  if (defer_writes) ks.flush_writes();
  const BackfillState s = ks.state();
  if (s == BackfillState::kPaused || s == BackfillState::kFailed) ks.resume();
  if (ks.state() != BackfillState::kBackfilling) ks.start_backfill();
  CHECK(run_scan(ks, 25) == BackfillState::kReady);
  const ExpectedState want = expected_state(src, def, kSchema);
  check_holds(ks, want);
  CHECK(ks.failures() == want.failures);
  CHECK(want.failures.total() > 5);
  CHECK(want.indexed.size() > 100);
  MESSAGE("seed " << seed << std::string(defer_writes ? " deferred" : " immediate") << ": " << want.indexed.size()
                  << " indexed, " << want.failures.total() << " failing, " << failures_seen
                  << " failed scans resumed, " << read_faults << " read faults, " << scans_completed
                  << " scans completed mid-run");

  // Hybrid queries on the final index equal brute force over the model.
  const auto jazz_or_pop = [](const AttributeRow& r) {
    return r[0].present && (std::count(r[0].tags.begin(), r[0].tags.end(), "jazz") ||
                            std::count(r[0].tags.begin(), r[0].tags.end(), "pop"));
  };
  const auto score_range = [](const AttributeRow& r) { return r[1].present && r[1].number > 10 && r[1].number <= 40; };
  const auto not_code_a = [](const AttributeRow& r) {
    return !(r[2].present && std::count(r[2].tags.begin(), r[2].tags.end(), "A"));
  };
  struct Query {
    const char* text;
    std::function<bool(const AttributeRow&)> keep;
  };
  const Query queries[] = {
      {"@genre:{JAZZ | pop}", jazz_or_pop},
      {"@score:[(10 40]", score_range},
      {"-@code:{A}", not_code_a},
      {"@genre:{jazz|pop} @score:[(10 40] | -@code:{A}",
       [&](const AttributeRow& r) { return (jazz_or_pop(r) && score_range(r)) || not_code_a(r); }},
      {"*", [](const AttributeRow&) { return true; }},
  };
  for (const Query& q : queries) {
    INFO(q.text);
    for (int i = 0; i < 5; ++i) {
      const auto v = w.vector();
      const auto want_hits = expected_hits(want, v, 10, q.keep);
      Model model;
      for (const auto& [key, e] : want.indexed) model[key] = e.vector;
      check_same<metric::Cosine>(ks.search(v, 10, q.text), want_hits, model, v);
    }
  }
}

}  // namespace

TEST_CASE("random interleavings of writes, deletes, steps and faults keep the index equal to the source") {
  for (unsigned seed : {1u, 2u, 3u}) run_model(seed, false, 4000);
}

TEST_CASE("the same holds when writes are queued and coalesced until the next step") {
  for (unsigned seed : {4u, 5u}) run_model(seed, true, 4000);
}
