// vindex/persist/hnsw_snapshot.hpp — saving an HnswIndex to a snapshot and loading it back.
//
// `save(index, out)` writes the schema (INDX), the HNSW parameters with the entry point and the
// level generator's state (HPRM), every live entry like a FLAT snapshot does (ENTR: key, COSINE
// magnitude, stored vector) and then every node's neighbour lists per layer (HLNK), so a load
// rebuilds the graph exactly, without re-inserting. Ids are renumbered densely on save, in graph
// order: the i-th live node a breadth-first walk of layer 0 meets (HnswIndex::export_graph's order)
// gets id i, and every link is rewritten with the new ids, so erased slots never reach the file, the
// restoring constructor's id bound always holds, and a loaded index has each node's neighbours side
// by side in memory (index/hnsw/graph_order.hpp; saved again, it keeps its ids and bytes). With
// tombstones pending, what is saved is the graph as maintenance would leave it (lists that linked to
// one repaired, any live node that lost its path from the entry point linked back in): see
// HnswIndex::export_graph. `load_hnsw<Metric>(in)`
// parses and bounds-checks every field, then hands the graph to HnswIndex's validating restoring
// constructor; whatever that refuses (neighbour ids out of range or of too low a level, over-long
// lists, a wrong entry point, duplicate keys) is reported as kCorruptData. A failed load builds nothing and touches no existing index.
// `load_any_hnsw(in)` takes the metric from the snapshot. Layouts: docs/snapshot-format.md.
//
// Thread-safety: `save` copies the graph out under the index's shared lock (HnswIndex::export_graph),
// so searches go on and writers wait only for the copy; the bytes are written after the lock is
// released. Errors: kCorruptData naming the section, offset and field; kSchemaMismatch for a FLAT
// snapshot, another metric or another expected schema; kIo from the stream. Next:
// persist/keyspace_snapshot.hpp.
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
#include "vindex/index/hnsw_index.hpp"
#include "vindex/persist/index_sections.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"
#include "vindex/persist/snapshot_format.hpp"
#include "vindex/persist/snapshot_options.hpp"
#include "vindex/storage/upper_links.hpp"

