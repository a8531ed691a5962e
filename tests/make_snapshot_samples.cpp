// Regenerates the committed snapshot samples: the golden snapshot of format version 1
// (tests/data/flat_golden_v1.vdx) and the fuzzer's seed corpus (tests/fuzz/corpus/), FLAT and HNSW.
// Usage: make_snapshot_samples <golden-file> <corpus-dir>
// The golden file is committed once per format version and never regenerated afterwards: later
// versions must load the committed bytes.
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "support/snapshot_support.hpp"
#include "vindex/vindex.hpp"

using namespace vindex;
using namespace vindex_test;

namespace {

void write_file(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

template <class MetricT, class Compression = Uncompressed>
Bytes small_index(std::uint32_t dim, int n, std::uint32_t seed, std::size_t section_bytes,
                  ExactVectors exact = ExactVectors::kIndex) {
  FlatIndex<float, MetricT, Compression> index(VectorSchema{dim, ElementType::kFloat32, MetricT::kind},
                                               {.initial_cap = 4, .block_size = 4, .exact_vectors = exact});
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-8, 8);
  for (int i = 0; i < n; ++i) {
    std::vector<float> v(dim);
    for (float& x : v) x = static_cast<float>(value(rng));
    v[0] = 9;  // never the zero vector
    std::string key = "k";
    key += static_cast<char>(i);
    index.upsert(key, v);
  }
  for (int i = 0; i < n; i += 3) index.erase(std::string("k") + static_cast<char>(i));
  if constexpr (std::is_same_v<Compression, Sq8>) index.retrain_quantizer();  // too few to train by the rule
  return snapshot_bytes(index, {.section_bytes = section_bytes});
}

template <class MetricT, class Compression = Uncompressed>
Bytes small_hnsw(std::uint32_t dim, int n, std::uint32_t seed, std::size_t section_bytes,
                 ExactVectors exact = ExactVectors::kIndex) {
  HnswIndex<float, MetricT, Compression> index(VectorSchema{dim, ElementType::kFloat32, MetricT::kind},
                                  {.m = 2, .ef_construction = 8, .ef_runtime = 4, .initial_cap = 4, .block_size = 4,
                                   .seed = seed, .exact_vectors = exact});
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-8, 8);
  for (int i = 0; i < n; ++i) {
    std::vector<float> v(dim);
    for (float& x : v) x = static_cast<float>(value(rng));
    v[0] = 9;  // never the zero vector
    std::string key = "h";
    key += static_cast<char>(i);
    index.upsert(key, v);
  }
  for (int i = 0; i < n; i += 4) index.erase(std::string("h") + static_cast<char>(i));
  index.compact();  // an SQ8 index trains here, on whatever it holds (an SQ8Q section)
  return snapshot_bytes(index, {.section_bytes = section_bytes});
}

// `bytes` with its SQ8Q section claiming a training sample of 2^32 vectors: growth would never train
// it again, so a loaded index re-ranking from the host releases its floats and needs a host to search.
Bytes with_final_training(std::span<const std::byte> bytes) {
  auto sections = split_sections(bytes);
  for (RawSection& s : sections)
    if (s.tag == snapshot::tag::kQuantizer) {
      const std::uint64_t trained_on = std::uint64_t{1} << 32;
      for (int i = 0; i < 8; ++i) s.payload[4 + i] = static_cast<std::byte>(trained_on >> (8 * i));
    }
  return assemble(sections);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <golden-file> <corpus-dir>\n", argv[0]);
    return 2;
  }
  write_file(argv[1], snapshot_bytes(*GoldenContent::build()));

  const std::string dir = argv[2];
  write_file(dir + "/golden_cosine_dim8.vdx", snapshot_bytes(*GoldenContent::build()));
  write_file(dir + "/l2_dim3.vdx", small_index<metric::L2>(3, 12, 1, 64));
  write_file(dir + "/ip_dim2.vdx", small_index<metric::InnerProduct>(2, 6, 2, 1 << 20));
  write_file(dir + "/cosine_dim5_small_sections.vdx", small_index<metric::Cosine>(5, 9, 3, 16));
  write_file(dir + "/empty_l2.vdx", small_index<metric::L2>(1, 0, 4, 64));
  // A snapshot with an extra skippable section, as a newer writer would make it.
  auto sections = split_sections(small_index<metric::L2>(2, 4, 5, 64));
  sections.insert(sections.begin() + 2, RawSection{snapshot::fourcc("NEWX"), snapshot::section_flag::kSkippable,
                                                   Bytes(9, std::byte{0x33}), 0});
  write_file(dir + "/l2_with_skippable_section.vdx", assemble(sections));
  // Edge cases: the header alone, and a header with an END right after it.
  const Bytes l2 = small_index<metric::L2>(3, 12, 1, 64);
  write_file(dir + "/header_only.vdx", std::span<const std::byte>(l2).first(snapshot::kHeaderBytes));
  write_file(dir + "/header_and_end.vdx", assemble({}));
  // Narrow-element indexes, their entries stored as the TYPE (stored encoding 2).
  write_file(dir + "/hnsw_float16_cosine_dim12.vdx", snapshot_bytes(*NarrowGoldenContent::hnsw()));
  write_file(dir + "/flat_uint8_l2_dim12.vdx", snapshot_bytes(*NarrowGoldenContent::flat()));
  // HNSW graphs (M 2, so several layers even for a few nodes).
  write_file(dir + "/hnsw_l2_dim3.vdx", small_hnsw<metric::L2>(3, 14, 6, 64));
  write_file(dir + "/hnsw_cosine_dim4.vdx", small_hnsw<metric::Cosine>(4, 9, 7, 1 << 20));
  write_file(dir + "/hnsw_ip_dim2_empty.vdx", small_hnsw<metric::InnerProduct>(2, 0, 8, 64));
  // HNSW with SQ8 codes: the quantizer's ranges in a skippable SQ8Q section.
  write_file(dir + "/hnsw_sq8_l2_dim3.vdx", small_hnsw<metric::L2, Sq8>(3, 14, 9, 64));
  // FLAT with SQ8 codes: trained on what it holds (SQ8Q before the entries).
  write_file(dir + "/flat_sq8_l2_dim3.vdx", small_index<metric::L2, Sq8>(3, 12, 10, 64));
  // FLAT SQ8 re-ranking from the host: FPRM's third field, EXACT_VECTORS = 1.
  write_file(dir + "/flat_sq8_host_l2_dim3.vdx", small_index<metric::L2, Sq8>(3, 12, 11, 64, ExactVectors::kHost));
  // HNSW SQ8 re-ranking from the host: HPRM's field after the generator state, EXACT_VECTORS = 1.
  write_file(dir + "/hnsw_sq8_host_l2_dim3.vdx", small_hnsw<metric::L2, Sq8>(3, 14, 12, 64, ExactVectors::kHost));
  // The same two with their training final: loaded, they hold codes alone and search through a host.
  write_file(dir + "/flat_sq8_host_released_l2_dim3.vdx",
             with_final_training(small_index<metric::L2, Sq8>(3, 12, 11, 64, ExactVectors::kHost)));
  write_file(dir + "/hnsw_sq8_host_released_l2_dim3.vdx",
             with_final_training(small_hnsw<metric::L2, Sq8>(3, 14, 12, 64, ExactVectors::kHost)));
  return 0;
}
