// Property test: random upsert / erase / batch / compact / search sequences against a std::map model.
#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "support/graph_reachability.hpp"
#include "support/reference.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

TEST_CASE_TEMPLATE("HnswIndex keeps the model's key set and true distances under random operations", M, metric::L2,
                   metric::InnerProduct, metric::Cosine) {
  constexpr std::uint32_t kDim = 9;
  HnswIndex<float, M> index(VectorSchema{kDim, ElementType::kFloat32, M::kind},
                            HnswParams{.m = 6, .ef_construction = 40, .initial_cap = 4, .block_size = 16, .seed = 3});
  Model model;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> op(0, 99), key_of(0, 299);
  // Short keys are stored inline, long ones out of line: use both.
  auto make_key = [](int i) { return i % 3 == 0 ? "a-rather-long-key:" + std::to_string(i) : "k" + std::to_string(i); };
  std::size_t searches = 0, found = 0, wanted = 0;
  for (int step = 0; step < 5000; ++step) {
    const int o = op(rng);
    const std::string key = make_key(key_of(rng));
    if (o < 40) {
      auto v = random_vector(rng, kDim);
      const bool existed = model.count(key) != 0;
      const auto outcome = index.upsert_blob(key, to_float32_blob(v));
      CHECK(outcome == (existed ? UpsertOutcome::kUpdated : UpsertOutcome::kInserted));
      model[key] = v;
    } else if (o < 44 && model.count(key)) {
      CHECK(index.upsert(key, model[key]) == UpsertOutcome::kUnchanged);
    } else if (o < 46) {
      // A small batch with a repeated key: the last vector wins.
      std::vector<std::string> keys = {make_key(key_of(rng)), make_key(key_of(rng)), key, key};
      std::vector<std::vector<float>> vs;
      std::vector<typename HnswIndex<float, M>::BatchItem> items;
      for (std::size_t i = 0; i < keys.size(); ++i) vs.push_back(random_vector(rng, kDim));
      for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], vs[i]);
      index.insert_batch(items, 2);
      for (std::size_t i = 0; i < keys.size(); ++i) model[keys[i]] = vs[i];
    } else if (o < 70) {
      CHECK(index.erase(key) == (model.erase(key) == 1));
    } else if (o < 71) {
      index.compact();
      CHECK(index.deleted_memory_bytes() == 0);
    } else if (o < 72) {
      index.maintain(1 + static_cast<std::size_t>(op(rng)) * 20);  // a host's slice of maintenance
    } else if (o < 74) {
      CHECK(index.try_upsert_blob(key, "bad").outcome == UpsertOutcome::kRejected);
    } else {
      const auto q = random_vector(rng, kDim);
      const std::size_t k = 1 + static_cast<std::size_t>(op(rng)) % 40;
      const auto hits = index.search(q, k, {.ef = 64});
      CHECK(hits.size() <= std::min(k, model.size()));
      std::set<std::string> seen;
      for (std::size_t i = 0; i < hits.size(); ++i) {
        auto it = model.find(hits[i].key);
        REQUIRE(it != model.end());  // never an erased or unknown key
        CHECK(seen.insert(hits[i].key).second);
        const double truth = ref_distance<M>(q, it->second);
        CHECK(std::abs(hits[i].distance - truth) <= 1e-4 * std::max(1.0, std::abs(truth)));
        if (i > 0) CHECK(hits[i - 1].distance <= hits[i].distance);
      }
      const auto want = brute_force<M>(model, q, k);
      for (const auto& w : want) found += seen.count(w.key);
      wanted += want.size();
      ++searches;
    }
    REQUIRE(index.size() == model.size());
  }
  for (const auto& [key, v] : model) {
    REQUIRE(index.contains(key));
    const auto stored = *index.get_vector(key);
    for (std::size_t i = 0; i < kDim; ++i) CHECK(stored[i] == doctest::Approx(v[i]).epsilon(1e-5));
  }
  std::size_t live = 0;
  index.for_each([&](KeyView key, Id, std::span<const float>) {
    CHECK(model.count(std::string(key)) == 1);
    ++live;
  });
  CHECK(live == model.size());
  CHECK(searches > 500);
  const double recall = double(found) / double(wanted);
  MESSAGE("recall of the random searches: " << recall);
  CHECK(recall > 0.95);
}

