// Specification of HnswIndex snapshots: a round trip keeps the graph (links per layer, entry point,
// level generator), the stored vectors bit for bit and therefore every search result; ids are
// renumbered densely; every truncation, byte flip and structural lie (with checksums recomputed so
// the graph validation is reached) is a vindex::Error, and a failed load touches nothing.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/graph_reachability.hpp"
#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

std::string key_of(std::size_t i) {
  std::string k("\0n", 2);
  k += static_cast<char>(0x80 + i % 64);
  return k + std::to_string(i);
}

// Clustered data: 8 centres, points around them.
std::vector<float> clustered(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  const std::size_t c = rng() % 8;
  for (std::size_t j = 0; j < dim; ++j) v[j] = static_cast<float>((c * 7 + j * 3) % 11) - 5.0f + 0.5f * g(rng);
  return v;
}

template <class MetricT>
std::unique_ptr<HnswIndex<float, MetricT>> sample_hnsw(std::uint32_t dim, std::size_t n, std::uint32_t seed,
                                                       bool with_erases = true) {
  auto index = std::make_unique<HnswIndex<float, MetricT>>(
      VectorSchema{dim, ElementType::kFloat32, MetricT::kind},
      HnswParams{.m = 6, .ef_construction = 40, .ef_runtime = 20, .initial_cap = 16, .block_size = 32, .seed = seed});
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < n; ++i) index->upsert(key_of(i), clustered(rng, dim));
  if (with_erases) {
    // Some erased early (swept: slots freed and reused), some just before the save (tombstones).
    for (std::size_t i = 0; i < n / 2; i += 3) index->erase(key_of(i));
    for (std::size_t i = n; i < n + n / 20; ++i) index->upsert(key_of(i), clustered(rng, dim));
    for (std::size_t i = n / 2 + 1; i < n; i += 11) index->erase(key_of(i));
  }
  return index;
}

// The graph as keys: key -> (stored vector, magnitude, neighbour keys per layer).
struct KeyedNode {
  std::vector<float> vector;
  float magnitude;
  std::vector<std::vector<Key>> links;
  bool operator==(const KeyedNode& o) const {
    return vector.size() == o.vector.size() &&
           std::memcmp(vector.data(), o.vector.data(), vector.size() * sizeof(float)) == 0 &&
           std::memcmp(&magnitude, &o.magnitude, sizeof(float)) == 0 && links == o.links;
  }
};

template <class Index>
std::pair<std::map<Key, KeyedNode>, Key> keyed_graph(const Index& index) {
  std::vector<HnswNodeData> nodes;
  const HnswGraphInfo info = index.export_graph([&](const HnswNodeData& n) { nodes.push_back(n); });
  std::map<Id, Key> key_of_id;
  for (const auto& n : nodes) key_of_id[n.id] = n.key;
  std::map<Key, KeyedNode> out;
  for (const auto& n : nodes) {
    KeyedNode k{n.vector, n.magnitude, {}};
    for (const auto& layer : n.links) {
      k.links.emplace_back();
      for (Id to : layer) k.links.back().push_back(key_of_id.at(to));
    }
    out[n.key] = std::move(k);
  }
  return {out, info.entry_point == kInvalidId ? Key("<none>") : key_of_id.at(info.entry_point)};
}

template <class MetricT>
std::unique_ptr<HnswIndex<float, MetricT>> load_bytes(std::span<const std::byte> bytes, const LoadOptions& o = {}) {
  MemoryDeserializer in(bytes);
  return load_hnsw<MetricT>(in, o);
}

