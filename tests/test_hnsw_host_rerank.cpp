// SQ8 HNSW re-ranking from the host (HnswParams::exact_vectors = ExactVectors::kHost): once its
// quantizer's training is final the index frees its floats (records are [codes][links] throughout),
// chooses links on decoded codes and measures the rerank·k best candidates of each walk on vectors
// the host hands it. Checked against brute force over the host's vectors (recall, exact distances),
// the same index keeping its floats (before the release: identical), the host changing or losing
// entries, filters, range search, writes and maintenance after the release, retraining from the
// host (and a host that fails during it), compaction, clearing, memory, snapshots and KeyspaceIndex.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using vindex_test::Model;

namespace {

// DIM 4100: the training sample's cap is Sq8::kTrainAt vectors, so the first training is final and
// the floats go at the 1,024th insert. A small M and EF_CONSTRUCTION keep the build quick.
constexpr std::uint32_t kDim = 4100;
constexpr std::size_t kCount = Sq8::kTrainAt + 176;

template <class MetricT>
VectorSchema schema_of() {
  return VectorSchema{kDim, ElementType::kFloat32, MetricT::kind};
}

HnswParams params(ExactVectors exact) {
  return HnswParams{.m = 8, .ef_construction = 40, .ef_runtime = 64, .exact_vectors = exact};
}

// Clustered data (16 centres), so that a graph walk has something to find.
struct Data {
  std::mt19937 rng;
  std::vector<std::vector<float>> centres;
  explicit Data(unsigned seed) : rng(seed) {
    std::normal_distribution<float> g(0.0f, 3.0f);
    for (int c = 0; c < 16; ++c) {
      centres.emplace_back(kDim);
      for (float& x : centres.back()) x = g(rng) + 1.0f;
    }
  }
  std::vector<float> next() {
    std::normal_distribution<float> g(0.0f, 1.0f);
    const auto& c = centres[std::uniform_int_distribution<std::size_t>(0, centres.size() - 1)(rng)];
    std::vector<float> v(kDim);
    for (std::size_t i = 0; i < kDim; ++i) v[i] = c[i] + g(rng);
    return v;
  }
};

std::string key_of(std::size_t i) { return "doc:" + std::to_string(i); }

// A host's copy of the vectors, read the way a KeyValueSource point read would be, counting reads.
struct Host {
  Model vectors;
  std::size_t reads = 0;
  bool fail = false;
  HostVectorReader reader() {
    return [this](KeyView key, std::span<float> out) {
      ++reads;
      if (fail) throw std::runtime_error("host unavailable");
      const auto it = vectors.find(std::string(key));
      if (it == vectors.end()) return false;
      std::copy(it->second.begin(), it->second.end(), out.begin());
      return true;
    };
  }
};

template <class MetricT>
struct Fixture {
  HnswIndex<float, MetricT, Sq8> index{schema_of<MetricT>(), params(ExactVectors::kHost)};
  HnswIndex<float, MetricT, Sq8> kept{schema_of<MetricT>(), params(ExactVectors::kIndex)};
  Host host;
  HostVectorReader read = host.reader();
  Data data{21};

  void put(const std::string& key, const std::vector<float>& v) {
    host.vectors[key] = v;
    index.upsert(key, v);
    kept.upsert(key, v);
  }
  SearchOptions options(std::size_t rerank = Sq8::kDefaultRerank, std::size_t ef = 64) const {
    SearchOptions o;
    o.rerank = rerank;
    o.ef = ef;
    o.host_vectors = &read;
    return o;
  }
};

// recall@k of `got` against brute force over the host's vectors; every returned distance must be
// the exact one of the host's vector (to float rounding, as check_same allows).
template <class MetricT>
double recall(const std::vector<SearchResult>& got, const Model& host, const std::vector<float>& q, std::size_t k) {
  const auto want = vindex_test::brute_force<MetricT>(host, q, k);
  std::set<std::string> truth;
  for (const auto& h : want) truth.insert(h.key);
  std::size_t hit = 0;
  for (const SearchResult& r : got) {
    hit += truth.count(r.key);
    const double d = vindex_test::ref_distance<MetricT>(q, host.at(r.key));
    CHECK(std::abs(r.distance - d) <= 1e-4 * std::max(1.0, std::abs(d)));
  }
  return static_cast<double>(hit) / static_cast<double>(want.size());
}

}  // namespace

