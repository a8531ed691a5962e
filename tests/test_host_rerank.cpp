// SQ8 FLAT re-ranking from the host (FlatParams::exact_vectors = ExactVectors::kHost): the index
// gives back its floats once its quantizer's training is final, keeps codes and keys, and measures
// its candidates on vectors the host hands it. Checked against the same index keeping its floats
// (identical answers while the host holds the same vectors), brute force over the host's vectors
// (every entry re-ranked), the host changing or losing entries, every query path (filters, key
// lists, search_batch, range search), writes after the release, retraining from the host (and a
// host that fails during it), compaction, clearing, memory, KeyspaceIndex wiring, and snapshots.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/keyspace_support.hpp"
#include "support/reference.hpp"
#include "support/snapshot_checks.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using vindex_test::Model;

namespace {

// DIM 4100: the training sample's cap is Sq8::kTrainAt vectors, so the first training is final and
// the floats go at the 1,024th insert.
constexpr std::uint32_t kDim = 4100;
constexpr std::size_t kCount = Sq8::kTrainAt + 76;

template <class MetricT>
VectorSchema schema_of() {
  return VectorSchema{kDim, ElementType::kFloat32, MetricT::kind};
}

std::vector<float> vector_of(std::mt19937& rng) {
  std::normal_distribution<float> g(0.5f, 2.0f);
  std::vector<float> v(kDim);
  for (float& x : v) x = g(rng);
  return v;
}

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
struct Pair {
  FlatIndex<float, MetricT, Sq8> host_side{schema_of<MetricT>(), FlatParams{.exact_vectors = ExactVectors::kHost}};
  FlatIndex<float, MetricT, Sq8> kept{schema_of<MetricT>()};
  Host host;
  HostVectorReader read = host.reader();

  void put(const std::string& key, const std::vector<float>& v) {
    host.vectors[key] = v;
    host_side.upsert(key, v);
    kept.upsert(key, v);
  }
  SearchOptions options(std::size_t rerank = Sq8::kDefaultRerank) const {
    SearchOptions o;
    o.rerank = rerank;
    o.host_vectors = &read;
    return o;
  }
};

// Fills `source` and `model` with kCount random vectors (field "vec"; with `numeric`, also "n" = i % 10).
void fill(MemorySource& source, Model& model, std::mt19937& rng, bool numeric) {
  for (std::size_t i = 0; i < kCount; ++i) {
    model[key_of(i)] = vector_of(rng);
    FieldMap fields{{"vec", vindex_test::blob_of(model[key_of(i)])}};
    if (numeric) fields["n"] = std::to_string(i % 10);
    source.set(key_of(i), std::move(fields));
  }
}

// A KeyspaceIndex over `source` with an SQ8 FLAT re-ranking from it, backfilled to the end.
template <class MetricT>
std::unique_ptr<KeyspaceIndex<FlatIndex<float, MetricT, Sq8>>> backfilled(const IndexDefinition& def,
                                                                          MemorySource& source) {
  using Index = FlatIndex<float, MetricT, Sq8>;
  auto ks = std::make_unique<KeyspaceIndex<Index>>(
      def, source, std::make_unique<Index>(schema_of<MetricT>(), FlatParams{.exact_vectors = ExactVectors::kHost}));
  ks->start_backfill();
  while (ks->step(300) == BackfillState::kBackfilling) {
  }
  return ks;
}

void check_equal(const std::vector<SearchResult>& a, const std::vector<SearchResult>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].key == b[i].key);
    CHECK(a[i].distance == b[i].distance);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("host re-ranking: floats released at the final training, answers equal the index keeping them",
                   MetricT, metric::L2, metric::InnerProduct, metric::Cosine) {
  std::mt19937 rng(11);
  Pair<MetricT> p;
  for (std::size_t i = 0; i + 1 < Sq8::kTrainAt; ++i) p.put(key_of(i), vector_of(rng));
  CHECK_FALSE(p.host_side.floats_released());
  CHECK(p.host_side.memory_breakdown().vectors > (Sq8::kTrainAt - 1) * kDim * sizeof(float));
  for (std::size_t i = Sq8::kTrainAt - 1; i < kCount; ++i) p.put(key_of(i), vector_of(rng));
  REQUIRE(p.host_side.floats_released());
  CHECK_FALSE(p.kept.floats_released());
  CHECK(p.host_side.reranks_from_host());
  const FlatMemory m = p.host_side.memory_breakdown();
  CHECK(m.vectors <= kCount * sizeof(float) + 4096);  // COSINE magnitudes (and directories) only
  CHECK(m.codes >= kCount * kDim);
  CHECK(p.host_side.memory_bytes() * 3 < p.kept.memory_bytes());
  vindex_test::check_same_quantizer(p.host_side.saved_quantizer(), p.kept.saved_quantizer());

  for (int q = 0; q < 8; ++q) {
    const auto query = vector_of(rng);
    for (std::size_t rerank : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
      p.host.reads = 0;
      check_equal(p.host_side.search(query, 10, p.options(rerank)), p.kept.search(query, 10, p.options(rerank)));
      CHECK(p.host.reads == 10 * rerank);  // one read per candidate, none by the index keeping floats
    }
    // Every entry re-ranked: the exact answer over the host's vectors.
    const auto all = p.host_side.search(query, 10, p.options(Sq8::kMaxRerank));
    vindex_test::check_same<MetricT>(all, vindex_test::brute_force<MetricT>(p.host.vectors, query, 10), p.host.vectors,
                                     query);
  }
  // Without a reader the search is refused, with a reason.
  const auto query = vector_of(rng);
  CHECK_THROWS_WITH_AS(p.host_side.search(query, 5), doctest::Contains("host_vectors"), Error);
}