// Erased entries still pending a sweep (tombstones) are not saved and links to them are left out,
// so an index is compared after compact() when it had erases; `pending` checks the other case.
template <class MetricT>
void round_trip(bool with_erases) {
  const auto original = sample_hnsw<MetricT>(16, 600, 7, with_erases);
  if (with_erases) original->compact();
  const Bytes bytes = snapshot_bytes(*original, {.section_bytes = 4096});
  const auto loaded = load_bytes<MetricT>(bytes);
  CHECK(loaded->size() == original->size());
  CHECK(loaded->schema() == original->schema());
  CHECK(loaded->params().m == original->params().m);
  CHECK(loaded->params().ef_construction == original->params().ef_construction);
  CHECK(loaded->params().ef_runtime == original->params().ef_runtime);
  CHECK(loaded->params().block_size == original->params().block_size);
  CHECK(loaded->params().seed == original->params().seed);
  CHECK(loaded->params().epsilon == original->params().epsilon);
  // The same graph, node by node, with bit-exact vectors and magnitudes and the same entry point.
  const auto a = keyed_graph(*original), b = keyed_graph(*loaded);
  CHECK(a.second == b.second);
  CHECK(a.first == b.first);
  // Identical search results (keys and distances), hence identical recall.
  Model model;
  original->for_each([&](KeyView k, Id, std::span<const float>) { model[Key(k)] = *original->get_vector(k); });
  std::mt19937 rng(99);
  std::size_t hits_a = 0, hits_b = 0, total = 0;
  for (int t = 0; t < 30; ++t) {
    const auto q = clustered(rng, 16);
    const auto ra = original->search(q, 10, {.ef = 30}), rb = loaded->search(q, 10, {.ef = 30});
    REQUIRE(ra.size() == rb.size());
    for (std::size_t i = 0; i < ra.size(); ++i) {
      CHECK(ra[i].key == rb[i].key);
      CHECK(ra[i].distance == rb[i].distance);
    }
    const auto want = brute_force<MetricT>(model, q, 10);
    std::set<std::string> truth;
    for (const auto& h : want) truth.insert(h.key);
    for (const auto& r : ra) hits_a += truth.count(r.key);
    for (const auto& r : rb) hits_b += truth.count(r.key);
    total += want.size();
  }
  CHECK(hits_a == hits_b);
  CHECK(static_cast<double>(hits_b) / static_cast<double>(total) > 0.8);
  // Saving is deterministic; a loaded index (already dense) saves to the same bytes.
  CHECK(snapshot_bytes(*original, {.section_bytes = 4096}) == bytes);
  CHECK(snapshot_bytes(*loaded, {.section_bytes = 4096}) == bytes);
  // Ids are dense 0..n-1 after a load.
  Id max_id = 0;
  loaded->for_each([&](KeyView, Id id, std::span<const float>) { max_id = std::max(max_id, id); });
  CHECK(max_id + 1 == loaded->size());
  // A loaded index is an ordinary index.
  const auto v = clustered(rng, 16);
  CHECK(loaded->upsert("new", v) == UpsertOutcome::kInserted);
  CHECK(loaded->erase(key_of(1)));
  CHECK(loaded->contains("new"));
  CHECK(!loaded->contains(key_of(1)));
  loaded->compact();
  CHECK(loaded->search(v, 1, {.ef = 50}).size() == 1);
}

// With tombstones pending at save time the loaded graph lacks them and has the lists that linked to
// them repaired (as maintenance would), so results may differ slightly: same keys, recall within
// 0.08 (IP, the least forgiving, moves most: 0.7625 -> 0.7575). Hosts call sweep_tombstones() or
// compact() before saving to get identical results.
template <class MetricT>
void round_trip_with_tombstones() {
  const auto original = sample_hnsw<MetricT>(16, 600, 8, true);
  const auto loaded = load_bytes<MetricT>(snapshot_bytes(*original));
  REQUIRE(loaded->size() == original->size());
  Model model;
  original->for_each([&](KeyView k, Id, std::span<const float>) {
    model[Key(k)] = *original->get_vector(k);
    CHECK(loaded->contains(k));
  });
  std::mt19937 rng(98);
  double hits_a = 0, hits_b = 0, total = 0;
  for (int t = 0; t < 40; ++t) {
    const auto q = clustered(rng, 16);
    std::set<std::string> truth;
    for (const auto& h : brute_force<MetricT>(model, q, 10)) truth.insert(h.key);
    for (const auto& r : original->search(q, 10, {.ef = 40})) hits_a += static_cast<double>(truth.count(r.key));
    for (const auto& r : loaded->search(q, 10, {.ef = 40})) hits_b += static_cast<double>(truth.count(r.key));
    total += static_cast<double>(truth.size());
  }
  MESSAGE(to_string(MetricT::kind) << " recall before/after: " << hits_a / total << " " << hits_b / total);
  CHECK(std::abs(hits_a - hits_b) / total <= 0.08);
}