TEST_CASE_TEMPLATE("HNSW host re-ranking: the floats go at the final training; recall and exact distances",
                   MetricT, metric::L2, metric::InnerProduct, metric::Cosine) {
  Fixture<MetricT> f;
  for (std::size_t i = 0; i + 1 < Sq8::kTrainAt; ++i) f.put(key_of(i), f.data.next());
  CHECK_FALSE(f.index.floats_released());
  CHECK(f.index.reranks_from_host());
  // Before the release the two indexes are the same index.
  for (int q = 0; q < 3; ++q) {
    const auto query = f.data.next();
    const auto a = f.index.search(query, 10, f.options());
    const auto b = f.kept.search(query, 10, f.options());
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i].key == b[i].key && a[i].distance == b[i].distance));
  }
  CHECK(f.host.reads == 0);
  for (std::size_t i = Sq8::kTrainAt - 1; i < kCount; ++i) f.put(key_of(i), f.data.next());
  REQUIRE(f.index.floats_released());
  CHECK_FALSE(f.kept.floats_released());
  const HnswMemory m = f.index.memory_breakdown();
  CHECK(m.vectors <= kCount * sizeof(float) + 8192);  // COSINE magnitudes only
  CHECK(m.codes >= kCount * kDim);
  CHECK(f.index.memory_bytes() * 3 < f.kept.memory_bytes());
  // get_vector: what the codes decode to, within the quantizer's step of the host's vector.
  const auto decoded = f.index.get_vector(key_of(3));
  REQUIRE(decoded);
  CHECK(decoded->size() == kDim);

  double total = 0;
  const int queries = 12;
  for (int q = 0; q < queries; ++q) {
    const auto query = f.data.next();
    f.host.reads = 0;
    const auto got = f.index.search(query, 10, f.options(3));
    CHECK(got.size() == 10);
    CHECK(f.host.reads == 30);  // rerank·k candidates, one read each
    CHECK(std::is_sorted(got.begin(), got.end(), [](const SearchResult& a, const SearchResult& b) {
      return a.distance < b.distance;
    }));
    total += recall<MetricT>(got, f.host.vectors, query, 10);
  }
  CHECK(total / queries >= 0.9);
  // Without a reader the search is refused, with a reason.
  CHECK_THROWS_WITH_AS(f.index.search(f.data.next(), 5), doctest::Contains("host_vectors"), Error);
}

