// Specification of FlatIndex snapshots: what a round trip keeps, determinism, the adapters end to
// end, schema checks, compatibility with newer writers, and the committed golden snapshot.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/reference.hpp"
#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

// A binary-safe key: NULs, high bytes, and a varying length.
std::string binary_key(std::size_t i) {
  std::string k("\0key", 4);
  k += static_cast<char>(0xf0 + i % 16);
  k += std::to_string(i);
  k.append(i % 7, '\xff');
  return k;
}

template <class MetricT>
std::unique_ptr<FlatIndex<float, MetricT>> sample_index(std::uint32_t dim, std::size_t n, std::uint32_t seed,
                                                        FlatParams params = {.initial_cap = 8, .block_size = 16}) {
  auto index = std::make_unique<FlatIndex<float, MetricT>>(VectorSchema{dim, ElementType::kFloat32, MetricT::kind}, params);
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < n; ++i) index->upsert(binary_key(i), random_vector(rng, dim));
  for (std::size_t i = 0; i < n; i += 3) index->erase(binary_key(i));  // leave erased slots
  for (std::size_t i = n; i < n + n / 10; ++i) index->upsert(binary_key(i), random_vector(rng, dim));
  return index;
}

// Everything a round trip must keep: keys, stored vectors and magnitudes bit for bit, parameters,
// schema, and search results (keys and distances).
template <class MetricT>
void check_same_content(const FlatIndex<float, MetricT>& a, const FlatIndex<float, MetricT>& b, std::uint32_t seed) {
  CHECK(a.schema() == b.schema());
  CHECK(a.params().initial_cap == b.params().initial_cap);
  CHECK(a.params().block_size == b.params().block_size);
  REQUIRE(a.size() == b.size());
  std::vector<Key> keys;
  a.for_each([&](KeyView key, Id, std::span<const float>) { keys.emplace_back(key); });
  for (const Key& key : keys) {
    REQUIRE(b.contains(key));
    const auto va = a.get_vector(key), vb = b.get_vector(key);
    REQUIRE(va);
    REQUIRE(vb);
    CHECK(std::memcmp(va->data(), vb->data(), va->size() * sizeof(float)) == 0);
  }
  // Stored (normalised) vectors and magnitudes, bit for bit.
  auto stored_of = [](const auto& index) {
    std::map<Key, std::pair<std::vector<float>, float>> out;
    index.read_stored([&](const auto& v) {
      std::vector<float> vector(index.schema().dim);
      for (std::size_t i = 0; i < v.id_bound(); ++i) {
        const auto id = static_cast<Id>(i);
        if (!v.is_live(id)) continue;
        v.vector(id, vector.data());
        out[Key(v.key(id))] = {vector, v.magnitude(id)};
      }
    });
    return out;
  };
  CHECK(stored_of(a) == stored_of(b));
  std::mt19937 rng(seed);
  for (int t = 0; t < 10; ++t) {
    const auto q = random_vector(rng, a.schema().dim);
    const auto ra = a.search(q, 10), rb = b.search(q, 10);
    REQUIRE(ra.size() == rb.size());
    for (std::size_t i = 0; i < ra.size(); ++i) {
      CHECK(ra[i].key == rb[i].key);
      CHECK(ra[i].distance == rb[i].distance);
    }
  }
}

template <class MetricT>
void round_trip() {
  const auto index_ptr = sample_index<MetricT>(19, 200, 11);
  const auto& index = *index_ptr;
  const Bytes bytes = snapshot_bytes(index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<MetricT>(in);
  CHECK(*in.remaining() == 0);
  check_same_content(index, *loaded, 5);
  // Saving is deterministic, and a loaded index saves to the same bytes (ids are dense either way).
  CHECK(snapshot_bytes(index) == bytes);
  CHECK(snapshot_bytes(*loaded) == bytes);
  // A loaded index is an ordinary index: it takes upserts, erases and searches.
  std::mt19937 rng(3);
  const auto v = random_vector(rng, 19);
  CHECK(loaded->upsert("new", v) == UpsertOutcome::kInserted);
  CHECK(loaded->erase(binary_key(1)));
  CHECK(loaded->search(v, 1).front().key == "new");
}

std::string golden_path() { return std::string(VINDEX_TEST_DATA_DIR) + "/flat_golden_v1.vdx"; }

Bytes read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return Bytes(p, p + s.size());
}

}  // namespace

TEST_CASE("a FLAT L2 index round-trips bit for bit") { round_trip<metric::L2>(); }
TEST_CASE("a FLAT IP index round-trips bit for bit") { round_trip<metric::InnerProduct>(); }
TEST_CASE("a FLAT COSINE index round-trips bit for bit, magnitudes included") { round_trip<metric::Cosine>(); }