namespace vindex {

namespace snapshot {
/// Longest level-generator state an HPRM section may carry (the text form of std::mt19937_64
/// takes about 6.5 KB).
inline constexpr std::uint32_t kMaxGeneratorStateBytes = 16384;
/// The u32 written for "no entry point" / "no level" in HPRM.
inline constexpr std::uint32_t kNoneU32 = 0xffffffffu;
}  // namespace snapshot

namespace detail {

// Section payloads of an HNSW snapshot, built from one consistent export of the graph.
struct HnswSnapshotPayloads {
  std::vector<std::byte> index, params, quantizer;  // quantizer: empty unless a trained SQ8 index
  std::vector<std::vector<std::byte>> entries, links;
};

template <class T, class MetricT, class Compression>
HnswSnapshotPayloads hnsw_payloads(const HnswIndex<T, MetricT, Compression>& index, std::size_t section_bytes) {
  const VectorSchema& schema = index.schema();
  HnswSnapshotPayloads out;
  std::vector<Id> old_ids;          // in export order: new id = position
  std::vector<std::uint8_t> level;  // per new id
  std::vector<Id> lists;            // per node, per layer: count, ids (old)
  PayloadWriter p;
  std::uint32_t count = 0;
  auto flush = [&](std::vector<std::vector<std::byte>>& into) {
    p.patch_u32(0, count);
    into.emplace_back(p.view().begin(), p.view().end());
    p.clear();
    count = 0;
  };
  const HnswGraphInfo info = index.export_graph([&](const HnswNodeData& node) {
    old_ids.push_back(node.id);
    level.push_back(static_cast<std::uint8_t>(node.links.size() - 1));
    for (const auto& list : node.links) {
      lists.push_back(static_cast<Id>(list.size()));
      lists.insert(lists.end(), list.begin(), list.end());
    }
    if (count == 0) p.u32(0);  // entry count, patched by flush()
    write_entry<T, MetricT>(p, node.key, node.magnitude, node.vector);
    ++count;
    if (p.size() >= section_bytes) flush(out.entries);
  });
  if (count > 0) flush(out.entries);

  // Dense renumbering: old id -> position in the export.
  std::vector<Id> remap(old_ids.empty() ? 0 : std::size_t{*std::max_element(old_ids.begin(), old_ids.end())} + 1,
                        kInvalidId);
  for (std::size_t i = 0; i < old_ids.size(); ++i) remap[old_ids[i]] = static_cast<Id>(i);

  write_index_section(p, snapshot::IndexKind::kHnsw, schema, old_ids.size(), stored_encoding_v<T>);
  out.index.assign(p.view().begin(), p.view().end());
  p.clear();

  const HnswParams& params = index.params();
  p.u64(params.m);
  p.u64(params.ef_construction);
  p.u64(params.ef_runtime);
  p.u64(params.initial_cap);
  p.u64(params.block_size);
  p.u64(params.seed);
  p.u64(std::bit_cast<std::uint64_t>(params.epsilon));
  p.u32(info.entry_point == kInvalidId ? snapshot::kNoneU32 : remap[info.entry_point]);
  p.u32(info.max_level < 0 ? snapshot::kNoneU32 : static_cast<std::uint32_t>(info.max_level));
  p.u32(static_cast<std::uint32_t>(info.level_generator_state.size()));
  p.bytes(info.level_generator_state);
  if (params.exact_vectors == ExactVectors::kHost) p.u64(1);  // EXACT_VECTORS: the host
  out.params.assign(p.view().begin(), p.view().end());
  p.clear();

  if constexpr (std::is_same_v<Compression, Sq8>) {
    const SavedQuantizer saved = index.saved_quantizer();
    if (saved.quantizer.trained()) {
      write_quantizer(p, saved);
      out.quantizer.assign(p.view().begin(), p.view().end());
      p.clear();
    }
  }

  std::size_t at = 0;
  for (std::size_t i = 0; i < old_ids.size(); ++i) {
    if (count == 0) p.u32(0);
    p.u8(level[i]);
    for (unsigned l = 0; l <= level[i]; ++l) {
      const Id n = lists[at++];
      p.u32(n);
      for (Id j = 0; j < n; ++j) p.u32(remap[lists[at++]]);
    }
    ++count;
    if (p.size() >= section_bytes) flush(out.links);
  }
  if (count > 0) flush(out.links);
  return out;
}

}  // namespace detail

namespace detail {
inline void write_hnsw_sections(const HnswSnapshotPayloads& p, snapshot::SnapshotWriter& writer) {
  using namespace snapshot;
  writer.section(tag::kIndex, p.index);
  writer.section(tag::kHnswParams, p.params);
  // Skippable: a reader without SQ8 loads the float vectors and ignores it.
  if (!p.quantizer.empty()) writer.section(tag::kQuantizer, p.quantizer, section_flag::kSkippable);
  for (const auto& s : p.entries) writer.section(tag::kEntries, s);
  for (const auto& s : p.links) writer.section(tag::kHnswLinks, s);
}
}  // namespace detail

/// Writes `index` as a snapshot to `out` (INDX, HPRM, [SQ8Q], ENTR…, HLNK…, END). Throws kIo when
/// the stream fails. The same index always gives the same bytes.
template <class T, class MetricT, class Compression>
void save(const HnswIndex<T, MetricT, Compression>& index, Serializer& out, const SaveOptions& options = {}) {
  using namespace snapshot;
  const detail::HnswSnapshotPayloads p = detail::hnsw_payloads(index, detail::section_bytes_of(options));
  constexpr std::uint64_t kFraming = kSectionHeaderBytes + kSectionTrailerBytes;
  std::uint64_t total = kHeaderBytes + 3 * kFraming + p.index.size() + p.params.size() + 8;
  for (const auto& s : p.entries) total += kFraming + s.size();
  for (const auto& s : p.links) total += kFraming + s.size();
  if (!p.quantizer.empty()) total += kFraming + p.quantizer.size();
  out.expect_bytes(total);
  SnapshotWriter writer(out);
  detail::write_hnsw_sections(p, writer);
  writer.finish();
}

namespace detail {

// What INDX and HPRM say.
struct HnswSnapshotHeader {
  VectorSchema schema;
  std::uint64_t entry_count = 0;
  std::uint8_t stored = snapshot::kStoredFloat32;  // how ENTR stores vector elements
  HnswParams params;
  HnswGraphInfo info;
};

inline HnswSnapshotHeader read_hnsw_header(snapshot::SnapshotReader& reader, const LoadOptions& options) {
  using namespace snapshot;
  HnswSnapshotHeader h;
  {
    const IndexSectionInfo info = read_index_section(reader, options, IndexKind::kHnsw);
    h.schema = info.schema;
    h.entry_count = info.entry_count;
    h.stored = info.stored;
  }
  PayloadCursor c = expect_section(reader, tag::kHnswParams).cursor();
  const std::uint64_t m = c.u64("M");
  const std::uint64_t ef_construction = c.u64("EF_CONSTRUCTION");
  const std::uint64_t ef_runtime = c.u64("EF_RUNTIME");
  const std::uint64_t initial_cap = c.u64("INITIAL_CAP");
  const std::uint64_t block_size = c.u64("BLOCK_SIZE");
  const std::uint64_t seed = c.u64("seed");
  const double epsilon = std::bit_cast<double>(c.u64("EPSILON"));
  const std::uint32_t entry = c.u32("entry point");
  const std::uint32_t max_level = c.u32("max level");
  const std::uint32_t state_bytes = c.u32("generator state length");
  if (state_bytes > kMaxGeneratorStateBytes)
    c.fail("generator state length " + std::to_string(state_bytes) + " exceeds " +
           std::to_string(kMaxGeneratorStateBytes));
  h.info.level_generator_state.assign(c.bytes(state_bytes, "generator state"));
  ExactVectors exact = ExactVectors::kIndex;
  if (c.remaining() != 0) {
    const std::uint64_t from = c.u64("EXACT_VECTORS");
    if (from != 1) c.fail("EXACT_VECTORS " + std::to_string(from) + " is not 1 (the host)");
    exact = ExactVectors::kHost;
  }
  c.expect_end();
  if (m < options.limits.min_m || m > options.limits.max_m)
    c.fail("M " + std::to_string(m) + " is outside " + std::to_string(options.limits.min_m) + ".." +
           std::to_string(options.limits.max_m));
  if (ef_construction < 1 || ef_construction > options.limits.max_ef)
    c.fail("EF_CONSTRUCTION " + std::to_string(ef_construction) + " is outside 1.." +
           std::to_string(options.limits.max_ef));
  if (ef_runtime < 1 || ef_runtime > options.limits.max_ef)
    c.fail("EF_RUNTIME " + std::to_string(ef_runtime) + " is outside 1.." + std::to_string(options.limits.max_ef));
  if (initial_cap > (std::uint64_t{1} << 32)) c.fail("INITIAL_CAP " + std::to_string(initial_cap) + " exceeds 2^32");
  if (block_size < 1 || block_size > options.limits.max_block_size)
    c.fail("BLOCK_SIZE " + std::to_string(block_size) + " is outside 1.." +
           std::to_string(options.limits.max_block_size));
  // dim <= 2^32, m <= max_m (u32), block_size <= 2^32: the checks above keep the product in 64 bits
  // for every sane Limits; a node's record is its vector, 2·M layer-0 ids and a COSINE magnitude.
  const std::uint64_t slot_bytes = 4 * (std::uint64_t{h.schema.dim} + 2 * m + 1);
  if (block_size * slot_bytes > options.max_block_bytes)
    c.fail("BLOCK_SIZE " + std::to_string(block_size) + " × " + std::to_string(slot_bytes) +
           " bytes per node exceeds the block limit of " + std::to_string(options.max_block_bytes) + " bytes");
  if (!std::isfinite(epsilon) || !(epsilon >= 0)) c.fail("EPSILON is not a finite number >= 0");
  if ((entry == kNoneU32) != (max_level == kNoneU32))
    c.fail("entry point and max level must both be set or both be absent");
  if (max_level != kNoneU32 && max_level > UpperLinks::kMaxLevel)
    c.fail("max level " + std::to_string(max_level) + " exceeds " + std::to_string(UpperLinks::kMaxLevel));
  h.info.entry_point = entry == kNoneU32 ? kInvalidId : entry;
  h.info.max_level = max_level == kNoneU32 ? -1 : static_cast<int>(max_level);
  // INITIAL_CAP is only a hint (no index allocates from it; a loaded one allocates for the nodes it
  // holds). It keeps min(INITIAL_CAP, max(entries, BLOCK_SIZE)), as when it sized the first allocation.
  const std::uint64_t cap = std::min(initial_cap, std::max(h.entry_count, block_size));
  h.params = HnswParams{.m = static_cast<std::size_t>(m),
                        .ef_construction = static_cast<std::size_t>(ef_construction),
                        .ef_runtime = static_cast<std::size_t>(ef_runtime),
                        .initial_cap = static_cast<std::size_t>(cap),
                        .block_size = static_cast<std::size_t>(block_size),
                        .seed = seed,
                        .epsilon = epsilon,
                        .exact_vectors = exact};
  return h;
}

template <class MetricT, class T = float, class Compression = Uncompressed>
std::unique_ptr<HnswIndex<T, MetricT, Compression>> read_hnsw_body(snapshot::SnapshotReader& reader,
                                                                   const HnswSnapshotHeader& h,
                                                                   const LoadOptions& options) {
  using namespace snapshot;
  if (h.schema.metric != MetricT::kind)
    throw Error(ErrorCode::kSchemaMismatch, "the snapshot holds a " + std::string(to_string(h.schema.metric)) +
                                                " index, but a " + std::string(to_string(MetricT::kind)) +
                                                " HnswIndex was asked for");
  if (is_narrow_element_v<T> && h.schema.type != element_type_v<T>)
    throw Error(ErrorCode::kSchemaMismatch, "the snapshot holds TYPE " + std::string(to_string(h.schema.type)) +
                                                " vectors, but an HnswIndex of " +
                                                std::string(to_string(element_type_v<T>)) + " was asked for");
  if (h.params.exact_vectors == ExactVectors::kHost && !std::is_same_v<Compression, Sq8>)
    throw Error(ErrorCode::kSchemaMismatch,
                "the snapshot holds an SQ8 HNSW index re-ranking from the host (its vectors are codes): load it "
                "as HnswIndex<float, M, Sq8>");
  const std::size_t dim = h.schema.dim;
  const std::size_t m = h.params.m;
  std::vector<HnswNodeData> nodes;
  std::vector<float> vector(dim);
  const IndexSectionInfo layout{h.schema, h.entry_count, h.stored,
                               h.params.exact_vectors == ExactVectors::kHost};
  std::size_t linked = 0;
  SavedQuantizer saved;
  bool quantizer_seen = false;
  for (;;) {
    const Section& s = next_known_section(reader);
    if (s.tag != tag::kEntries && s.tag != tag::kHnswLinks && s.tag != tag::kQuantizer) {
      check_after_index(s);
      break;
    }
    PayloadCursor c = s.cursor();
    if (s.tag == tag::kQuantizer) {
      // Checked by every reader; used by an Sq8 index (another loads the float vectors alone).
      if (quantizer_seen || !nodes.empty()) c.fail("SQ8Q must come once, before ENTR");
      quantizer_seen = true;
      saved = read_quantizer(c, h.schema);
    } else if (s.tag == tag::kEntries) {
      if (linked > 0) c.fail("ENTR after HLNK");
      const std::uint32_t count = read_entry_count<MetricT>(c, layout, nodes.size());
      if (nodes.capacity() < nodes.size() + count)  // geometric: one reserve per section would be quadratic
        nodes.reserve(std::max(nodes.size() + count, 2 * nodes.capacity()));
      for (std::uint32_t i = 0; i < count; ++i) {
        const StoredEntry e = read_entry<MetricT>(c, options.limits, layout, vector);
        HnswNodeData& node = nodes.emplace_back();
        node.id = static_cast<Id>(nodes.size() - 1);
        node.key.assign(e.key);
        node.magnitude = e.magnitude;
        node.vector = vector;
      }
      c.expect_end();
    } else if (s.tag == tag::kHnswLinks) {
      if (nodes.size() != h.entry_count)
        c.fail("HLNK after " + std::to_string(nodes.size()) + " entries, but INDX announced " +
               std::to_string(h.entry_count));
      const std::uint32_t count = c.u32("node count");
      c.check_count(count, 5, "node count");
      if (count == 0) c.fail("empty HLNK section");
      if (count > nodes.size() - linked)
        c.fail(std::to_string(linked + count) + " nodes' links so far, but there are " + std::to_string(nodes.size()) +
               " entries");
      for (std::uint32_t i = 0; i < count; ++i) {
        HnswNodeData& node = nodes[linked++];
        const std::uint8_t level = c.u8("level");
        if (level > UpperLinks::kMaxLevel)
          c.fail("level " + std::to_string(level) + " of node " + std::to_string(node.id) + " exceeds " +
                 std::to_string(UpperLinks::kMaxLevel));
        c.check_count(std::uint64_t{level} + 1, 4, "layer count");
        node.links.resize(std::size_t{level} + 1);
        for (unsigned l = 0; l <= level; ++l) {
          const std::uint32_t n = c.u32("link count");
          const std::size_t cap = l == 0 ? 2 * m : m;
          if (n > cap)
            c.fail("node " + std::to_string(node.id) + " has " + std::to_string(n) + " links on layer " +
                   std::to_string(l) + ", at most " + std::to_string(cap) + " allowed");
          c.check_count(n, 4, "link count");
          node.links[l].resize(n);
          for (std::uint32_t j = 0; j < n; ++j) node.links[l][j] = c.u32("neighbour id");
        }
      }
      c.expect_end();
    }
  }
  if (nodes.size() != h.entry_count || linked != nodes.size())
    throw Error(ErrorCode::kCorruptData, "snapshot section at offset " + std::to_string(reader.offset()) + " after " +
                                             std::to_string(nodes.size()) + " entries and " + std::to_string(linked) +
                                             " nodes' links, but INDX announced " + std::to_string(h.entry_count));
  try {
    return std::make_unique<HnswIndex<T, MetricT, Compression>>(h.schema, h.params, options.limits, h.info, nodes,
                                                                saved, options.memory);
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorruptData, "snapshot graph rejected at offset " + std::to_string(reader.offset()) +
                                             ": " + e.what());
  }
}

}  // namespace detail