TEST_CASE_TEMPLATE("host re-ranking: filters, key lists, batches and range search", MetricT, metric::L2,
                   metric::Cosine) {
  std::mt19937 rng(12);
  Pair<MetricT> p;
  for (std::size_t i = 0; i < kCount; ++i) p.put(key_of(i), vector_of(rng));
  REQUIRE(p.host_side.floats_released());
  const auto odd = [](KeyView key, Id) { return (key.back() - '0') % 2 == 1; };
  const Filter predicate = Filter::by_predicate(odd);
  std::vector<Key> listed;
  for (std::size_t i = 0; i < kCount; i += 7) listed.push_back(key_of(i));
  listed.push_back("doc:absent");
  const Filter keys = Filter::allow_keys(listed);
  for (int q = 0; q < 4; ++q) {
    const auto query = vector_of(rng);
    SearchOptions o = p.options(Sq8::kMaxRerank);
    o.filter = &predicate;
    vindex_test::check_same<MetricT>(
        p.host_side.search(query, 10, o),
        vindex_test::brute_force<MetricT>(p.host.vectors, query, 10,
                                          [&](const std::string& k) { return odd(k, 0); }),
        p.host.vectors, query);
    o.filter = &keys;
    vindex_test::check_same<MetricT>(
        p.host_side.search(query, 10, o),
        vindex_test::brute_force<MetricT>(p.host.vectors, query, 10,
                                          [&](const std::string& k) {
                                            return std::find(listed.begin(), listed.end(), k) != listed.end();
                                          }),
        p.host.vectors, query);
  }
  // search_batch: each query as search() answers it.
  std::vector<float> batch;
  std::vector<std::vector<float>> queries;
  for (int q = 0; q < 3; ++q) {
    queries.push_back(vector_of(rng));
    batch.insert(batch.end(), queries.back().begin(), queries.back().end());
  }
  const auto answers = p.host_side.search_batch(batch, 7, p.options(3));
  REQUIRE(answers.size() == 3);
  for (std::size_t q = 0; q < 3; ++q) check_equal(answers[q], p.host_side.search(queries[q], 7, p.options(3)));
  // Range search: exactly the host's vectors within the radius.
  const auto query = vector_of(rng);
  const auto nearest = vindex_test::brute_force<MetricT>(p.host.vectors, query, 40);
  const double radius = nearest.back().distance;
  const auto in_range = p.host_side.range_search(query, radius, p.options());
  CHECK(in_range.size() >= 39);
  CHECK(in_range.size() <= 41);  // float rounding at the boundary
  for (const SearchResult& r : in_range)
    CHECK(vindex_test::ref_distance<MetricT>(query, p.host.vectors.at(r.key)) <= radius * (1 + 1e-5) + 1e-5);
  for (std::size_t i = 0; i + 1 < nearest.size(); ++i) {
    const bool found = std::any_of(in_range.begin(), in_range.end(),
                                   [&](const SearchResult& r) { return r.key == nearest[i].key; });
    CHECK(found);
  }
}