namespace {

// Live keys that an exhaustive search (ef >= size) for their own vector does not return at distance 0.
template <class Index>
std::vector<std::string> not_found_by_own_vector(const Index& index, const std::map<std::string, std::vector<float>>& model) {
  std::vector<std::string> lost;
  const SearchOptions options{.ef = std::max<std::size_t>(1, index.size())};
  for (const auto& [key, v] : model) {
    const auto hits = index.search(v, 1, options);
    if (hits.empty() || hits[0].key != key || hits[0].distance != 0) lost.push_back(key);
  }
  return lost;
}

}  // namespace

TEST_CASE("every live entry stays reachable from the entry point under update and delete churn") {
  constexpr std::uint32_t kDim = 12;
  HnswIndex<float, metric::L2> index(VectorSchema{kDim, ElementType::kFloat32, metric::L2::kind},
                                     HnswParams{.m = 6, .ef_construction = 48, .seed = 11});
  std::map<std::string, std::vector<float>> model;
  std::mt19937 rng(2024);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "seed:" + std::to_string(i);
    model[key] = random_vector(rng, kDim);
    index.upsert(key, model[key]);
  }
  // Updates give a key a new id and leave the old one a tombstone; deletes add tombstones; sweeps
  // repair around them as they pile up.
  std::uniform_int_distribution<int> key_of(0, 799), op(0, 6);
  std::size_t lost_midway = 0;
  for (int step = 0; step < 8000; ++step) {
    const std::string key = "w:" + std::to_string(key_of(rng));
    if (op(rng) == 0) {
      index.erase(key);
      model.erase(key);
    } else {
      model[key] = random_vector(rng, kDim);
      index.upsert(key, model[key]);
    }
    if (step % 2000 == 1999) lost_midway += not_found_by_own_vector(index, model).size();
  }
  REQUIRE(index.size() == model.size());
  CHECK(lost_midway == 0);
  const auto lost = not_found_by_own_vector(index, model);
  CHECK_MESSAGE(lost.empty(), lost.size() << " of " << model.size() << " live keys not found, e.g. " << lost.front());
  index.sweep_tombstones();
  const auto unreachable = unreachable_on_layer0(index);
  CHECK_MESSAGE(unreachable.empty(), unreachable.size() << " of " << model.size()
                                                        << " live keys unreachable on layer 0 after a sweep");
  CHECK(not_found_by_own_vector(index, model).empty());
}

TEST_CASE("inserts and updates cut no live entry off the graph: each key is found by its own vector at every check") {
  // A full list that takes a new node prunes one of its own; that link can be the pruned node's
  // last in-link. Sparse graphs (M = 6) on random data make this common: with nothing to prevent
  // it, several of these seeds lose a key within the first thousand inserts. Checked every 200
  // writes, not only after a sweep.
  constexpr std::uint32_t kDim = 12;
  std::size_t checks = 0;
  std::vector<std::string> lost;
  for (const std::uint64_t seed : {1, 5, 7, 11, 18}) {
    HnswIndex<float, metric::L2> index(VectorSchema{kDim, ElementType::kFloat32, metric::L2::kind},
                                       HnswParams{.m = 6, .ef_construction = 48, .seed = seed});
    std::map<std::string, std::vector<float>> model;
    std::mt19937 rng(static_cast<unsigned>(seed));
    for (int i = 0; i < 1300; ++i) {
      const std::string key = "k" + std::to_string(i % 1000);  // the last 300 replace vectors
      model[key] = random_vector(rng, kDim);
      index.upsert(key, model[key]);
      if (i % 200 == 199) {
        ++checks;
        for (const std::string& k : not_found_by_own_vector(index, model))
          lost.push_back("seed " + std::to_string(seed) + " write " + std::to_string(i) + ": " + k);
      }
    }
  }
  CHECK(checks == 30);
  CHECK_MESSAGE(lost.empty(), lost.size() << " keys not found at a check, e.g. " << lost.front());
}