// A small sample for the exhaustive damage tests.
Bytes small_sample(std::size_t section_bytes = 256) {
  return snapshot_bytes(*sample_hnsw<metric::L2>(4, 40, 3), {.section_bytes = section_bytes});
}

ErrorCode load_error(std::span<const std::byte> bytes) {
  try {
    load_bytes<metric::L2>(bytes);
  } catch (const Error& e) {
    // The chunked path (size unknown) must fail too.
    std::size_t at = 0;
    ChunkedDeserializer chunked([&]() -> std::span<const std::byte> {
      const std::size_t n = std::min<std::size_t>(5, bytes.size() - at);
      auto chunk = bytes.subspan(at, n);
      at += n;
      return chunk;
    });
    CHECK_THROWS_AS(load_hnsw<metric::L2>(chunked), Error);
    return e.code();
  }
  FAIL("a damaged snapshot loaded");
  return ErrorCode::kCancelled;
}

// Loads or throws vindex::Error; anything else (a crash, another exception) fails the test.
bool loads_or_errors(std::span<const std::byte> bytes) {
  try {
    auto index = load_bytes<metric::L2>(bytes);
    std::vector<float> q(index->schema().dim, 0.5f);
    (void)index->search(q, 5);
    return true;
  } catch (const Error&) {
    return false;
  }
}

Bytes bytes_of(const PayloadWriter& p) { return Bytes(p.view().begin(), p.view().end()); }

// A one-HLNK snapshot of a tiny graph, with its HLNK payload rebuilt from explicit lists.
struct TinyGraph {
  std::vector<RawSection> sections;  // INDX, HPRM, ENTR, HLNK
  Bytes with_links(const std::vector<std::vector<std::vector<std::uint32_t>>>& nodes) const {
    PayloadWriter p;
    p.u32(static_cast<std::uint32_t>(nodes.size()));
    for (const auto& node : nodes) {
      p.u8(static_cast<std::uint8_t>(node.size() - 1));
      for (const auto& layer : node) {
        p.u32(static_cast<std::uint32_t>(layer.size()));
        for (auto id : layer) p.u32(id);
      }
    }
    auto s = sections;
    for (auto& sec : s)
      if (sec.tag == snapshot::tag::kHnswLinks) sec.payload = bytes_of(p);
    return assemble(s);
  }
  Bytes with_params(std::uint32_t entry, std::uint32_t max_level) const {
    auto s = sections;
    for (auto& sec : s)
      if (sec.tag == snapshot::tag::kHnswParams) {
        le::store(sec.payload.data() + 56, entry);
        le::store(sec.payload.data() + 60, max_level);
      }
    return assemble(s);
  }
};

TinyGraph tiny_graph() {
  HnswIndex<float, metric::L2> index(VectorSchema{2, ElementType::kFloat32, Metric::kL2},
                                     {.m = 2, .ef_construction = 8, .initial_cap = 4, .block_size = 4});
  for (int i = 0; i < 4; ++i) index.upsert("k" + std::to_string(i), std::vector<float>{float(i), 1.0f});
  TinyGraph g{split_sections(snapshot_bytes(index))};
  REQUIRE(g.sections.size() == 4);
  return g;
}

}  // namespace

TEST_CASE("an HNSW L2 index round-trips: same graph, bit-exact vectors, identical results") {
  round_trip<metric::L2>(false);
  round_trip<metric::L2>(true);
}
TEST_CASE("an HNSW IP index round-trips after erases") { round_trip<metric::InnerProduct>(true); }
TEST_CASE("an HNSW COSINE index round-trips after erases, magnitudes included") { round_trip<metric::Cosine>(true); }
TEST_CASE("an HNSW index saved with tombstones pending loads without them, recall nearly unchanged") {
  round_trip_with_tombstones<metric::L2>();
  round_trip_with_tombstones<metric::InnerProduct>();
  round_trip_with_tombstones<metric::Cosine>();
}