TEST_CASE("HNSW host re-ranking: filters, range search, the host's changes") {
  using M = metric::L2;
  Fixture<M> f;
  for (std::size_t i = 0; i < kCount; ++i) f.put(key_of(i), f.data.next());
  REQUIRE(f.index.floats_released());
  const auto query = f.data.next();
  // A selective filter (exact scan of the codes, then re-ranking) and a broad one (filtered walk).
  const auto every50 = [](KeyView key, Id) { return std::stoul(std::string(key.substr(4))) % 50 == 0; };
  const auto odd = [](KeyView key, Id) { return (key.back() - '0') % 2 == 1; };
  for (auto pred : {+every50, +odd}) {
    const Filter filter = Filter::by_predicate(pred);
    SearchOptions o = f.options(Sq8::kMaxRerank, 200);
    o.filter = &filter;
    const auto got = f.index.search(query, 5, o);
    const auto want = vindex_test::brute_force<M>(f.host.vectors, query, 5, [&](const std::string& k) { return pred(k, 0); });
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(pred(got[i].key, 0));
      CHECK(got[i].key == want[i].key);
    }
  }
  // Range search: the host's vectors within the radius, with exact distances.
  const auto nearest = vindex_test::brute_force<M>(f.host.vectors, query, 20);
  const double radius = nearest.back().distance;
  SearchOptions wide = f.options();
  wide.epsilon = 1.0;
  const auto in_range = f.index.range_search(query, radius, wide);
  CHECK(in_range.size() >= 18);
  CHECK(in_range.size() <= 21);
  for (const SearchResult& r : in_range)
    CHECK(vindex_test::ref_distance<M>(query, f.host.vectors.at(r.key)) <= radius * (1 + 1e-5) + 1e-5);
  // The host changes the nearest entry's vector (the index is not told) and loses the second: the
  // answer measures the new vector and leaves out the lost key.
  const std::string first = nearest[0].key, second = nearest[1].key;
  std::vector<float> far(kDim, 1000.0f);
  f.host.vectors[first] = far;
  f.host.vectors.erase(second);
  const auto after = f.index.search(query, 10, f.options(3));
  for (const SearchResult& r : after) CHECK(r.key != second);
  for (const SearchResult& r : after)
    if (r.key == first) CHECK(r.distance == doctest::Approx(vindex_test::ref_distance<M>(query, far)).epsilon(1e-4));
}

TEST_CASE("HNSW host re-ranking: writes, maintenance, retraining from the host, compaction and clear") {
  using M = metric::L2;
  Fixture<M> f;
  for (std::size_t i = 0; i < kCount; ++i) f.put(key_of(i), f.data.next());
  REQUIRE(f.index.floats_released());
  // Writes after the release store codes only; an unchanged vector is kUnchanged.
  CHECK(f.index.upsert(key_of(5), f.host.vectors[key_of(5)]) == UpsertOutcome::kUnchanged);
  for (std::size_t i = kCount; i < kCount + 100; ++i) f.put(key_of(i), f.data.next());
  for (std::size_t i = 0; i < 300; i += 2) {
    f.host.vectors.erase(key_of(i));
    CHECK(f.index.erase(key_of(i)));
  }
  for (std::size_t i = 1; i < 100; i += 2) f.put(key_of(i), f.data.next());  // updates: new nodes
  f.index.sweep_tombstones();
  CHECK(f.index.size() == f.host.vectors.size());
  auto mean_recall = [&] {
    Data queries(77);
    double total = 0;
    for (int q = 0; q < 10; ++q) {
      const auto query = queries.next();
      total += recall<M>(f.index.search(query, 10, f.options(3, 128)), f.host.vectors, query, 10);
    }
    return total / 10;
  };
  CHECK(mean_recall() >= 0.9);
  // Every key is still found by its own vector.
  for (std::size_t i = 1; i < 300; i += 16) {  // odd keys: not erased
    const auto got = f.index.search(f.host.vectors.at(key_of(i)), 1, f.options(3, 128));
    REQUIRE(got.size() == 1);
    CHECK(got[0].key == key_of(i));
  }
  // Retraining: the floats are gone, so only the overload reading the host retrains.
  CHECK_THROWS_AS(f.index.retrain_quantizer(), Error);
  const auto query = f.data.next();
  const auto before = f.index.search(query, 10, f.options());
  f.host.fail = true;
  CHECK_THROWS_AS(f.index.retrain_quantizer(f.read), std::runtime_error);
  f.host.fail = false;
  const auto same = f.index.search(query, 10, f.options());
  REQUIRE(same.size() == before.size());
  for (std::size_t i = 0; i < same.size(); ++i) CHECK((same[i].key == before[i].key && same[i].distance == before[i].distance));
  // Drift: the host's vectors move; retraining from the host fits the quantizer to them.
  for (auto& [key, v] : f.host.vectors)
    for (float& x : v) x = 3.0f * x + 5.0f;
  f.host.reads = 0;
  f.index.retrain_quantizer(f.read);
  CHECK(f.host.reads >= f.host.vectors.size());
  CHECK(f.index.quantizer_stats().trained);
  // Compaction moves nodes and does not retrain (nothing to sample); searches still answer.
  const std::size_t moved = f.index.compact();
  CHECK(moved > 0);
  CHECK(f.index.floats_released());
  const auto sample = f.host.vectors.begin()->second;
  const auto hit = f.index.search(sample, 1, f.options(3, 128));
  REQUIRE(hit.size() == 1);
  CHECK(hit[0].key == f.host.vectors.begin()->first);
  // clear(): back to an empty index that keeps floats until its next final training.
  f.index.clear();
  CHECK(f.index.memory_bytes() == 0);
  CHECK_FALSE(f.index.floats_released());
  f.index.upsert("again", sample);
  const auto one = f.index.search(sample, 1, f.options());
  REQUIRE(one.size() == 1);
  CHECK(one[0].distance == 0);
}

