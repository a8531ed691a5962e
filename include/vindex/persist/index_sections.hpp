// vindex/persist/index_sections.hpp — what FLAT and HNSW snapshots share: the INDX section, the
// ENTR entries, and how an index's sections end.
//
// Both index kinds start with INDX (kind, element type, metric, stored encoding, DIM, entry count)
// and store every live entry the same way in ENTR sections (key, COSINE magnitude, stored vector);
// their own parameters (FPRM / HPRM) and the HNSW links (HLNK) are theirs; an SQ8 index of either
// kind adds its quantizer (SQ8Q, skippable) after its parameters. An index's sections end
// at the first section that is not one of them: END for a bare index, KDEF when a keyspace snapshot
// goes on (persist/keyspace_snapshot.hpp). Every reader here validates what it reads before trusting
// it and throws Error(kCorruptData) naming the section, offset and field (kSchemaMismatch for an
// index of another kind or an unexpected schema). Next: persist/flat_snapshot.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/element.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/sq8_codec.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/snapshot_format.hpp"
#include "vindex/persist/snapshot_options.hpp"

namespace vindex {

namespace snapshot {
/// Index kind codes of the INDX section. Frozen.
enum class IndexKind : std::uint8_t {
  kFlat = 1,  ///< FlatIndex
  kHnsw = 2,  ///< HnswIndex
};
/// Element encoding of stored vectors in ENTR sections: floats (COSINE: normalised, with the
/// magnitude). Frozen.
inline constexpr std::uint8_t kStoredFloat32 = 1;
/// Element encoding of stored vectors in ENTR sections: the elements as the schema's TYPE encodes
/// them (FLOAT16, BFLOAT16, INT8, UINT8; little-endian), as given, with no magnitude. Written by
/// indexes that store such elements; never with TYPE FLOAT32. Frozen.
inline constexpr std::uint8_t kStoredAsType = 2;
}  // namespace snapshot

namespace detail {

// The section size a writer uses for `options`.
inline std::size_t section_bytes_of(const SaveOptions& options) {
  return std::clamp<std::size_t>(options.section_bytes, 1, snapshot::kMaxSectionBytes / 2);
}

// The stored encoding an index storing elements of `T` writes: its TYPE's own for narrow elements.
template <class T>
inline constexpr std::uint8_t stored_encoding_v = is_narrow_element_v<T> ? snapshot::kStoredAsType
                                                                         : snapshot::kStoredFloat32;

// The INDX payload: what a snapshot of `kind` over `schema` with `entry_count` entries, stored in
// `stored` encoding, says.
inline void write_index_section(PayloadWriter& p, snapshot::IndexKind kind, const VectorSchema& schema,
                                std::uint64_t entry_count, std::uint8_t stored) {
  p.u8(static_cast<std::uint8_t>(kind));
  p.u8(static_cast<std::uint8_t>(schema.type));
  p.u8(static_cast<std::uint8_t>(schema.metric));
  p.u8(stored);
  p.u32(schema.dim);
  p.u64(entry_count);
}

// Appends one ENTR entry of an index storing elements of `T`: key length and bytes, then floats
// (the magnitude under a normalising metric, the prepared vector) or, for narrow elements, the
// given elements in their TYPE's encoding (COSINE: vector × magnitude, which rounds back to them
// exactly).
template <class T, class MetricT>
void write_entry(PayloadWriter& p, KeyView key, float magnitude, std::span<const float> vector) {
  p.u32(static_cast<std::uint32_t>(key.size()));
  p.bytes(key);
  if constexpr (is_narrow_element_v<T>) {
    for (const float x : vector) {
      const auto e = static_cast<std::uint16_t>(T::from_float(MetricT::kNormalizes ? x * magnitude : x));
      p.u8(static_cast<std::uint8_t>(e & 0xffu));  // little-endian
      if constexpr (sizeof(typename T::Storage) == 2) p.u8(static_cast<std::uint8_t>(e >> 8));
    }
  } else {
    if constexpr (MetricT::kNormalizes) p.f32(magnitude);
    p.floats(vector);
  }
}

// The next section this version knows, skipping unknown sections marked skippable.
inline const snapshot::Section& next_known_section(snapshot::SnapshotReader& reader) {
  for (;;) {
    const snapshot::Section& s = reader.next();
    if (snapshot::tag::is_known(s.tag)) return s;
    snapshot::SnapshotReader::skip_unknown(s);
  }
}

// The next known section, which must be `tag`.
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
  std::uint8_t stored = snapshot::kStoredFloat32;  ///< how ENTR stores vector elements
  /// EXACT_VECTORS (FPRM / HPRM): the vectors may be what SQ8 codes decode to, which a COSINE index
  /// holds near unit length only (clamped elements shorten them), so that check is waived.
  bool decoded_codes = false;
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
  if (stored != kStoredFloat32 && stored != kStoredAsType)
    c.fail("unknown stored element encoding " + std::to_string(stored));
  if (stored == kStoredAsType && type == static_cast<std::uint8_t>(ElementType::kFloat32))
    c.fail("stored element encoding 2 (as the TYPE) with TYPE FLOAT32");
  h.stored = stored;
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

// True when no element is NaN or ±Inf (exponent bits all ones); an integer loop the compiler vectorises.
inline bool all_finite(std::span<const float> v) noexcept {
  std::uint32_t non_finite = 0;
  for (float x : v) non_finite |= static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(x) & 0x7f800000u) == 0x7f800000u);
  return non_finite == 0;
}

// The fewest bytes one ENTR entry of this schema and stored encoding takes (an empty key).
template <class MetricT>
std::size_t min_entry_bytes(const VectorSchema& schema, std::uint8_t stored) noexcept {
  if (stored == snapshot::kStoredAsType) return 4 + schema.blob_bytes();
  return 4 + 4 * std::size_t{schema.dim} + (MetricT::kNormalizes ? 4 : 0);
}