TEST_CASE("a snapshot numbers the nodes in graph order: breadth first on layer 0 from the entry point") {
  for (const bool pending : {false, true}) {
    CAPTURE(pending);
    auto original = sample_hnsw<metric::L2>(8, 500, 3, true);  // erases: holes, or tombstones pending
    if (!pending) original->sweep_tombstones();
    // The walk, done here on the graph as saved (keys, lists in their order).
    const auto [graph, entry] = keyed_graph(*original);
    std::map<Key, Id> expected;
    std::vector<Key> queue{entry};
    expected[entry] = 0;
    for (std::size_t head = 0; head < queue.size(); ++head)
      for (const Key& to : graph.at(queue[head]).links[0])
        if (expected.emplace(to, static_cast<Id>(expected.size())).second) queue.push_back(to);
    REQUIRE(expected.size() == original->size());  // every node reached: no restart to model
    const Bytes bytes = snapshot_bytes(*original);
    const auto loaded = load_bytes<metric::L2>(bytes);
    std::size_t checked = 0;
    loaded->for_each([&](KeyView key, Id id, std::span<const float>) {
      CHECK(expected.at(Key(key)) == id);
      ++checked;
    });
    CHECK(checked == expected.size());
    // Saved again, the loaded index keeps its order (and its bytes).
    CHECK(snapshot_bytes(*loaded) == bytes);
  }
}

TEST_CASE("an empty HNSW index round-trips, and a fully erased one loads empty") {
  HnswIndex<float, metric::L2> empty(VectorSchema{3, ElementType::kFloat32, Metric::kL2});
  const auto loaded = load_bytes<metric::L2>(snapshot_bytes(empty));
  CHECK(loaded->size() == 0);
  CHECK(loaded->search(std::vector<float>{1, 2, 3}, 3).empty());
  auto erased = sample_hnsw<metric::L2>(3, 20, 1, false);
  for (std::size_t i = 0; i < 20; ++i) erased->erase(key_of(i));
  const auto again = load_bytes<metric::L2>(snapshot_bytes(*erased));
  CHECK(again->size() == 0);
  CHECK(again->upsert("x", std::vector<float>{1, 2, 3}) == UpsertOutcome::kInserted);
}

TEST_CASE("the level generator continues where it was: the same inserts after a load give the same graph") {
  // The loaded index numbers its nodes in graph order, the original in insertion order; ids only
  // break exact ties of distance, which this data has none of, so both take the same inserts alike.
  auto original = sample_hnsw<metric::L2>(8, 300, 5, false);
  auto loaded = load_bytes<metric::L2>(snapshot_bytes(*original));
  std::mt19937 rng(4);
  for (int i = 0; i < 100; ++i) {
    const auto v = clustered(rng, 8);
    original->upsert("more" + std::to_string(i), v);
    loaded->upsert("more" + std::to_string(i), v);
  }
  CHECK(keyed_graph(*original) == keyed_graph(*loaded));
}