TEST_CASE("host re-ranking: the host's changes, writes after the release, retraining, compaction, clear") {
  using M = metric::L2;
  std::mt19937 rng(13);
  Pair<M> p;
  for (std::size_t i = 0; i < kCount; ++i) p.put(key_of(i), vector_of(rng));
  REQUIRE(p.host_side.floats_released());
  const auto query = vector_of(rng);

  SUBCASE("an entry the host no longer has is left out; a changed one is measured as the host has it") {
    const auto before = p.host_side.search(query, 5, p.options(Sq8::kMaxRerank));
    const std::string gone = before[0].key, moved = before[1].key;
    p.host.vectors.erase(gone);
    for (float& x : p.host.vectors[moved]) x += 100;
    const auto after = p.host_side.search(query, 5, p.options(Sq8::kMaxRerank));
    for (const SearchResult& r : after) CHECK(r.key != gone);
    for (const SearchResult& r : after) {
      if (r.key == moved) CHECK(r.distance == doctest::Approx(vindex_test::ref_distance<M>(query, p.host.vectors[moved])).epsilon(1e-4));
    }
    // A host that throws fails the search; the index is unchanged.
    p.host.fail = true;
    CHECK_THROWS_WITH(p.host_side.search(query, 5, p.options()), doctest::Contains("host unavailable"));
    p.host.fail = false;
  }

  SUBCASE("writes after the release: inserts, updates (the same codes: unchanged), erasures") {
    const auto v = vector_of(rng);
    p.put("doc:new", v);
    CHECK(p.host_side.size() == kCount + 1);
    CHECK(p.host_side.upsert("doc:new", v) == UpsertOutcome::kUnchanged);
    auto w = v;
    w[0] += 1e-6f;  // within the codes' rounding
    CHECK(p.host_side.upsert("doc:new", w) == UpsertOutcome::kUnchanged);
    w = vector_of(rng);
    p.put("doc:new", w);
    CHECK(p.host_side.erase(key_of(3)));
    CHECK(p.kept.erase(key_of(3)));
    p.host.vectors.erase(key_of(3));
    for (int q = 0; q < 3; ++q) {
      const auto other = vector_of(rng);
      check_equal(p.host_side.search(other, 10, p.options(4)), p.kept.search(other, 10, p.options(4)));
    }
    // get_vector: what the codes decode to, within the quantizer's error.
    const auto got = p.host_side.get_vector("doc:new");
    REQUIRE(got);
    double err = 0, norm = 0;
    for (std::size_t i = 0; i < kDim; ++i) {
      err += ((*got)[i] - w[i]) * ((*got)[i] - w[i]);
      norm += w[i] * w[i];
    }
    CHECK(err < 1e-3 * norm);
    CHECK(err > 0);
  }

  SUBCASE("retraining reads every entry from the host; a failing host leaves the index as it was") {
    CHECK_THROWS_AS(p.host_side.retrain_quantizer(), Error);
    const auto before = p.host_side.search(query, 10, p.options());
    p.host.fail = true;
    CHECK_THROWS(p.host_side.retrain_quantizer(p.read));
    p.host.fail = false;
    check_equal(p.host_side.search(query, 10, p.options()), before);
    // Drift: every vector moves; retraining from the host fits the codes to it again.
    for (auto& [key, v] : p.host.vectors)
      for (float& x : v) x = x * 3 + 10;
    p.host.reads = 0;
    p.host_side.retrain_quantizer(p.read);
    CHECK(p.host.reads == Sq8::kTrainAt + kCount);  // the sample, then every entry
    for (const auto& [key, v] : p.host.vectors) p.kept.upsert(key, v);
    p.kept.retrain_quantizer();
    vindex_test::check_same_quantizer(p.host_side.saved_quantizer(), p.kept.saved_quantizer());
    check_equal(p.host_side.search(query, 10, p.options(3)), p.kept.search(query, 10, p.options(3)));
  }

  SUBCASE("compaction moves codes; clear() goes back to keeping floats") {
    for (std::size_t i = 0; i < kCount; i += 3) {
      p.host_side.erase(key_of(i));
      p.kept.erase(key_of(i));
      p.host.vectors.erase(key_of(i));
    }
    CHECK(p.host_side.deleted_memory_bytes() < p.kept.deleted_memory_bytes() / 3);
    p.host_side.compact();
    CHECK(p.host_side.deleted_memory_bytes() == 0);
    const auto all = p.host_side.search(query, 10, p.options(Sq8::kMaxRerank));
    vindex_test::check_same<M>(all, vindex_test::brute_force<M>(p.host.vectors, query, 10), p.host.vectors, query);
    p.host_side.clear();
    CHECK_FALSE(p.host_side.floats_released());
    CHECK(p.host_side.memory_bytes() == 0);
    p.host_side.upsert("a", vector_of(rng));
    CHECK(p.host_side.search(query, 1).size() == 1);  // floats again: no reader needed
  }
}