TEST_CASE("under IP, a maintenance round links back every node layer 0 does not reach from the entry point") {
  // Under IP a node's own vector is not its nearest, and layer 0 is far from symmetric: small
  // non-negative vectors (UINT8-like data) often end up with no in-link. A search's layer-0 walk
  // starts where the descent lands as well as at the entry point, so finding a node from there
  // does not make it reachable from the entry point. Each round's walk must link back every node
  // it did not reach; before it did, about one build in six kept 2 to 4 nodes that no search from
  // far away could return. Checked with an exhaustive search (ef and k = the entry count).
  constexpr std::uint32_t kDim = 48;
  constexpr std::size_t kCount = 600;
  std::vector<std::string> lost;
  for (unsigned seed = 0; seed < 16; ++seed) {
    HnswIndex<float, metric::InnerProduct> index(VectorSchema{kDim, ElementType::kFloat32, metric::InnerProduct::kind},
                                                 HnswParams{.m = 8, .ef_construction = 64, .seed = seed});
    std::mt19937 rng(seed);
    std::vector<std::vector<float>> vectors;
    for (std::size_t i = 0; i < kCount; ++i) {
      std::vector<float> v = random_vector(rng, kDim);
      for (float& x : v) x = std::min(255.0f, std::round(std::abs(x) * 40));
      index.upsert("k" + std::to_string(i), v);
      vectors.push_back(std::move(v));
    }
    index.sweep_tombstones();  // a whole round, its walk included
    CHECK_FALSE(index.maintenance_pending());
    for (const std::size_t probe : {std::size_t{0}, kCount / 2}) {
      const auto all = index.search(vectors[probe], kCount, {.ef = kCount});
      if (all.size() != kCount)
        lost.push_back("seed " + std::to_string(seed) + ": " + std::to_string(kCount - all.size()) + " not returned");
    }
  }
  CHECK_MESSAGE(lost.empty(), lost.size() << " exhaustive searches missed keys, e.g. " << lost.front());
}
TEST_CASE("try_upsert_blobs reports each item as try_upsert_blob would, on lent threads, under churn") {
  // Batches of distinct keys mixing new keys, replaced vectors, unchanged vectors and bad blobs,
  // with erases between batches, checked item by item against a model. Workers run on threads a
  // spawn function starts, or inline when it refuses them.
  constexpr std::uint32_t kDim = 12;
  using Index = HnswIndex<float, metric::L2>;
  Index index(VectorSchema{kDim, ElementType::kFloat32, metric::L2::kind},
              HnswParams{.m = 6, .ef_construction = 48, .initial_cap = 16, .block_size = 64, .seed = 5});
  std::map<std::string, std::vector<float>> model;
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> key_of(0, 599), kind(0, 9);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::size_t refused = 0, lost_midway = 0;
  std::map<UpsertOutcome, std::size_t> seen_outcomes;
  for (int round = 0; round < 60; ++round) {
    std::set<std::string> used;
    std::vector<std::string> keys, blobs;
    std::vector<UpsertResult> want;
    std::map<std::string, std::vector<float>> next = model;
    while (keys.size() < 50) {
      const std::string key = "k" + std::to_string(key_of(rng));
      if (!used.insert(key).second) continue;
      const int c = kind(rng);
      const auto old = model.find(key);
      if (c == 0) {
        blobs.push_back(std::string(kDim * 4 - 4, 'x'));
        want.push_back({UpsertOutcome::kRejected, VectorFailure::kWrongSize, kInvalidId});
      } else if (c == 1) {
        auto v = random_vector(rng, kDim);
        v[3] = nan;
        blobs.push_back(to_float32_blob(v));
        want.push_back({UpsertOutcome::kRejected, VectorFailure::kNonFinite, kInvalidId});
      } else if (c == 2 && old != model.end()) {
        blobs.push_back(to_float32_blob(old->second));
        want.push_back({UpsertOutcome::kUnchanged, VectorFailure::kNone, kInvalidId});
      } else {
        const auto v = random_vector(rng, kDim);
        blobs.push_back(to_float32_blob(v));
        want.push_back({old == model.end() ? UpsertOutcome::kInserted : UpsertOutcome::kUpdated,
                        VectorFailure::kNone, kInvalidId});
        next[key] = v;
      }
      keys.push_back(key);
    }
    std::vector<Index::BlobItem> items;
    for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], blobs[i]);
    std::vector<UpsertResult> results(items.size());
    std::vector<std::thread> threads;
    const bool refuse = round % 5 == 4;
    auto spawn = [&](std::function<void()> task) {
      if (refuse) {
        ++refused;
        throw std::runtime_error("no thread for you");
      }
      threads.emplace_back(std::move(task));
    };
    index.try_upsert_blobs(items, results, 1 + round % 3, spawn);
    for (auto& t : threads) t.join();
    model = std::move(next);
    for (std::size_t i = 0; i < items.size(); ++i) {
      INFO("round " << round << " key " << keys[i]);
      CHECK(results[i].outcome == want[i].outcome);
      CHECK(results[i].failure == want[i].failure);
      CHECK((results[i].id == kInvalidId) == (want[i].outcome == UpsertOutcome::kRejected));
      ++seen_outcomes[results[i].outcome];
    }
    for (int e = 0; e < 8; ++e) {
      const std::string key = "k" + std::to_string(key_of(rng));
      CHECK(index.erase(key) == (model.erase(key) == 1));
    }
    REQUIRE(index.size() == model.size());
    for (const auto& [key, v] : model) REQUIRE(index.get_vector(key) == v);
    if (round % 20 == 19) lost_midway += not_found_by_own_vector(index, model).size();
  }
  CHECK(refused > 0);
  CHECK(seen_outcomes.size() == 4);  // inserted, updated, unchanged and rejected all occurred
  CHECK(lost_midway == 0);
  index.sweep_tombstones();
  const auto unreachable = unreachable_on_layer0(index);
  CHECK_MESSAGE(unreachable.empty(), unreachable.size() << " of " << model.size() << " unreachable after a sweep");
  CHECK(not_found_by_own_vector(index, model).empty());
}