TEST_CASE("load_any_hnsw takes the metric from the snapshot; FLAT and HNSW loaders refuse each other") {
  const Bytes hnsw = snapshot_bytes(*sample_hnsw<metric::Cosine>(5, 50, 2));
  MemoryDeserializer in(hnsw);
  AnyHnswIndex any = load_any_hnsw(in);
  CHECK(std::holds_alternative<std::unique_ptr<HnswIndex<float, metric::Cosine>>>(any));
  try {
    load_bytes<metric::L2>(hnsw);
    FAIL("wrong metric loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
  MemoryDeserializer as_flat(hnsw);
  try {
    load_any_flat(as_flat);
    FAIL("an HNSW snapshot loaded as FLAT");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
  FlatIndex<float, metric::L2> flat(VectorSchema{2, ElementType::kFloat32, Metric::kL2});
  flat.upsert("a", std::vector<float>{1, 2});
  try {
    load_bytes<metric::L2>(snapshot_bytes(flat));
    FAIL("a FLAT snapshot loaded as HNSW");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
  }
  LoadOptions expect;
  expect.expect_schema = VectorSchema{6, ElementType::kFloat32, Metric::kCosine};
  MemoryDeserializer in2(hnsw);
  CHECK_THROWS_AS(load_hnsw<metric::Cosine>(in2, expect), Error);
}

TEST_CASE("truncation at every byte of the first KiB and at every section boundary is an error") {
  const Bytes bytes = snapshot_bytes(*sample_hnsw<metric::Cosine>(6, 120, 1), {.section_bytes = 300});
  REQUIRE(bytes.size() > 1024);
  for (std::size_t n = 0; n < 1024; ++n) {
    MemoryDeserializer in(std::span<const std::byte>(bytes).first(n));
    CHECK_THROWS_AS(load_hnsw<metric::Cosine>(in), Error);
  }
  const auto boundaries = section_boundaries(bytes);
  CHECK(boundaries.size() > 8);
  for (std::size_t b : boundaries) {
    if (b == bytes.size()) continue;
    for (std::size_t n : {b - 1, b, b + 1}) {
      MemoryDeserializer in(std::span<const std::byte>(bytes).first(n));
      try {
        load_hnsw<metric::Cosine>(in);
        FAIL("truncated snapshot loaded");
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kCorruptData);
      }
    }
  }
}

TEST_CASE("flipping any byte of an HNSW snapshot is detected by the checksums") {
  const Bytes bytes = small_sample();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    Bytes damaged = bytes;
    damaged[i] ^= std::byte{0x41};
    CHECK_MESSAGE(load_error(damaged) == ErrorCode::kCorruptData, "byte " << i);
  }
}

TEST_CASE("byte flips with recomputed checksums reach the graph validation and never crash") {
  const Bytes bytes = small_sample();
  std::size_t loaded = 0, refused = 0;
  for (std::size_t i = snapshot::kHeaderBytes; i < bytes.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0xff}) {
      Bytes damaged = bytes;
      damaged[i] ^= std::byte{mask};
      (loads_or_errors(with_repaired_checksums(damaged)) ? loaded : refused)++;
    }
  }
  // Flips in vector values or key bytes may still give a valid index; most structure flips may not.
  CHECK(refused > 0);
  CHECK(loaded > 0);
  MESSAGE("repaired flips: " << loaded << " loaded, " << refused << " refused");
  std::mt19937 rng(11);
  const Bytes bigger = snapshot_bytes(*sample_hnsw<metric::InnerProduct>(8, 300, 2), {.section_bytes = 2048});
  for (int t = 0; t < 400; ++t) {
    Bytes damaged = bigger;
    for (int k = 0; k < 1 + t % 3; ++k) damaged[rng() % damaged.size()] ^= static_cast<std::byte>(1 + rng() % 255);
    try {
      const Bytes repaired = with_repaired_checksums(damaged);
      MemoryDeserializer in(repaired);
      load_hnsw<metric::InnerProduct>(in);
    } catch (const Error&) {
    }
  }
}