TEST_CASE("HNSW host re-ranking is for SQ8 indexes only") {
  CHECK_THROWS_WITH_AS((HnswIndex<float, metric::L2>(schema_of<metric::L2>(), params(ExactVectors::kHost))),
                       doctest::Contains("only an SQ8 index re-ranks from the host"), Error);
}

TEST_CASE("HNSW host re-ranking snapshots: the mode, the codes and the graph come back; a float reader refuses") {
  using M = metric::Cosine;
  Fixture<M> f;
  for (std::size_t i = 0; i < kCount; ++i) f.put(key_of(i), f.data.next());
  REQUIRE(f.index.floats_released());
  const auto bytes = vindex_test::snapshot_bytes(f.index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_hnsw<M, float, Sq8>(in);
  CHECK(loaded->reranks_from_host());
  CHECK(loaded->floats_released());
  CHECK(loaded->size() == f.index.size());
  CHECK(vindex_test::snapshot_bytes(*loaded) == bytes);
  for (int q = 0; q < 5; ++q) {
    const auto query = f.data.next();
    const auto a = f.index.search(query, 10, f.options());
    const auto b = loaded->search(query, 10, f.options());
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i].key == b[i].key && a[i].distance == b[i].distance));
  }
  MemoryDeserializer again(bytes);
  CHECK_THROWS_WITH_AS(load_hnsw<M>(again), doctest::Contains("re-ranking from the host"), Error);
  // Before the release the snapshot holds the floats, and loads in the same mode.
  HnswIndex<float, M, Sq8> small(schema_of<M>(), params(ExactVectors::kHost));
  Data d(5);
  for (std::size_t i = 0; i < 50; ++i) small.upsert(key_of(i), d.next());
  const auto small_bytes = vindex_test::snapshot_bytes(small);
  MemoryDeserializer small_in(small_bytes);
  const auto small_loaded = load_hnsw<M, float, Sq8>(small_in);
  CHECK(small_loaded->reranks_from_host());
  CHECK_FALSE(small_loaded->floats_released());
  const auto probe = d.next();
  const auto a = small.search(probe, 5, f.options()), b = small_loaded->search(probe, 5, f.options());
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i].key == b[i].key && a[i].distance == b[i].distance));
}

