// vindex/persist/flat_snapshot.hpp — saving a FlatIndex to a snapshot and loading it back.
//
// `save(index, out)` writes the index's schema, FLAT parameters, and every entry (key, stored vector
// and, under COSINE, the original magnitude) in ascending id order, batched into sections of about
// 1 MiB (see SaveOptions); the same index always gives the same bytes. `load_flat<Metric>(in)` reads
// a snapshot into a new index, validating every field before trusting it, and returns it only when
// it is complete: a failed load throws and leaves every existing index alone, so a host swaps in the
// new index only on success. `load_any_flat(in)` takes the metric from the snapshot. Entries get
// dense ids 0..n-1 in their saved order: erased slots are not stored, so a loaded index is compact.
// Section layouts are in docs/snapshot-format.md.
//
// Thread-safety: `save` holds the index's shared lock for the whole save, so searches go on and
// writers wait; the Serializer must not call back into the index. Errors: kCorruptData naming the
// section, offset and field; kSchemaMismatch when the snapshot holds another kind of index, or a
// schema other than the expected one; kIo from the stream. Next: docs/snapshot-format.md.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/index/flat_index.hpp"
#include "vindex/persist/snapshot_options.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"
#include "vindex/persist/snapshot_format.hpp"

namespace vindex {

namespace snapshot {
/// Index kind codes of the INDX section. Frozen.
enum class IndexKind : std::uint8_t {
  kFlat = 1,  ///< FlatIndex
  kHnsw = 2,  ///< HnswIndex
};
/// Element encoding of stored vectors in ENTR sections. Frozen.
inline constexpr std::uint8_t kStoredFloat32 = 1;
}  // namespace snapshot

namespace detail {
// Exact size of the snapshot `save` writes for `view`, mirroring its batching of entries.
template <class View>
std::uint64_t flat_snapshot_bytes(const View& view, std::size_t section_bytes, std::size_t dim, bool magnitudes) {
  constexpr std::uint64_t kFraming = snapshot::kSectionHeaderBytes + snapshot::kSectionTrailerBytes;
  std::uint64_t total = snapshot::kHeaderBytes + (kFraming + 16) * 2 + (kFraming + 8);  // INDX, FPRM, END
  const std::uint64_t fixed = 4 + 4 * std::uint64_t{dim} + (magnitudes ? 4 : 0);
  std::uint64_t payload = 0;
  for (std::size_t i = 0; i < view.id_bound(); ++i) {
    if (!view.is_live(static_cast<Id>(i))) continue;
    if (payload == 0) payload = 4;
    payload += fixed + view.key(static_cast<Id>(i)).size();
    if (payload >= section_bytes) {
      total += kFraming + payload;
      payload = 0;
    }
  }
  if (payload) total += kFraming + payload;
  return total;
}
}  // namespace detail

namespace detail {
// Writes INDX, FPRM and the ENTR sections of `index`, whose stored data `view` shows (read_stored).
template <class MetricT, class View>
void write_flat_sections(const FlatIndex<float, MetricT>& index, const View& view, snapshot::SnapshotWriter& writer,
                         std::size_t section_bytes) {
  using namespace snapshot;
  const VectorSchema& schema = index.schema();
  const FlatParams& params = index.params();
  PayloadWriter p;
  p.u8(static_cast<std::uint8_t>(IndexKind::kFlat));
  p.u8(static_cast<std::uint8_t>(schema.type));
  p.u8(static_cast<std::uint8_t>(schema.metric));
  p.u8(kStoredFloat32);
  p.u32(schema.dim);
  p.u64(view.size());
  writer.section(tag::kIndex, p.view());

  p.clear();
  p.u64(params.initial_cap);
  p.u64(params.block_size);
  writer.section(tag::kFlatParams, p.view());

  p.clear();
  std::uint32_t count = 0;
  auto flush = [&] {
    p.patch_u32(0, count);
    writer.section(tag::kEntries, p.view());
    p.clear();
    count = 0;
  };
  for (std::size_t i = 0; i < view.id_bound(); ++i) {
    const auto id = static_cast<Id>(i);
    if (!view.is_live(id)) continue;
    if (count == 0) p.u32(0);  // entry count, patched by flush()
    const KeyView key = view.key(id);
    p.u32(static_cast<std::uint32_t>(key.size()));
    p.bytes(key);
    if constexpr (MetricT::kNormalizes) p.f32(view.magnitude(id));
    p.floats(view.vector(id));
    ++count;
    if (p.size() >= section_bytes) flush();
  }
  if (count > 0) flush();
}

// The section size a writer uses for `options`.
inline std::size_t section_bytes_of(const SaveOptions& options) {
  return std::clamp<std::size_t>(options.section_bytes, 1, snapshot::kMaxSectionBytes / 2);
}
}  // namespace detail

/// Writes `index` as a snapshot to `out`. Throws kIo when the stream fails.
template <class MetricT>
void save(const FlatIndex<float, MetricT>& index, Serializer& out, const SaveOptions& options = {}) {
  const std::size_t section_bytes = detail::section_bytes_of(options);
  index.read_stored([&](const auto& view) {
    out.expect_bytes(
        detail::flat_snapshot_bytes(view, section_bytes, index.schema().dim, MetricT::kNormalizes));
    snapshot::SnapshotWriter writer(out);
    detail::write_flat_sections(index, view, writer, section_bytes);
    writer.finish();
  });
}

namespace detail {

// What the INDX and FPRM sections say.
struct FlatSnapshotHeader {
  VectorSchema schema;
  std::uint64_t entry_count = 0;
  FlatParams params;
};

// The next section this loader knows, skipping unknown sections marked skippable.
inline const snapshot::Section& next_known_section(snapshot::SnapshotReader& reader) {
  using namespace snapshot;
  for (;;) {
    const Section& s = reader.next();
    if (s.tag == tag::kIndex || s.tag == tag::kFlatParams || s.tag == tag::kEntries || s.tag == tag::kHnswParams ||
        s.tag == tag::kHnswLinks || s.tag == tag::kDefinition || s.tag == tag::kAttributes ||
        s.tag == tag::kFailures || s.tag == tag::kBackfill || s.tag == tag::kFailureEvents || s.tag == tag::kEnd)
      return s;
    SnapshotReader::skip_unknown(s);
  }
}

inline const snapshot::Section& expect_section(snapshot::SnapshotReader& reader, std::uint32_t tag) {
  const snapshot::Section& s = next_known_section(reader);
  if (s.tag != tag)
    throw Error(ErrorCode::kCorruptData, s.where() + ": expected section " + section_tag_name(tag) + " here");
  return s;
}

// What the INDX section says.
struct IndexSectionInfo {
  VectorSchema schema;
  std::uint64_t entry_count = 0;
};

// Reads and validates INDX, which must announce an index of kind `want`.
inline IndexSectionInfo read_index_section(snapshot::SnapshotReader& reader, const LoadOptions& options,
                                           snapshot::IndexKind want) {
  using namespace snapshot;
  IndexSectionInfo h;
  PayloadCursor c = expect_section(reader, tag::kIndex).cursor();
  const std::uint8_t kind = c.u8("index kind");
  if (kind != static_cast<std::uint8_t>(IndexKind::kFlat) && kind != static_cast<std::uint8_t>(IndexKind::kHnsw))
    c.fail("unknown index kind code " + std::to_string(kind));
  if (kind != static_cast<std::uint8_t>(want))
    throw c.error(ErrorCode::kSchemaMismatch, want == IndexKind::kFlat
                                                  ? "the snapshot holds an HNSW index, not a FLAT one"
                                                  : "the snapshot holds a FLAT index, not an HNSW one");
  const std::uint8_t type = c.u8("element type");
  if (to_string(static_cast<ElementType>(type)) == "?") c.fail("unknown element type code " + std::to_string(type));
  const std::uint8_t metric = c.u8("metric");
  if (to_string(static_cast<Metric>(metric)) == "?") c.fail("unknown metric code " + std::to_string(metric));
  const std::uint8_t stored = c.u8("stored element encoding");
  if (stored != kStoredFloat32) c.fail("unknown stored element encoding " + std::to_string(stored));
  const std::uint32_t dim = c.u32("DIM");
  if (dim < 1 || dim > options.limits.max_dim)
    c.fail("DIM " + std::to_string(dim) + " is outside 1.." + std::to_string(options.limits.max_dim));
  h.entry_count = c.u64("entry count");
  if (h.entry_count >= kInvalidId) c.fail("entry count " + std::to_string(h.entry_count) + " exceeds 2^32 - 2");
  c.expect_end();
  h.schema = VectorSchema{dim, static_cast<ElementType>(type), static_cast<Metric>(metric)};
  if (options.expect_schema && *options.expect_schema != h.schema) {
    const VectorSchema& e = *options.expect_schema;
    throw c.error(ErrorCode::kSchemaMismatch,
                  "snapshot schema DIM " + std::to_string(dim) + " " + std::string(to_string(h.schema.type)) + " " +
                      std::string(to_string(h.schema.metric)) + " differs from the expected DIM " +
                      std::to_string(e.dim) + " " + std::string(to_string(e.type)) + " " +
                      std::string(to_string(e.metric)));
  }
  return h;
}

// Reads and validates INDX and FPRM.
inline FlatSnapshotHeader read_flat_header(snapshot::SnapshotReader& reader, const LoadOptions& options) {
  using namespace snapshot;
  FlatSnapshotHeader h;
  {
    const IndexSectionInfo info = read_index_section(reader, options, IndexKind::kFlat);
    h.schema = info.schema;
    h.entry_count = info.entry_count;
  }
  {
    PayloadCursor c = expect_section(reader, tag::kFlatParams).cursor();
    const std::uint64_t initial_cap = c.u64("INITIAL_CAP");
    const std::uint64_t block_size = c.u64("BLOCK_SIZE");
    c.expect_end();
    if (initial_cap > (std::uint64_t{1} << 32)) c.fail("INITIAL_CAP " + std::to_string(initial_cap) + " exceeds 2^32");
    if (block_size < 1 || block_size > options.limits.max_block_size)
      c.fail("BLOCK_SIZE " + std::to_string(block_size) + " is outside 1.." +
             std::to_string(options.limits.max_block_size));
    // block_size <= 2^20 and slot bytes <= 4 * (2^32 + 1): the product cannot overflow 64 bits.
    const std::uint64_t slot_bytes = 4 * (std::uint64_t{h.schema.dim} + 1);
    if (block_size * slot_bytes > options.max_block_bytes)
      c.fail("BLOCK_SIZE " + std::to_string(block_size) + " × " + std::to_string(slot_bytes) +
             " bytes per vector exceeds the block limit of " + std::to_string(options.max_block_bytes) + " bytes");
    // INITIAL_CAP is only a hint (no index allocates from it: storage grows a block at a time, and
    // loading allocates for the entries the snapshot holds). A loaded index keeps
    // min(INITIAL_CAP, max(entries, BLOCK_SIZE)), as older versions did when it still sized the
    // first allocation.
    const std::uint64_t cap = std::min(initial_cap, std::max(h.entry_count, block_size));
    h.params = FlatParams{static_cast<std::size_t>(cap), static_cast<std::size_t>(block_size)};
  }
  return h;
}

// True when no element is NaN or ±Inf (exponent bits all ones); an integer loop the compiler vectorises.
inline bool all_finite(std::span<const float> v) noexcept {
  std::uint32_t non_finite = 0;
  for (float x : v) non_finite |= static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(x) & 0x7f800000u) == 0x7f800000u);
  return non_finite == 0;
}

