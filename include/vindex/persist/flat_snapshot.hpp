// vindex/persist/flat_snapshot.hpp — saving a FlatIndex to a snapshot and loading it back.
//
// `save(index, out)` writes the index's schema, FLAT parameters, an SQ8 index's trained quantizer
// (SQ8Q, skippable: older readers and float indexes load the floats alone), and every entry (key, stored vector
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
// schema other than the expected one; kIo from the stream. Next: persist/hnsw_snapshot.hpp, its sibling.
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
#include "vindex/persist/index_sections.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"
#include "vindex/persist/snapshot_format.hpp"

namespace vindex {

namespace detail {
// Exact size of the snapshot `save` writes for `view`, mirroring its batching of entries, each of
// `fixed` bytes plus its key, with an SQ8Q payload of `quantizer` bytes (0: none).
template <class View>
std::uint64_t flat_snapshot_bytes(const View& view, std::size_t section_bytes, std::uint64_t fixed,
                                  std::size_t quantizer, std::size_t params) {
  constexpr std::uint64_t kFraming = snapshot::kSectionHeaderBytes + snapshot::kSectionTrailerBytes;
  std::uint64_t total = snapshot::kHeaderBytes + (kFraming + 16) + (kFraming + params) + (kFraming + 8);  // INDX, FPRM, END
  if (quantizer) total += kFraming + quantizer;
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
// Writes the FPRM payload: INITIAL_CAP, BLOCK_SIZE, and for an index re-ranking from the host a third
// u64, EXACT_VECTORS = 1 (older readers refuse such a snapshot rather than load codes as floats).
inline void write_flat_params(PayloadWriter& p, const FlatParams& params) {
  p.u64(params.initial_cap);
  p.u64(params.block_size);
  if (params.exact_vectors == ExactVectors::kHost) p.u64(1);
}
// Bytes of the FPRM payload of `params`.
inline std::size_t flat_params_bytes(const FlatParams& params) {
  return params.exact_vectors == ExactVectors::kHost ? 24 : 16;
}

// The SQ8Q payload of the index `view` shows (empty unless a trained SQ8 index).
template <class View>
std::vector<std::byte> flat_quantizer_payload(const View& view) {
  const SavedQuantizer saved = view.quantizer();
  if (!saved.quantizer.trained()) return {};
  PayloadWriter p;
  write_quantizer(p, saved);
  return {p.view().begin(), p.view().end()};
}

// Writes INDX, FPRM, SQ8Q (when `quantizer` is not empty) and the ENTR sections of `index`, whose
// stored data `view` shows (read_stored).
template <class T, class MetricT, class Compression, class View>
void write_flat_sections(const FlatIndex<T, MetricT, Compression>& index, const View& view,
                         std::span<const std::byte> quantizer, snapshot::SnapshotWriter& writer,
                         std::size_t section_bytes) {
  using namespace snapshot;
  const VectorSchema& schema = index.schema();
  const FlatParams& params = index.params();
  PayloadWriter p;
  write_index_section(p, IndexKind::kFlat, schema, view.size(), stored_encoding_v<T>);
  writer.section(tag::kIndex, p.view());

  p.clear();
  write_flat_params(p, params);
  writer.section(tag::kFlatParams, p.view());
  if (!quantizer.empty()) writer.section(tag::kQuantizer, quantizer, section_flag::kSkippable);

  p.clear();
  std::uint32_t count = 0;
  std::vector<float> vector(schema.dim);
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
    float magnitude = 1.0f;
    if constexpr (MetricT::kNormalizes) magnitude = view.magnitude(id);
    view.vector(id, vector.data());
    write_entry<T, MetricT>(p, view.key(id), magnitude, vector);
    ++count;
    if (p.size() >= section_bytes) flush();
  }
  if (count > 0) flush();
}
}  // namespace detail

/// Writes `index` as a snapshot to `out` (INDX, FPRM, [SQ8Q], ENTR…, END). Throws kIo when the
/// stream fails. An SQ8 index that re-ranks from the host and has released its floats saves, as each
/// entry's vector, what its codes decode to; the loaded index takes the saved quantizer first and
/// encodes them back to the same codes.
template <class T, class MetricT, class Compression>
void save(const FlatIndex<T, MetricT, Compression>& index, Serializer& out, const SaveOptions& options = {}) {
  const std::size_t section_bytes = detail::section_bytes_of(options);
  index.read_stored([&](const auto& view) {
    const std::vector<std::byte> quantizer = detail::flat_quantizer_payload(view);
    out.expect_bytes(detail::flat_snapshot_bytes(
        view, section_bytes, detail::min_entry_bytes<MetricT>(index.schema(), detail::stored_encoding_v<T>),
        quantizer.size(), detail::flat_params_bytes(index.params())));
    snapshot::SnapshotWriter writer(out);
    detail::write_flat_sections(index, view, quantizer, writer, section_bytes);
    writer.finish();
  });
}

namespace detail {

// What the INDX and FPRM sections say.
struct FlatSnapshotHeader {
  VectorSchema schema;
  std::uint64_t entry_count = 0;
  std::uint8_t stored = snapshot::kStoredFloat32;  // how ENTR stores vector elements
  FlatParams params;
};

// Reads and validates INDX and FPRM.
inline FlatSnapshotHeader read_flat_header(snapshot::SnapshotReader& reader, const LoadOptions& options) {
  using namespace snapshot;
  FlatSnapshotHeader h;
  {
    const IndexSectionInfo info = read_index_section(reader, options, IndexKind::kFlat);
    h.schema = info.schema;
    h.entry_count = info.entry_count;
    h.stored = info.stored;
  }
  {
    PayloadCursor c = expect_section(reader, tag::kFlatParams).cursor();
    const std::uint64_t initial_cap = c.u64("INITIAL_CAP");
    const std::uint64_t block_size = c.u64("BLOCK_SIZE");
    ExactVectors exact = ExactVectors::kIndex;
    if (c.remaining() != 0) {
      const std::uint64_t from = c.u64("EXACT_VECTORS");
      if (from != 1) c.fail("EXACT_VECTORS " + std::to_string(from) + " is not 1 (the host)");
      exact = ExactVectors::kHost;
    }
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
    h.params = FlatParams{static_cast<std::size_t>(cap), static_cast<std::size_t>(block_size), exact};
  }
  return h;
}

// Reads the SQ8Q and ENTR sections and END into a new index.
template <class MetricT, class T, class Compression>
std::unique_ptr<FlatIndex<T, MetricT, Compression>> read_flat_entries(snapshot::SnapshotReader& reader,
                                                                      const FlatSnapshotHeader& h,
                                                                      const LoadOptions& options) {
  using namespace snapshot;
  using Index = FlatIndex<T, MetricT, Compression>;
  std::unique_ptr<Index> index;
  try {
    index = std::make_unique<Index>(h.schema, h.params, options.limits, options.memory);
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorruptData, std::string("snapshot parameters rejected: ") + e.what());
  }
  std::vector<float> vector(h.schema.dim);
  const IndexSectionInfo layout{h.schema, h.entry_count, h.stored,
                               h.params.exact_vectors == ExactVectors::kHost};
  std::uint64_t loaded = 0;
  bool quantizer_seen = false, entries_seen = false;
  for (;;) {
    const Section& s = next_known_section(reader);
    if (s.tag != tag::kEntries && s.tag != tag::kQuantizer) {
      check_after_index(s);
      break;
    }
    PayloadCursor c = s.cursor();
    if (s.tag == tag::kQuantizer) {
      // Checked by every reader; used by an Sq8 index (another loads the float vectors alone).
      if (quantizer_seen || entries_seen) c.fail("SQ8Q must come once, before ENTR");
      quantizer_seen = true;
      const SavedQuantizer saved = read_quantizer(c, h.schema);
      if constexpr (std::is_same_v<Compression, Sq8>) index->restore_quantizer(saved);
      continue;
    }
    entries_seen = true;
    const std::uint32_t count = read_entry_count<MetricT>(c, layout, loaded);
    for (std::uint32_t i = 0; i < count; ++i) {
      const StoredEntry e = read_entry<MetricT>(c, options.limits, layout, vector);
      if (!index->restore_entry(e.key, vector, e.magnitude)) c.fail("duplicate key " + printable_key(e.key));
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

template <class MetricT, class T = float, class Compression = Uncompressed>
std::unique_ptr<FlatIndex<T, MetricT, Compression>> load_flat_after_header(snapshot::SnapshotReader& reader,
                                                                           const FlatSnapshotHeader& h,
                                                                           const LoadOptions& options) {
  if (h.schema.metric != MetricT::kind)
    throw Error(ErrorCode::kSchemaMismatch, "the snapshot holds a " + std::string(to_string(h.schema.metric)) +
                                                " index, but a " + std::string(to_string(MetricT::kind)) +
                                                " FlatIndex was asked for");
  if (is_narrow_element_v<T> && h.schema.type != element_type_v<T>)
    throw Error(ErrorCode::kSchemaMismatch, "the snapshot holds TYPE " + std::string(to_string(h.schema.type)) +
                                                " vectors, but a FlatIndex of " +
                                                std::string(to_string(element_type_v<T>)) + " was asked for");
  if (h.params.exact_vectors == ExactVectors::kHost && !std::is_same_v<Compression, Sq8>)
    throw Error(ErrorCode::kSchemaMismatch,
                "the snapshot holds an SQ8 FLAT index re-ranking from the host (its vectors are codes): load it "
                "as FlatIndex<float, M, Sq8>");
  return read_flat_entries<MetricT, T, Compression>(reader, h, options);
}

}  // namespace detail

/// Reads a FLAT snapshot into a new index with metric `MetricT` storing elements of `T` (float: any
/// TYPE, widened; Float16 / BFloat16: a snapshot of that TYPE). Throws (and builds nothing) on any
/// problem: kCorruptData for a damaged or hostile snapshot, kSchemaMismatch for another kind of
/// index, metric, TYPE or expected schema, kIo when the stream fails. `Compression` Sq8 (float
/// only): the index takes the saved quantizer (SQ8Q) when the snapshot has one, and otherwise trains
/// on the loaded vectors as its rule says; a snapshot of an Sq8 index loads as a float index too.
template <class MetricT, class T = float, class Compression = Uncompressed>
std::unique_ptr<FlatIndex<T, MetricT, Compression>> load_flat(Deserializer& in, const LoadOptions& options = {}) {
  snapshot::SnapshotReader reader(in);
  const detail::FlatSnapshotHeader h = detail::read_flat_header(reader, options);
  return detail::only_index(reader, detail::load_flat_after_header<MetricT, T, Compression>(reader, h, options));
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