// Reads an ENTR section's entry count: not zero, within the bytes left, and within what INDX
// announced (`announced`) given the `loaded` entries before this section.
template <class MetricT>
std::uint32_t read_entry_count(PayloadCursor& c, const IndexSectionInfo& h, std::uint64_t loaded) {
  const std::uint64_t announced = h.entry_count;
  const std::uint32_t count = c.u32("entry count");
  c.check_count(count, min_entry_bytes<MetricT>(h.schema, h.stored), "entry count");
  if (count == 0) c.fail("empty ENTR section");
  if (count > announced - loaded)
    c.fail(std::to_string(loaded + count) + " entries so far, but INDX announced " + std::to_string(announced));
  return count;
}

// One entry read by read_entry: its key (a view into the section's payload) and magnitude.
struct StoredEntry {
  std::string_view key;
  float magnitude = 1.0f;
};

// Reads one ENTR entry, its prepared vector into `vector` (DIM elements): the key within the key
// limit; then floats (a finite positive magnitude and a unit-length vector under a normalising
// metric — for decoded codes, a non-zero one — no NaN or Inf) or, in the TYPE's encoding, elements that make a valid vector of the
// schema (check_vector: finite, within kMaxSquaredNorm, not zero under COSINE), prepared as an
// upsert prepares them (so the loaded entry is the saved one, bit for bit).
template <class MetricT>
StoredEntry read_entry(PayloadCursor& c, const Limits& limits, const IndexSectionInfo& h, std::span<float> vector) {
  StoredEntry e;
  const std::uint32_t key_bytes = c.u32("key length");
  if (key_bytes > limits.max_key_bytes)
    c.fail("key length " + std::to_string(key_bytes) + " exceeds the limit of " + std::to_string(limits.max_key_bytes) +
           " bytes");
  e.key = c.bytes(key_bytes, "key");
  if (h.stored == snapshot::kStoredAsType) {
    const std::string_view elements = c.bytes(h.schema.blob_bytes(), "vector");
    if (const VectorFailure failure = decode_blob(h.schema, elements, vector); failure != VectorFailure::kNone)
      c.fail("vector of key " + printable_key(e.key) + " is invalid: " + std::string(to_string(failure)));
    e.magnitude = metric::prepare<MetricT>(vector);
    return e;
  }
  if constexpr (MetricT::kNormalizes) {
    e.magnitude = c.f32("magnitude");
    if (!std::isfinite(e.magnitude) || !(e.magnitude > 0))
      c.fail("magnitude of key " + printable_key(e.key) + " is not a finite positive number");
  }
  c.floats(vector, "vector");
  if (!all_finite(vector)) c.fail("vector of key " + printable_key(e.key) + " has a NaN or Inf element");
  if constexpr (MetricT::kNormalizes) {
    double norm2 = 0;
    for (float x : vector) norm2 += double{x} * x;
    if (h.decoded_codes ? !(norm2 > 0) : std::abs(norm2 - 1.0) > 1e-3)
      c.fail("COSINE vector of key " + printable_key(e.key) + (h.decoded_codes ? " is zero" : " is not unit length"));
  }
  return e;
}

// The SQ8Q payload of a trained quantizer: DIM, the training sample's size, DIM lows, DIM steps.
inline void write_quantizer(PayloadWriter& p, const SavedQuantizer& saved) {
  const std::size_t dim = saved.quantizer.dim();
  p.u32(static_cast<std::uint32_t>(dim));
  p.u64(saved.trained_on);
  for (std::size_t i = 0; i < dim; ++i) p.f32(saved.quantizer.low(i));
  for (std::size_t i = 0; i < dim; ++i) p.f32(saved.quantizer.step(i));
}

// Reads an SQ8Q payload for an index of `schema`.
inline SavedQuantizer read_quantizer(PayloadCursor& c, const VectorSchema& schema) {
  const std::uint32_t dim = c.u32("SQ8 dimensions");
  if (dim != schema.dim)
    c.fail("SQ8 quantizer of " + std::to_string(dim) + " dimensions, but DIM is " + std::to_string(schema.dim));
  const std::uint64_t trained_on = c.u64("SQ8 training sample");
  if (trained_on < 1 || trained_on > (std::uint64_t{1} << 32))
    c.fail("SQ8 training sample of " + std::to_string(trained_on) + " vectors is outside 1..2^32");
  c.check_count(dim, 8, "SQ8 dimensions");
  std::vector<float> low(dim), step(dim);
  c.floats(low, "SQ8 low");
  c.floats(step, "SQ8 step");
  c.expect_end();
  try {
    return {ScalarQuantizer::from_parts(std::move(low), std::move(step)), static_cast<std::size_t>(trained_on)};
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

// Called with the first section that is not one of an index's own: END, or KDEF when a keyspace
// snapshot goes on (its loader takes over from the reader's current section). Anything else is out
// of place.
inline void check_after_index(const snapshot::Section& s) {
  if (s.tag != snapshot::tag::kEnd && s.tag != snapshot::tag::kDefinition)
    throw Error(ErrorCode::kCorruptData, s.where() + ": unexpected section here");
}

// A bare index loader's result, once its sections ended: refused when they ended at a keyspace
// snapshot's KDEF rather than at END.
template <class Ptr>
Ptr only_index(snapshot::SnapshotReader& reader, Ptr index) {
  if (!reader.finished())
    throw Error(ErrorCode::kSchemaMismatch, "snapshot at offset " + std::to_string(reader.offset()) +
                                                " holds a keyspace index (KDEF section): load it with load_keyspace");
  return index;
}

}  // namespace detail

}  // namespace vindex