TEST_CASE("host re-ranking is for SQ8 indexes only; a float FLAT refuses it") {
  CHECK_THROWS_WITH_AS(
      (FlatIndex<float, metric::L2>(schema_of<metric::L2>(), FlatParams{.exact_vectors = ExactVectors::kHost})),
      doctest::Contains("only an SQ8 FlatIndex re-ranks from the host"), Error);
}

TEST_CASE("host re-ranking through KeyspaceIndex: vectors read from the KeyValueSource, under the mutation lock") {
  using M = metric::Cosine;
  std::mt19937 rng(14);
  MemorySource source;
  Model model;
  fill(source, model, rng, true);
  const auto keyspace = backfilled<M>(IndexDefinition{{"doc:"}, "vec", {{"n", AttributeType::kNumeric}}}, source);
  auto& ks = *keyspace;
  REQUIRE(ks.index().floats_released());
  const auto query = vector_of(rng);
  const std::size_t reads = source.read_calls();
  const auto got = ks.search(query, 10, "*", {.rerank = Sq8::kMaxRerank});
  CHECK(source.read_calls() - reads == kCount);  // every entry re-ranked: one point read each
  vindex_test::check_same<M>(got, vindex_test::brute_force<M>(model, query, 10), model, query);
  const auto low = ks.search(query, 10, "@n:[0 4]", {.rerank = Sq8::kMaxRerank});
  vindex_test::check_same<M>(
      low,
      vindex_test::brute_force<M>(model, query, 10,
                                  [&](const std::string& k) { return std::stoul(k.substr(4)) % 10 <= 4; }),
      model, query);

  // The host changes a vector without telling the index yet (a deferred write): the search measures
  // what the host holds now. A key whose vector field is gone is left out.
  const std::string first = got[0].key;
  source.hdel(first, "vec");
  for (const SearchResult& r : ks.search(query, 10, "*", {.rerank = 8})) CHECK(r.key != first);
  ks.on_write(first);
  CHECK_FALSE(ks.index().contains(first));

  // Retraining from the source: one read for the sample's vectors and one per entry.
  const std::size_t before = source.read_calls();
  ks.retrain_quantizer_from_source();
  CHECK(source.read_calls() - before == Sq8::kTrainAt + ks.size());
  // A source that fails mid-search fails the search with kSourceFailure.
  source.throw_on_read(1);
  try {
    ks.search(query, 5, "*");
    FAIL("expected a source failure");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSourceFailure);
  }
  source.clear_faults();
  CHECK(ks.search(query, 5, "*").size() == 5);
}