/// Reads an HNSW snapshot into a new index with metric `MetricT` storing elements of `T` (float:
/// any TYPE, widened; Float16 / BFloat16: a snapshot of that TYPE). Throws (and builds nothing) on
/// any problem: kCorruptData for a damaged or hostile snapshot (including a graph the restoring
/// constructor refuses), kSchemaMismatch for a FLAT snapshot, another metric, TYPE or expected
/// schema, kIo when the stream fails. `Compression` Sq8 (float only): the index takes the saved
/// quantizer (SQ8Q) when the snapshot has one, and otherwise trains on the loaded vectors as its
/// rule says; a snapshot of an Sq8 index loads as a float index too (SQ8Q ignored).
template <class MetricT, class T = float, class Compression = Uncompressed>
std::unique_ptr<HnswIndex<T, MetricT, Compression>> load_hnsw(Deserializer& in, const LoadOptions& options = {}) {
  snapshot::SnapshotReader reader(in);
  const detail::HnswSnapshotHeader h = detail::read_hnsw_header(reader, options);
  return detail::only_index(reader, detail::read_hnsw_body<MetricT, T, Compression>(reader, h, options));
}

/// A loaded HnswIndex of whichever metric the snapshot holds.
using AnyHnswIndex = std::variant<std::unique_ptr<HnswIndex<float, metric::L2>>,
                                  std::unique_ptr<HnswIndex<float, metric::InnerProduct>>,
                                  std::unique_ptr<HnswIndex<float, metric::Cosine>>>;

/// Like `load_hnsw`, with the metric taken from the snapshot.
inline AnyHnswIndex load_any_hnsw(Deserializer& in, const LoadOptions& options = {}) {
  snapshot::SnapshotReader reader(in);
  const detail::HnswSnapshotHeader h = detail::read_hnsw_header(reader, options);
  switch (h.schema.metric) {
    case Metric::kL2: return detail::only_index(reader, detail::read_hnsw_body<metric::L2>(reader, h, options));
    case Metric::kIP:
      return detail::only_index(reader, detail::read_hnsw_body<metric::InnerProduct>(reader, h, options));
    case Metric::kCosine:
      return detail::only_index(reader, detail::read_hnsw_body<metric::Cosine>(reader, h, options));
  }
  throw Error(ErrorCode::kCorruptData, "unknown metric");  // unreachable: read_index_section checked it
}

}  // namespace vindex