TEST_CASE("a graph the restoring constructor refuses is kCorruptData, with valid checksums") {
  const TinyGraph g = tiny_graph();
  const auto code = [](const Bytes& b) {
    try {
      load_bytes<metric::L2>(b);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kCancelled;  // loaded
  };
  // Sanity: a valid hand-made graph loads (node 0 on level 1 is the entry point).
  const std::vector<std::vector<std::vector<std::uint32_t>>> valid = {{{1, 2}, {}}, {{0, 3}}, {{0}}, {{1}}};
  {
    auto s = g.sections;
    Bytes b = TinyGraph{s}.with_links(valid);
    auto secs = split_sections(b);
    for (auto& sec : secs)
      if (sec.tag == snapshot::tag::kHnswParams) {
        le::store(sec.payload.data() + 56, std::uint32_t{0});
        le::store(sec.payload.data() + 60, std::uint32_t{1});
      }
    CHECK(code(assemble(secs)) == ErrorCode::kCancelled);
  }
  // Neighbour id out of range, a self link, a link to a node below the layer.
  CHECK(code(g.with_links({{{1, 9}}, {{0}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  CHECK(code(g.with_links({{{0}}, {{0}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  CHECK(code(g.with_links({{{1}, {2}}, {{0}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  // Too many links on a layer (M = 2: at most 4 on layer 0, 2 above).
  CHECK(code(g.with_links({{{1, 2, 3, 1, 2}}, {{0}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  // A level above the limit.
  {
    std::vector<std::vector<std::vector<std::uint32_t>>> deep = {std::vector<std::vector<std::uint32_t>>(65), {{0}}, {{0}}, {{0}}};
    CHECK(code(g.with_links(deep)) == ErrorCode::kCorruptData);
  }
  // Fewer or more link records than entries.
  CHECK(code(g.with_links({{{1}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  CHECK(code(g.with_links({{{1}}, {{0}}, {{0}}, {{0}}, {{0}}})) == ErrorCode::kCorruptData);
  // Entry point not a node, not on the top level, absent while nodes exist, half set.
  CHECK(code(g.with_params(7, 0)) == ErrorCode::kCorruptData);
  CHECK(code(g.with_params(0, 5)) == ErrorCode::kCorruptData);
  CHECK(code(g.with_params(snapshot::kNoneU32, snapshot::kNoneU32)) == ErrorCode::kCorruptData);
  CHECK(code(g.with_params(0, snapshot::kNoneU32)) == ErrorCode::kCorruptData);
  // Duplicate keys.
  {
    auto secs = g.sections;
    auto& entr = secs[2].payload;
    // Entries are: u32 count, then {u32 len, "kN", 2 floats}: make key 1 equal key 0.
    const std::size_t second_key = 4 + (4 + 2 + 8) + 4;
    entr[second_key + 1] = std::byte{'0'};
    CHECK(code(assemble(secs)) == ErrorCode::kCorruptData);
  }
  // A generator state that does not parse.
  {
    auto secs = g.sections;
    auto& prm = secs[1].payload;
    prm[68] = std::byte{'x'};
    CHECK(code(assemble(secs)) == ErrorCode::kCorruptData);
  }
}

TEST_CASE("hostile counts, lengths and parameters fail fast with the field named") {
  const TinyGraph g = tiny_graph();
  const auto message = [](const Bytes& b) -> std::string {
    try {
      load_bytes<metric::L2>(b);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kCorruptData);
      return e.what();
    }
    FAIL("hostile snapshot loaded");
    return {};
  };
  const Bytes base = assemble(g.sections);
  auto patched = [&](std::size_t section, std::size_t at, auto value) {
    auto secs = g.sections;
    le::store(secs[section].payload.data() + at, value);
    return assemble(secs);
  };
  CHECK(message(patched(2, 0, std::uint32_t{0xffffffff})).find("entry count") != std::string::npos);
  CHECK(message(patched(3, 0, std::uint32_t{0x7fffffff})).find("node count") != std::string::npos);
  CHECK(message(patched(3, 5, std::uint32_t{0xffffffff})).find("links on layer") != std::string::npos);
  CHECK(message(patched(1, 64, std::uint32_t{0xffffffff})).find("generator state length") != std::string::npos);
  CHECK(message(patched(1, 64, std::uint32_t{9000})).find("generator state") != std::string::npos);
  CHECK(message(patched(1, 0, std::uint64_t{1} << 40)).find("M ") != std::string::npos);
  CHECK(message(patched(1, 8, std::uint64_t{0})).find("EF_CONSTRUCTION") != std::string::npos);
  CHECK(message(patched(1, 32, std::uint64_t{1} << 40)).find("BLOCK_SIZE") != std::string::npos);
  CHECK(message(patched(1, 48, std::uint64_t{0x7ff8000000000000})).find("EPSILON") != std::string::npos);
  // A huge INITIAL_CAP is accepted but not honoured beyond what the snapshot holds.
  const auto loaded = load_bytes<metric::L2>(patched(1, 24, std::uint64_t{1} << 32));
  CHECK(loaded->params().initial_cap == 4);
  CHECK(loaded->memory_bytes() < (std::size_t{1} << 20));
  // A lying INDX entry count.
  {
    auto secs = g.sections;
    le::store(secs[0].payload.data() + 8, std::uint64_t{5});
    CHECK(message(assemble(secs)).find("INDX announced") != std::string::npos);
  }
  (void)base;
}

TEST_CASE("a failed HNSW load leaves the index that was there before untouched") {
  auto current = sample_hnsw<metric::L2>(4, 40, 3);
  const Bytes before = snapshot_bytes(*current);
  Bytes damaged = small_sample();
  damaged[damaged.size() / 2] ^= std::byte{1};
  CHECK_THROWS_AS(current = load_bytes<metric::L2>(damaged), Error);
  const TinyGraph g = tiny_graph();
  CHECK_THROWS_AS(current = load_bytes<metric::L2>(g.with_params(7, 0)), Error);
  Bytes truncated = before;
  truncated.resize(truncated.size() - 30);
  CHECK_THROWS_AS(current = load_bytes<metric::L2>(truncated), Error);
  REQUIRE(current);
  CHECK(snapshot_bytes(*current) == before);
}

TEST_CASE("HNSW snapshots go through the chunked adapter unchanged") {
  const auto index = sample_hnsw<metric::L2>(8, 200, 9);
  const Bytes bytes = snapshot_bytes(*index, {.section_bytes = 1000});
  std::vector<Bytes> chunks;
  ChunkedSerializer out(100, [&](std::span<const std::byte> c) { chunks.emplace_back(c.begin(), c.end()); });
  save(*index, out);
  out.finish();
  std::size_t next = 0;
  ChunkedDeserializer in([&]() -> std::span<const std::byte> {
    return next < chunks.size() ? std::span<const std::byte>(chunks[next++]) : std::span<const std::byte>();
  });
  const auto loaded = load_hnsw<metric::L2>(in);
  CHECK(snapshot_bytes(*loaded, {.section_bytes = 1000}) == bytes);
}

TEST_CASE("a graph saved with tombstones pending loses no key: each one found by its own vector before is after") {
  // Issue 15: export_graph dropped links to tombstones and re-linked nothing, so a live node whose
  // in-links all came from tombstones had none after the load (on main, 1 of the 38,260 keys of
  // these seeds: seed 6). Saved on purpose with tombstones pending: 174 of 4,000 erased, below
  // the 1/16 at which writes start maintenance, and no maintain() call.
  constexpr std::uint32_t kDim = 24;
  std::size_t before_found = 0, after_found = 0, sample_total = 0, lost = 0, live_total = 0;
  std::vector<std::string> examples;
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    HnswIndex<float, metric::L2> index(VectorSchema{kDim, ElementType::kFloat32, Metric::kL2},
                                       HnswParams{.m = 12, .seed = seed});
    Model model;
    std::mt19937 rng(seed);
    for (std::size_t i = 0; i < 4000; ++i) {
      model[key_of(i)] = clustered(rng, kDim);
      index.upsert(key_of(i), model[key_of(i)]);
    }
    for (std::size_t i = 0; i < 4000; i += 23) {
      REQUIRE(index.erase(key_of(i)));
      model.erase(key_of(i));
    }
    REQUIRE(index.size() == 3826);
    REQUIRE(index.deleted_memory_bytes() > 0);  // tombstones are pending: no sweep ran
    const auto loaded = load_bytes<metric::L2>(snapshot_bytes(index));
    REQUIRE(loaded->size() == index.size());
    // Every live node of the loaded graph is reachable on layer 0 (what an exhaustive search needs);
    // and, for a sample, an exhaustive search for its own vector finds it before and after.
    const auto unreached = unreachable_on_layer0(*loaded);
    lost += unreached.size();
    for (std::size_t i = 0; i < unreached.size() && examples.size() < 3; ++i)
      examples.push_back("seed " + std::to_string(seed) + " key " + printable_key(unreached[i]));
    const SearchOptions exhaustive{.ef = index.size() + 1};
    std::size_t sampled = 0;
    for (const auto& [key, v] : model) {
      if (sampled++ % 40 != 0) continue;
      const auto a = index.search(v, 1, exhaustive);
      before_found += !a.empty() && a[0].key == key;
      const auto b = loaded->search(v, 1, exhaustive);
      after_found += !b.empty() && b[0].key == key;
      ++sample_total;
    }
    live_total += model.size();
  }
  MESSAGE(lost << " of " << live_total << " live keys unreachable after the load; sampled exhaustive searches: "
              << before_found << " / " << after_found << " of " << sample_total << " found before / after");
  CHECK(before_found == sample_total);
  CHECK(after_found == sample_total);
  CHECK_MESSAGE(lost == 0, lost << " keys lost by the save, e.g. " << (examples.empty() ? "" : examples.front()));
}