TEST_CASE("an empty index round-trips") {
  FlatIndex<float, metric::L2> index(VectorSchema{4, ElementType::kFloat16, Metric::kL2}, {.initial_cap = 3, .block_size = 5});
  const Bytes bytes = snapshot_bytes(index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<metric::L2>(in);
  CHECK(loaded->size() == 0);
  CHECK(loaded->schema() == index.schema());
  CHECK(loaded->params().initial_cap == 3);
  CHECK(loaded->params().block_size == 5);
}

TEST_CASE("a huge INITIAL_CAP in a snapshot is not honoured beyond what the snapshot holds") {
  // A snapshot is untrusted input: an empty index saved with INITIAL_CAP 2^32 must not make the next
  // insert after loading reserve 2^32 vectors.
  FlatIndex<float, metric::L2> index(VectorSchema{64}, {.initial_cap = std::size_t{1} << 32, .block_size = 16});
  const Bytes bytes = snapshot_bytes(index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<metric::L2>(in);
  CHECK(loaded->params().initial_cap == 16);
  loaded->upsert("k", std::vector<float>(64, 1.0f));
  CHECK(loaded->memory_bytes() < (std::size_t{1} << 20));
}

TEST_CASE("a loaded index has dense ids in the saved order") {
  auto index_ptr = sample_index<metric::L2>(5, 30, 2);
  auto& index = *index_ptr;
  CHECK(index.deleted_memory_bytes() > 0);
  const Bytes bytes = snapshot_bytes(index);
  MemoryDeserializer in(bytes);
  const auto loaded = load_flat<metric::L2>(in);
  CHECK(loaded->deleted_memory_bytes() == 0);
  std::vector<Key> saved_order, loaded_order;
  index.for_each([&](KeyView k, Id, std::span<const float>) { saved_order.emplace_back(k); });
  Id expected = 0;
  loaded->for_each([&](KeyView k, Id id, std::span<const float>) {
    loaded_order.emplace_back(k);
    CHECK(id == expected++);
  });
  CHECK(saved_order == loaded_order);
}

TEST_CASE("many small sections load the same as one large one") {
  const auto index_ptr = sample_index<metric::Cosine>(8, 300, 4);
  const auto& index = *index_ptr;
  const Bytes small = snapshot_bytes(index, {.section_bytes = 100});
  const Bytes large = snapshot_bytes(index);
  CHECK(split_sections(small).size() > 10);
  MemoryDeserializer in(small);
  const auto loaded = load_flat<metric::Cosine>(in);
  check_same_content(index, *loaded, 9);
  CHECK(snapshot_bytes(*loaded) == large);
}

TEST_CASE("snapshots go through the file and chunked adapters unchanged") {
  const auto index_ptr = sample_index<metric::InnerProduct>(16, 500, 6);
  const auto& index = *index_ptr;
  const Bytes expected = snapshot_bytes(index);

  std::string dir = "/tmp/vindex-flat-XXXXXX";
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  const std::string path = dir + "/flat.vdx";
  {
    FileSerializer out(path);
    save(index, out);
    out.commit();
  }
  CHECK(read_file_bytes(path) == expected);
  {
    FileDeserializer in(path);
    check_same_content(index, *load_flat<metric::InnerProduct>(in), 1);
  }
  std::remove(path.c_str());
  ::rmdir(dir.c_str());

  for (std::size_t chunk_bytes : {1u, 13u, 4096u, 1u << 20}) {
    std::vector<Bytes> chunks;
    ChunkedSerializer out(chunk_bytes, [&](std::span<const std::byte> c) { chunks.emplace_back(c.begin(), c.end()); });
    save(index, out);
    out.finish();
    Bytes joined;
    for (const Bytes& c : chunks) joined.insert(joined.end(), c.begin(), c.end());
    CHECK(joined == expected);
    std::size_t next = 0;
    ChunkedDeserializer in([&]() -> std::span<const std::byte> { return next < chunks.size() ? std::span<const std::byte>(chunks[next++]) : std::span<const std::byte>(); });
    check_same_content(index, *load_flat<metric::InnerProduct>(in), 2);
    CHECK(next == chunks.size());
  }
}

TEST_CASE("loading stops at END, so a host may store more data after a snapshot") {
  const auto index_ptr = sample_index<metric::L2>(3, 10, 8);
  const auto& index = *index_ptr;
  Bytes bytes = snapshot_bytes(index);
  const std::size_t snapshot_size = bytes.size();
  bytes.push_back(std::byte{0x42});
  MemoryDeserializer in(bytes);
  load_flat<metric::L2>(in);
  CHECK(in.position() == snapshot_size);
}

TEST_CASE("load_any_flat takes the metric from the snapshot") {
  const Bytes bytes = snapshot_bytes(*sample_index<metric::Cosine>(4, 20, 1));
  auto any = load_any(bytes);
  REQUIRE(std::holds_alternative<std::unique_ptr<FlatIndex<float, metric::Cosine>>>(any));
  CHECK(std::get<2>(any)->size() > 0);
}

TEST_CASE("a snapshot of another metric, schema or limit is refused") {
  const auto index_ptr = sample_index<metric::Cosine>(8, 20, 3);
  const auto& index = *index_ptr;
  const Bytes bytes = snapshot_bytes(index);
  auto code_of = [](auto&& load) -> ErrorCode {
    try {
      load();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kCancelled;  // "no error"
  };
  CHECK(code_of([&] { MemoryDeserializer in(bytes); load_flat<metric::L2>(in); }) == ErrorCode::kSchemaMismatch);
  LoadOptions other_dim;
  other_dim.expect_schema = VectorSchema{9, ElementType::kFloat32, Metric::kCosine};
  CHECK(code_of([&] { load_any(bytes, other_dim); }) == ErrorCode::kSchemaMismatch);
  LoadOptions same;
  same.expect_schema = index.schema();
  CHECK(code_of([&] { load_any(bytes, same); }) == ErrorCode::kCancelled);
  LoadOptions small_dim;
  small_dim.limits.max_dim = 4;
  CHECK(code_of([&] { load_any(bytes, small_dim); }) == ErrorCode::kCorruptData);
  LoadOptions short_keys;
  short_keys.limits.max_key_bytes = 3;
  CHECK(code_of([&] { load_any(bytes, short_keys); }) == ErrorCode::kCorruptData);
  LoadOptions small_blocks;
  small_blocks.max_block_bytes = 64;
  CHECK(code_of([&] { load_any(bytes, small_blocks); }) == ErrorCode::kCorruptData);
}

TEST_CASE("a section added by a newer writer is skipped when marked skippable, refused otherwise") {
  const auto index_ptr = sample_index<metric::L2>(6, 40, 12);
  const auto& index = *index_ptr;
  const Bytes plain = snapshot_bytes(index);
  auto sections = split_sections(plain);
  const RawSection extra{snapshot::fourcc("NEWX"), snapshot::section_flag::kSkippable | 0x80000000u,
                         Bytes(123, std::byte{0x5a}), 0};
  for (std::size_t at : {std::size_t{0}, std::size_t{1}, std::size_t{2}, sections.size()}) {
    auto with_extra = sections;
    with_extra.insert(with_extra.begin() + static_cast<std::ptrdiff_t>(at), extra);
    const Bytes bytes = assemble(with_extra);
    MemoryDeserializer in(bytes);
    const auto loaded = load_flat<metric::L2>(in);
    check_same_content(index, *loaded, 4);
    CHECK(snapshot_bytes(*loaded) == plain);  // the unknown section is not kept

    with_extra[at].flags = 0;
    const Bytes required = assemble(with_extra);
    MemoryDeserializer in2(required);
    CHECK_THROWS_AS(load_flat<metric::L2>(in2), Error);
  }
}

TEST_CASE("the golden snapshot of format version 1 loads with its known content") {
  const Bytes golden = read_file_bytes(golden_path());
  REQUIRE_MESSAGE(!golden.empty(), "missing " << golden_path());
  MemoryDeserializer in(golden);
  const auto index = load_flat<metric::Cosine>(in);
  CHECK(index->schema() == GoldenContent::schema());
  CHECK(index->params().initial_cap == GoldenContent::params().initial_cap);
  CHECK(index->params().block_size == GoldenContent::params().block_size);
  Model model;
  for (int i = 0; i < 44; ++i) {
    const std::string key = GoldenContent::key(i);
    CHECK(index->contains(key) == !GoldenContent::erased(i));
    if (GoldenContent::erased(i)) continue;
    model[key] = GoldenContent::vector(i);
    const auto v = index->get_vector(key);
    REQUIRE(v);
    for (std::size_t j = 0; j < GoldenContent::kDim; ++j)
      CHECK((*v)[j] == doctest::Approx(model[key][j]).epsilon(1e-6));
  }
  CHECK(index->size() == model.size());
  std::mt19937 rng(77);
  for (int t = 0; t < 10; ++t) {
    const auto q = random_vector(rng, GoldenContent::kDim);
    check_same<metric::Cosine>(index->search(q, 5), brute_force<metric::Cosine>(model, q, 5), model, q);
  }
}

TEST_CASE("this version still writes the golden snapshot byte for byte") {
  // When the format version changes, add a new golden file; the old one must keep loading above.
  CHECK(snapshot_bytes(*GoldenContent::build()) == read_file_bytes(golden_path()));
}

TEST_CASE("save announces the exact snapshot size before writing") {
  struct Counting final : Serializer {
    std::uint64_t announced = 0, written = 0;
    int hints = 0;
    void write(std::span<const std::byte> b) override { written += b.size(); }
    void expect_bytes(std::uint64_t total) override {
      announced = total;
      ++hints;
    }
  };
  const auto index_ptr = sample_index<metric::Cosine>(7, 120, 13);
  for (std::size_t section_bytes : {1u, 50u, 333u, 1u << 20}) {
    Counting out;
    save(*index_ptr, out, {.section_bytes = section_bytes});
    CHECK(out.hints == 1);
    CHECK(out.announced == out.written);
  }
  FlatIndex<float, metric::L2> empty(VectorSchema{3, ElementType::kFloat32, Metric::kL2});
  Counting out;
  save(empty, out);
  CHECK(out.announced == out.written);
}