// Reads the ENTR sections and END into a new index.
template <class MetricT>
std::unique_ptr<FlatIndex<float, MetricT>> read_flat_entries(snapshot::SnapshotReader& reader,
                                                             const FlatSnapshotHeader& h, const LoadOptions& options) {
  using namespace snapshot;
  using Index = FlatIndex<float, MetricT>;
  std::unique_ptr<Index> index;
  try {
    index = std::make_unique<Index>(h.schema, h.params, options.limits, options.memory);
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorruptData, std::string("snapshot parameters rejected: ") + e.what());
  }
  const std::size_t dim = h.schema.dim;
  const std::size_t min_entry_bytes = 4 + 4 * dim + (MetricT::kNormalizes ? 4 : 0);
  std::vector<float> vector(dim);
  std::uint64_t loaded = 0;
  for (;;) {
    const Section& s = next_known_section(reader);
    if (s.tag == tag::kEnd || s.tag == tag::kDefinition) break;  // a keyspace snapshot continues
    if (s.tag != tag::kEntries) throw Error(ErrorCode::kCorruptData, s.where() + ": unexpected section here");
    PayloadCursor c = s.cursor();
    const std::uint32_t count = c.u32("entry count");
    c.check_count(count, min_entry_bytes, "entry count");
    if (count == 0) c.fail("empty ENTR section");
    if (count > h.entry_count - loaded)
      c.fail(std::to_string(loaded + count) + " entries so far, but INDX announced " + std::to_string(h.entry_count));
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::uint32_t key_bytes = c.u32("key length");
      if (key_bytes > options.limits.max_key_bytes)
        c.fail("key length " + std::to_string(key_bytes) + " exceeds the limit of " +
               std::to_string(options.limits.max_key_bytes) + " bytes");
      const std::string_view key = c.bytes(key_bytes, "key");
      float magnitude = 1.0f;
      if constexpr (MetricT::kNormalizes) {
        magnitude = c.f32("magnitude");
        if (!std::isfinite(magnitude) || !(magnitude > 0))
          c.fail("magnitude of key " + printable_key(key) + " is not a finite positive number");
      }
      c.floats(vector, "vector");
      if (!all_finite(vector)) c.fail("vector of key " + printable_key(key) + " has a NaN or Inf element");
      if constexpr (MetricT::kNormalizes) {
        double norm2 = 0;
        for (float x : vector) norm2 += double{x} * x;
        if (std::abs(norm2 - 1.0) > 1e-3) c.fail("COSINE vector of key " + printable_key(key) + " is not unit length");
      }
      if (!index->restore_entry(key, vector, magnitude)) c.fail("duplicate key " + printable_key(key));
    }
    c.expect_end();
    loaded += count;
  }
  if (loaded != h.entry_count)
    throw Error(ErrorCode::kCorruptData, "snapshot section at offset " + std::to_string(reader.offset()) + " after " +
                                             std::to_string(loaded) + " entries, but INDX announced " +
                                             std::to_string(h.entry_count));
  return index;
}