TEST_CASE("maintain() repairs and frees tombstones in bounded steps; every key stays findable in between") {
  // 100 erases stay below the 1/16 of the live entries at which writes maintain, so only
  // maintain() does the work here, in steps of 300 units: the steps leave graphs in which no
  // erased key is returned (checked every 8th step) and every live key is found by its own vector
  // (after steps 8, 16, 32, ...: about 190 steps in all).
  constexpr std::uint32_t kDim = 12;
  HnswIndex<float, metric::L2> index(VectorSchema{kDim, ElementType::kFloat32, metric::L2::kind},
                                     HnswParams{.m = 6, .ef_construction = 48, .seed = 4});
  std::map<std::string, std::vector<float>> model;
  std::mt19937 rng(44);
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    model[key] = random_vector(rng, kDim);
    index.upsert(key, model[key]);
  }
  index.sweep_tombstones();  // the build's own rounds (after inserts) are done
  const auto before = index.maintenance_stats();
  std::set<std::string> erased;
  for (int i = 0; i < 100 * 16; i += 16) {
    const std::string key = "k" + std::to_string(i);
    REQUIRE(index.erase(key));
    model.erase(key);
    erased.insert(key);
  }
  auto s = index.maintenance_stats();
  CHECK(s.work == before.work);  // the writes did no maintenance
  CHECK(s.pending_tombstones == 100);
  const std::size_t deleted_before = index.deleted_memory_bytes();
  std::size_t calls = 0, leaked = 0, lost = 0;
  while (index.maintain(300)) {
    ++calls;
    if (calls % 8 != 0) continue;
    for (const auto& [key, v] : model) {
      const auto hits = index.search(v, 10, {.ef = 32});
      for (const auto& h : hits) leaked += erased.count(h.key);
    }
    // The own-vector check searches with ef = size (quadratic): at calls 8, 16, 32, ... only.
    if ((calls & (calls - 1)) == 0) lost += not_found_by_own_vector(index, model).size();
    REQUIRE(index.size() == model.size());
  }
  s = index.maintenance_stats();
  MESSAGE(calls << " maintain(300) calls, " << s.work - before.work << " units, " << s.lists_repaired - before.lists_repaired
                << " lists repaired, " << s.back_links - before.back_links << " links back");
  CHECK(calls >= 8);  // done in pieces, not all at once
  CHECK(leaked == 0);
  CHECK(lost == 0);
  CHECK(s.pending_tombstones == 0);
  CHECK_FALSE(s.round_in_progress);
  CHECK_FALSE(index.maintenance_pending());
  CHECK(s.rounds == before.rounds + 1);
  CHECK(s.tombstones_freed == before.tombstones_freed + 100);
  CHECK(unreachable_on_layer0(index).empty());
  CHECK(not_found_by_own_vector(index, model).empty());
  // The slots are free: new entries take them.
  CHECK(index.deleted_memory_bytes() > 0);
  CHECK(index.deleted_memory_bytes() <= deleted_before);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "new" + std::to_string(i);
    model[key] = random_vector(rng, kDim);
    index.upsert(key, model[key]);
  }
  CHECK(index.deleted_memory_bytes() == 0);
  CHECK(not_found_by_own_vector(index, model).empty());
}

