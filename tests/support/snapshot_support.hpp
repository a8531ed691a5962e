// snapshot_support.hpp — helpers for the snapshot specifications: sample indexes, the golden
// snapshot's content, and taking snapshots apart and putting them back together.
#pragma once

#include <bit>
#include <limits>
#include <stdexcept>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

namespace vindex_test {

using Bytes = std::vector<std::byte>;

/// Snapshot of any index into memory.
template <class Index>
Bytes snapshot_bytes(const Index& index, const vindex::SaveOptions& options = {}) {
  vindex::MemorySerializer out;
  vindex::save(index, out, options);
  return out.take();
}

/// Loads `bytes` with the metric taken from the snapshot.
inline vindex::AnyFlatIndex load_any(std::span<const std::byte> bytes, const vindex::LoadOptions& options = {}) {
  vindex::MemoryDeserializer in(bytes);
  return vindex::load_any_flat(in, options);
}

/// The golden snapshot's content: DIM 8, COSINE, binary keys with NULs and high bytes, built by
/// inserting 44 keys and erasing 8 of them (so the saved ids had holes).
struct GoldenContent {
  static constexpr std::uint32_t kDim = 8;
  static vindex::VectorSchema schema() { return {kDim, vindex::ElementType::kFloat32, vindex::Metric::kCosine}; }
  static vindex::FlatParams params() { return {.initial_cap = 16, .block_size = 16}; }
  static std::string key(int i) {
    std::string k("g\0", 2);
    k += static_cast<char>(0x80 + i);
    return k + "k" + std::to_string(i);
  }
  // Exactly representable values; never the zero vector (the 0.25 * j term is never an integer).
  static std::vector<float> vector(int i) {
    std::vector<float> v(kDim);
    for (int j = 0; j < static_cast<int>(kDim); ++j)
      v[static_cast<std::size_t>(j)] = static_cast<float>((7 * i + 3 * j) % 11 - 5) + 0.25f * static_cast<float>(j);
    return v;
  }
  static bool erased(int i) { return i < 40 && i % 5 == 3; }
  /// Builds the index the golden snapshot was made from.
  static std::unique_ptr<vindex::FlatIndex<float, vindex::metric::Cosine>> build() {
    auto index = std::make_unique<vindex::FlatIndex<float, vindex::metric::Cosine>>(schema(), params());
    for (int i = 0; i < 40; ++i) index->upsert(key(i), vector(i));
    for (int i = 0; i < 40; ++i)
      if (erased(i)) index->erase(key(i));
    for (int i = 40; i < 44; ++i) index->upsert(key(i), vector(i));  // reuse erased slots
    return index;
  }
};

/// The content of the golden snapshots of narrow-element indexes written before ENTR could store
/// elements as their TYPE (stored encoding 1, floats): tests/data/hnsw_float16_cosine_enc1.vdx
/// (HnswIndex<Float16, Cosine>) and tests/data/flat_uint8_l2_enc1.vdx (FlatIndex<UInt8, L2>),
/// committed once and never regenerated.
struct NarrowGoldenContent {
  static constexpr std::uint32_t kDim = 12;
  static std::string key(int i) { return "n" + std::to_string(i); }
  // Values of both types (small integers and halves), never the zero vector.
  static std::vector<float> vector(int i, bool halves) {
    std::vector<float> v(kDim);
    for (int j = 0; j < static_cast<int>(kDim); ++j)
      v[static_cast<std::size_t>(j)] =
          static_cast<float>((5 * i + 7 * j) % 13) + (halves && j % 3 == 0 ? 0.5f : 0.0f) + (j == 0 ? 1.0f : 0.0f);
    return v;
  }
  static bool erased(int i) { return i % 7 == 2; }
  template <class Index>
  static void fill(Index& index, bool halves) {
    for (int i = 0; i < 60; ++i) index.upsert(key(i), vector(i, halves));
    for (int i = 0; i < 60; ++i)
      if (erased(i)) index.erase(key(i));
  }
  static std::unique_ptr<vindex::HnswIndex<vindex::Float16, vindex::metric::Cosine>> hnsw() {
    auto index = std::make_unique<vindex::HnswIndex<vindex::Float16, vindex::metric::Cosine>>(
        vindex::VectorSchema{kDim, vindex::ElementType::kFloat16, vindex::Metric::kCosine},
        vindex::HnswParams{.m = 4, .ef_construction = 20, .block_size = 16, .seed = 5});
    fill(*index, true);
    index->compact();
    return index;
  }
  static std::unique_ptr<vindex::FlatIndex<vindex::UInt8, vindex::metric::L2>> flat() {
    auto index = std::make_unique<vindex::FlatIndex<vindex::UInt8, vindex::metric::L2>>(
        vindex::VectorSchema{kDim, vindex::ElementType::kUint8, vindex::Metric::kL2},
        vindex::FlatParams{.initial_cap = 16, .block_size = 16});
    fill(*index, false);
    return index;
  }
};

/// One section of a snapshot, as framed on disk (END excluded).
struct RawSection {
  std::uint32_t tag = 0;
  std::uint32_t flags = 0;
  Bytes payload;
  std::size_t offset = 0;  ///< stream offset of the section header
};

/// Splits a valid snapshot into its sections (without END), trusting the framing.
inline std::vector<RawSection> split_sections(std::span<const std::byte> bytes) {
  std::vector<RawSection> out;
  std::size_t at = vindex::snapshot::kHeaderBytes;
  while (at < bytes.size()) {
    RawSection s;
    s.offset = at;
    s.tag = vindex::le::load<std::uint32_t>(bytes.data() + at);
    s.flags = vindex::le::load<std::uint32_t>(bytes.data() + at + 4);
    const auto length = static_cast<std::size_t>(vindex::le::load<std::uint64_t>(bytes.data() + at + 8));
    const std::byte* p = bytes.data() + at + 16;
    s.payload.assign(p, p + length);
    at += 16 + length + 4;
    if (s.tag == vindex::snapshot::tag::kEnd) break;
    out.push_back(std::move(s));
  }
  return out;
}

/// Frames sections into a snapshot (header, sections, END) as a writer of this version would.
inline Bytes assemble(const std::vector<RawSection>& sections) {
  vindex::MemorySerializer out;
  vindex::snapshot::SnapshotWriter writer(out);
  for (const RawSection& s : sections) writer.section(s.tag, s.payload, s.flags);
  writer.finish();
  return out.take();
}

/// Stream offsets where a section (or END) starts, plus the end of the stream.
inline std::vector<std::size_t> section_boundaries(std::span<const std::byte> bytes) {
  std::vector<std::size_t> at;
  for (const RawSection& s : split_sections(bytes)) at.push_back(s.offset);
  const std::size_t end_offset = bytes.size() - (16 + 8 + 4);
  at.push_back(end_offset);
  at.push_back(bytes.size());
  return at;
}

/// A copy of `in` whose header and section checksums are recomputed wherever the framing fits, so
/// that damage reaches the payload parsers and the structural checks instead of the first CRC.
inline Bytes with_repaired_checksums(std::span<const std::byte> in) {
  namespace s = vindex::snapshot;
  Bytes out(in.begin(), in.end());
  if (out.size() < s::kHeaderBytes) return out;
  vindex::le::store(out.data() + 16, vindex::crc32c(0, std::span<const std::byte>(out.data(), 16)));
  std::size_t at = s::kHeaderBytes;
  while (out.size() - at >= s::kSectionHeaderBytes + s::kSectionTrailerBytes) {
    const std::uint64_t length = vindex::le::load<std::uint64_t>(out.data() + at + 8);
    if (length > out.size() - at - s::kSectionHeaderBytes - s::kSectionTrailerBytes) break;
    const std::span<const std::byte> framed(out.data() + at, s::kSectionHeaderBytes + length);
    vindex::le::store(out.data() + at + framed.size(), vindex::crc32c(0, framed));
    at += framed.size() + s::kSectionTrailerBytes;
  }
  return out;
}

/// Copies of `snapshot` (of a trained SQ8 index of `dim` dimensions) whose SQ8Q section is damaged:
/// a DIM mismatch, an empty sample, a NaN low, a negative step, a range whose top overflows, a
/// truncated and an over-long payload; then SQ8Q twice, and SQ8Q after ENTR. Every reader must
/// refuse each with kCorruptData.
inline std::vector<Bytes> damaged_quantizer_snapshots(const Bytes& snapshot, std::size_t dim) {
  using vindex::snapshot::tag::kEntries;
  using vindex::snapshot::tag::kQuantizer;
  const std::vector<RawSection> sections = split_sections(snapshot);
  Bytes good;
  for (const auto& sec : sections)
    if (sec.tag == kQuantizer) good = sec.payload;
  if (good.size() != 4 + 8 + 8 * dim) throw std::logic_error("not a snapshot of a trained SQ8 index of that DIM");
  auto damaged = [&](auto mutate) {
    Bytes p = good;
    mutate(p);
    std::vector<RawSection> out = sections;
    for (auto& sec : out)
      if (sec.tag == kQuantizer) sec.payload = p;
    return assemble(out);
  };
  auto put_f32 = [](Bytes& p, std::size_t at, float v) { vindex::le::store(p.data() + at, std::bit_cast<std::uint32_t>(v)); };
  std::vector<Bytes> cases = {
      damaged([&](Bytes& p) { vindex::le::store(p.data(), static_cast<std::uint32_t>(dim - 1)); }),  // DIM mismatch
      damaged([](Bytes& p) { vindex::le::store(p.data() + 4, std::uint64_t{0}); }),                 // empty sample
      damaged([&](Bytes& p) { put_f32(p, 12, std::numeric_limits<float>::quiet_NaN()); }),          // NaN low
      damaged([&](Bytes& p) { put_f32(p, 12 + 4 * dim, -1.0f); }),                                 // negative step
      damaged([&](Bytes& p) { put_f32(p, 12 + 4 * dim, 3e38f); }),                                 // top overflows
      damaged([](Bytes& p) { p.pop_back(); }),                                                       // truncated
      damaged([](Bytes& p) { p.push_back(std::byte{0}); }),                                          // trailing byte
  };
  std::vector<RawSection> twice, late;
  for (const auto& sec : sections) {
    twice.push_back(sec);
    if (sec.tag == kQuantizer) twice.push_back(sec);
    if (sec.tag != kQuantizer) late.push_back(sec);
    if (sec.tag == kEntries && late.back().tag == kEntries) late.push_back({kQuantizer, 1, good, 0});
  }
  cases.push_back(assemble(twice));
  cases.push_back(assemble(late));
  return cases;
}

}  // namespace vindex_test