template <class MetricT>
std::unique_ptr<FlatIndex<float, MetricT>> load_flat_after_header(snapshot::SnapshotReader& reader,
                                                                   const FlatSnapshotHeader& h,
                                                                   const LoadOptions& options) {
  if (h.schema.metric != MetricT::kind)
    throw Error(ErrorCode::kSchemaMismatch, "the snapshot holds a " + std::string(to_string(h.schema.metric)) +
                                                " index, but a " + std::string(to_string(MetricT::kind)) +
                                                " FlatIndex was asked for");
  return read_flat_entries<MetricT>(reader, h, options);
}

// A plain index loader that stopped before END met a keyspace snapshot's KDEF.
template <class Ptr>
Ptr only_index(snapshot::SnapshotReader& reader, Ptr index) {
  if (!reader.finished())
    throw Error(ErrorCode::kSchemaMismatch, "snapshot at offset " + std::to_string(reader.offset()) +
                                                " holds a keyspace index (KDEF section): load it with load_keyspace");
  return index;
}

}  // namespace detail

/// Reads a FLAT snapshot into a new index with metric `MetricT`. Throws (and builds nothing) on any
/// problem: kCorruptData for a damaged or hostile snapshot, kSchemaMismatch for another kind of
/// index, metric or expected schema, kIo when the stream fails.
template <class MetricT>
std::unique_ptr<FlatIndex<float, MetricT>> load_flat(Deserializer& in, const LoadOptions& options = {}) {
  snapshot::SnapshotReader reader(in);
  const detail::FlatSnapshotHeader h = detail::read_flat_header(reader, options);
  return detail::only_index(reader, detail::load_flat_after_header<MetricT>(reader, h, options));
}

/// A loaded FlatIndex of whichever metric the snapshot holds.
using AnyFlatIndex = std::variant<std::unique_ptr<FlatIndex<float, metric::L2>>,
                                  std::unique_ptr<FlatIndex<float, metric::InnerProduct>>,
                                  std::unique_ptr<FlatIndex<float, metric::Cosine>>>;

/// Like `load_flat`, with the metric taken from the snapshot.
inline AnyFlatIndex load_any_flat(Deserializer& in, const LoadOptions& options = {}) {
  snapshot::SnapshotReader reader(in);
  const detail::FlatSnapshotHeader h = detail::read_flat_header(reader, options);
  switch (h.schema.metric) {
    case Metric::kL2: return detail::only_index(reader, detail::load_flat_after_header<metric::L2>(reader, h, options));
    case Metric::kIP:
      return detail::only_index(reader, detail::load_flat_after_header<metric::InnerProduct>(reader, h, options));
    case Metric::kCosine:
      return detail::only_index(reader, detail::load_flat_after_header<metric::Cosine>(reader, h, options));
  }
  throw Error(ErrorCode::kCorruptData, "unknown metric");  // unreachable: read_flat_header checked it
}

}  // namespace vindex