TEST_CASE("host re-ranking snapshots: the mode and the codes come back; a float reader refuses the file") {
  using M = metric::L2;
  std::mt19937 rng(15);
  Pair<M> p;
  for (std::size_t i = 0; i < Sq8::kTrainAt / 2; ++i) p.put(key_of(i), vector_of(rng));
  {  // Not yet trained: the floats are saved and come back exact, in the same mode.
    const auto bytes = vindex_test::snapshot_bytes(p.host_side);
    MemoryDeserializer in(bytes);
    const auto loaded = load_flat<M, float, Sq8>(in);
    CHECK(loaded->reranks_from_host());
    CHECK_FALSE(loaded->floats_released());
    CHECK(loaded->get_vector(key_of(3)) == p.host_side.get_vector(key_of(3)));
  }
  for (std::size_t i = Sq8::kTrainAt / 2; i < kCount; ++i) p.put(key_of(i), vector_of(rng));
  p.host_side.erase(key_of(8));
  p.host.vectors.erase(key_of(8));
  REQUIRE(p.host_side.floats_released());
  const auto bytes = vindex_test::snapshot_bytes(p.host_side);
  CHECK(bytes.size() == vindex_test::snapshot_bytes(p.host_side).size());
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<M, float, Sq8>(in);
  CHECK(loaded->size() == p.host_side.size());
  CHECK(loaded->reranks_from_host());
  CHECK(loaded->floats_released());
  vindex_test::check_same_quantizer(p.host_side.saved_quantizer(), loaded->saved_quantizer());
  std::vector<float> queries;
  for (int q = 0; q < 4; ++q) {
    const auto v = vector_of(rng);
    queries.insert(queries.end(), v.begin(), v.end());
  }
  SearchOptions one = p.options(1);  // the candidates, so the codes, decide the answer
  vindex_test::check_same_answers(p.host_side, *loaded, queries, kDim, one);
  for (std::size_t i = 0; i < kCount; i += 97)
    if (i != 8) CHECK(loaded->get_vector(key_of(i)) == p.host_side.get_vector(key_of(i)));
  // A float FLAT must not take codes for vectors.
  MemoryDeserializer as_float(bytes);
  CHECK_THROWS_WITH_AS(load_flat<M>(as_float), doctest::Contains("re-ranking from the host"), Error);
}

TEST_CASE("host re-ranking: a keyspace snapshot loads, reconciles against the source and answers as before") {
  using M = metric::L2;
  using Index = FlatIndex<float, M, Sq8>;
  std::mt19937 rng(16);
  MemorySource source;
  Model model;
  fill(source, model, rng, false);
  const auto ks = backfilled<M>(IndexDefinition{{"doc:"}, "vec", {}}, source);
  MemorySerializer out;
  save(*ks, out);
  const auto bytes = out.take();
  // While the index was saved away, the host changed one entry and dropped another.
  model[key_of(1)] = vector_of(rng);
  source.set(key_of(1), {{"vec", vindex_test::blob_of(model[key_of(1)])}});
  source.del(key_of(2));
  model.erase(key_of(2));
  MemoryDeserializer in(bytes);
  const auto loaded = load_keyspace<Index>(in, source);
  CHECK(loaded->index().floats_released());
  loaded->start_reconcile();
  while (loaded->step(500) == BackfillState::kBackfilling) {
  }
  CHECK(loaded->size() == kCount - 1);
  for (int q = 0; q < 3; ++q) {
    const auto query = vector_of(rng);
    vindex_test::check_same<M>(loaded->search(query, 10, "*", {.rerank = Sq8::kMaxRerank}),
                               vindex_test::brute_force<M>(model, query, 10), model, query);
  }
}

TEST_CASE("host re-ranking snapshots under COSINE: decoded codes are not unit length, and load all the same") {
  // Clamped elements shorten a vector's decoding, so a released COSINE index's ENTR vectors are
  // near unit length only; the loader takes them (EXACT_VECTORS) and encodes them back.
  using M = metric::Cosine;
  std::mt19937 rng(16);
  Pair<M> p;
  for (std::size_t i = 0; i < kCount; ++i) p.put(key_of(i), vector_of(rng));
  REQUIRE(p.host_side.floats_released());
  const auto bytes = vindex_test::snapshot_bytes(p.host_side);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<M, float, Sq8>(in);
  CHECK(loaded->floats_released());
  for (int q = 0; q < 4; ++q) {
    const auto query = vector_of(rng);
    check_equal(loaded->search(query, 10, p.options()), p.host_side.search(query, 10, p.options()));
  }
}