TEST_CASE("a write maintains at most maintenance_work_per_write() units, and writes alone keep up") {
  // No maintain() calls: once tombstones reach 1/16 of the entries, writes run the round in
  // bounded pieces (one step may overrun the bound by one node's repairs or one link back).
  constexpr std::uint32_t kDim = 12;
  HnswIndex<float, metric::L2> index(VectorSchema{kDim, ElementType::kFloat32, metric::L2::kind},
                                     HnswParams{.m = 6, .ef_construction = 48, .seed = 8});
  std::map<std::string, std::vector<float>> model;
  std::mt19937 rng(88);
  std::uniform_int_distribution<int> key_of(0, 2499), op(0, 2);
  for (int i = 0; i < 2500; ++i) {
    model["k" + std::to_string(i)] = random_vector(rng, kDim);
    index.upsert("k" + std::to_string(i), model["k" + std::to_string(i)]);
  }
  const std::size_t bound = index.maintenance_work_per_write();
  std::size_t most = 0, maintaining_writes = 0, most_pending = 0;
  for (int step = 0; step < 8000; ++step) {
    const std::string key = "k" + std::to_string(key_of(rng));
    const std::uint64_t work = index.maintenance_stats().work;
    if (op(rng) == 0) {
      index.erase(key);
      model.erase(key);
    } else {
      model[key] = random_vector(rng, kDim);
      index.upsert(key, model[key]);
    }
    const auto s = index.maintenance_stats();
    most = std::max<std::size_t>(most, s.work - work);
    maintaining_writes += s.work != work;
    most_pending = std::max(most_pending, s.pending_tombstones);
  }
  const auto s = index.maintenance_stats();
  MESSAGE("bound " << bound << " units; most in one write " << most << "; " << maintaining_writes
                   << " of 8000 writes maintained; " << s.rounds << " rounds; at most " << most_pending
                   << " tombstones pending for " << index.size() << " entries");
  CHECK(most <= 2 * bound);
  CHECK(maintaining_writes > 0);
  CHECK(s.tombstones_freed > 4000);             // nearly every write made a tombstone: they are freed
  CHECK(most_pending <= index.size() / 4);      // the rounds keep up (writes start at 1/16)
  CHECK(not_found_by_own_vector(index, model).empty());
}

TEST_CASE("maintenance is deterministic: the same writes and maintain calls give the same graph") {
  constexpr std::uint32_t kDim = 10;
  using Index = HnswIndex<float, metric::L2>;
  auto run = [](Index& index) {
    std::mt19937 rng(123);
    std::uniform_int_distribution<int> key_of(0, 799), op(0, 3);
    for (int step = 0; step < 4000; ++step) {
      const std::string key = "k" + std::to_string(key_of(rng));
      const int o = op(rng);
      if (o == 0) {
        index.erase(key);
      } else {
        index.upsert(key, random_vector(rng, kDim));
      }
      if (step % 37 == 0) index.maintain(1 + rng() % 3000);
    }
  };
  Index a(VectorSchema{kDim}, HnswParams{.m = 6, .ef_construction = 40, .seed = 2});
  Index b(VectorSchema{kDim}, HnswParams{.m = 6, .ef_construction = 40, .seed = 2});
  run(a);
  run(b);
  auto graph = [](const Index& index) {
    std::vector<std::pair<std::string, std::vector<std::vector<Id>>>> out;
    const HnswGraphInfo info = index.export_graph([&](const HnswNodeData& n) { out.emplace_back(n.key, n.links); });
    return std::make_pair(info.entry_point, out);
  };
  CHECK(a.maintenance_stats().rounds > 0);
  CHECK(graph(a) == graph(b));
}