TEST_CASE("HNSW host re-ranking through KeyspaceIndex: vectors read from the KeyValueSource") {
  using M = metric::L2;
  using Index = HnswIndex<float, M, Sq8>;
  MemorySource source;
  Model model;
  Data d(9);
  for (std::size_t i = 0; i < kCount; ++i) {
    model[key_of(i)] = d.next();
    source.set(key_of(i), FieldMap{{"vec", vindex_test::blob_of(model[key_of(i)])}});
  }
  const IndexDefinition def{{"doc:"}, "vec", {}};
  KeyspaceIndex<Index> ks(def, source, std::make_unique<Index>(schema_of<M>(), params(ExactVectors::kHost)));
  ks.start_backfill();
  while (ks.step(300) == BackfillState::kBackfilling) {
  }
  REQUIRE(ks.index().floats_released());
  double total = 0;
  for (int q = 0; q < 5; ++q) {
    const auto query = d.next();
    total += recall<M>(ks.search(query, 10, "*", {.ef = 64}), model, query, 10);
  }
  CHECK(total / 5 >= 0.9);
  // The source drops a vector field: the search leaves the key out at once, the write removes it.
  const auto first = ks.search(model.at(key_of(0)), 1, "*", {.ef = 64});
  REQUIRE(first.size() == 1);
  CHECK(first[0].key == key_of(0));
  source.hdel(key_of(0), "vec");
  for (const SearchResult& r : ks.search(model.at(key_of(0)), 10, "*", {.ef = 64})) CHECK(r.key != key_of(0));
  ks.on_write(key_of(0));
  model.erase(key_of(0));
  CHECK_FALSE(ks.index().contains(key_of(0)));
  // Retraining from the source: one read for the sample's vectors and one per entry.
  const std::size_t before = source.read_calls();
  ks.retrain_quantizer_from_source();
  CHECK(source.read_calls() - before == Sq8::kTrainAt + ks.size());
  const auto got = ks.search(model.at(key_of(1)), 1, "*", {.ef = 64});
  REQUIRE(got.size() == 1);
  CHECK(got[0].key == key_of(1));
}

TEST_CASE("HPRM's EXACT_VECTORS field: bounds-checked, and refused by a float HNSW loader") {
  using M = metric::L2;
  HnswIndex<float, M, Sq8> index(VectorSchema{4, ElementType::kFloat32, Metric::kL2}, HnswParams{.m = 4});
  for (int i = 0; i < 20; ++i) index.upsert(key_of(i), std::vector<float>{float(i), 1, 2, float(i % 3)});
  const auto sections = vindex_test::split_sections(vindex_test::snapshot_bytes(index));
  REQUIRE(sections[1].tag == snapshot::tag::kHnswParams);
  auto with_tail = [&](std::initializer_list<std::uint64_t> tail) {
    auto s = sections;
    for (std::uint64_t v : tail)
      for (int b = 0; b < 8; ++b) s[1].payload.push_back(static_cast<std::byte>(v >> (8 * b)));
    return vindex_test::assemble(s);
  };
  auto error_of = [](const vindex_test::Bytes& bytes, bool sq8) {
    MemoryDeserializer in(bytes);
    try {
      if (sq8) load_hnsw<M, float, Sq8>(in);
      else load_hnsw<M>(in);
    } catch (const Error& e) {
      return std::pair{e.code(), std::string(e.what())};
    }
    return std::pair{ErrorCode::kInvalidArgument, std::string("loaded")};
  };
  auto [code, what] = error_of(with_tail({0}), true);
  CHECK(code == ErrorCode::kCorruptData);
  CHECK(what.find("EXACT_VECTORS 0 is not 1") != std::string::npos);
  std::tie(code, what) = error_of(with_tail({1, 0}), true);
  CHECK(code == ErrorCode::kCorruptData);
  std::tie(code, what) = error_of(with_tail({1}), false);
  CHECK(code == ErrorCode::kSchemaMismatch);
  CHECK(what.find("re-ranking from the host") != std::string::npos);
  // The SQ8 loader takes the field: the index comes back in host mode (untrained: floats kept).
  const auto flagged = with_tail({1});
  MemoryDeserializer in(flagged);
  const auto loaded = load_hnsw<M, float, Sq8>(in);
  CHECK(loaded->reranks_from_host());
  CHECK_FALSE(loaded->floats_released());
  CHECK(loaded->size() == 20);
}
