// vindex/persist/keyspace_snapshot.hpp — saving a KeyspaceIndex and loading it back.
//
// `save(keyspace, out)` writes the vector index's sections exactly as saving the index alone does
// (FLAT: INDX FPRM ENTR…; HNSW: INDX HPRM ENTR… HLNK…), then the keyspace state from
// `export_state()`: KDEF (definition), ATTR… (attribute rows), FAIL… (keys currently failing),
// BKFL (failure event counters, the scan checkpoint, queued writes), END. `load_keyspace<IndexT>`
// reads them back, bounds-checking every field, and rebuilds through KeyspaceIndex's validating
// restoring constructor (kCorruptData on any disagreement). An unfinished backfill or reconcile is
// restored with its state and cursor, so the host's next `step()` continues where the saved scan
// stopped; after loading a snapshot of a *finished* index, call `start_reconcile()` to catch up with
// what the source changed since. The plain index loaders refuse a keyspace snapshot (kSchemaMismatch).
//
// Thread-safety: `save` reads export_state() (under the keyspace's mutation lock) and then the
// vector index (under its shared lock); call it from the host's mutating thread, or with no
// mutation in flight, so the two agree. Errors: as the index loaders; kCorruptData also when the
// state disagrees with the index. Next: docs/snapshot-format.md.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/index/flat_index.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/persist/flat_snapshot.hpp"
#include "vindex/persist/hnsw_snapshot.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"
#include "vindex/persist/snapshot_format.hpp"
#include "vindex/persist/snapshot_options.hpp"
#include "vindex/source/keyspace_index.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex {

namespace detail {

template <class T>
struct snapshot_index_traits : std::false_type {};
template <class T, class MetricT, class Compression>
struct snapshot_index_traits<FlatIndex<T, MetricT, Compression>> : std::true_type {
  using Metric = MetricT;
  using Element = T;
  using Compressed = Compression;
  static constexpr bool kHnsw = false;
};
template <class T, class MetricT, class Compression>
struct snapshot_index_traits<HnswIndex<T, MetricT, Compression>> : std::true_type {
  using Metric = MetricT;
  using Element = T;
  using Compressed = Compression;
  static constexpr bool kHnsw = true;
};

inline void put_string(PayloadWriter& p, std::string_view s) {
  p.u32(static_cast<std::uint32_t>(s.size()));
  p.bytes(s);
}
inline std::string_view get_string(PayloadCursor& c, std::uint64_t max_bytes, std::string_view field) {
  const std::uint32_t n = c.u32(field);
  if (n > max_bytes)
    c.fail(std::string(field) + " length " + std::to_string(n) + " exceeds the limit of " + std::to_string(max_bytes));
  return c.bytes(n, field);
}

// Writes KDEF, ATTR…, FAIL…, BKFL.
inline void write_keyspace_sections(const KeyspaceState& s, snapshot::SnapshotWriter& writer,
                                    std::size_t section_bytes) {
  using namespace snapshot;
  PayloadWriter p;
  p.u32(static_cast<std::uint32_t>(s.definition.prefixes.size()));
  for (const auto& prefix : s.definition.prefixes) put_string(p, prefix);
  put_string(p, s.definition.vector_field);
  p.u32(static_cast<std::uint32_t>(s.definition.attributes.size()));
  for (const AttributeField& a : s.definition.attributes) {
    put_string(p, a.name);
    p.u8(static_cast<std::uint8_t>(a.type));
    p.u8(static_cast<std::uint8_t>(a.separator));
    p.u8(a.case_sensitive ? 1 : 0);
  }
  writer.section(tag::kDefinition, p.view());
  p.clear();

  std::uint32_t count = 0;
  auto flush = [&](std::uint32_t tag) {
    p.patch_u32(0, count);
    writer.section(tag, p.view());
    p.clear();
    count = 0;
  };
  for (const auto& [key, row] : s.attributes) {
    if (count == 0) p.u32(0);
    put_string(p, key);
    for (const AttributeValue& v : row) {
      p.u8(v.present ? 1 : 0);
      p.u64(std::bit_cast<std::uint64_t>(v.number));
      p.u32(static_cast<std::uint32_t>(v.tags.size()));
      for (const auto& t : v.tags) put_string(p, t);
    }
    ++count;
    if (p.size() >= section_bytes) flush(tag::kAttributes);
  }
  if (count > 0) flush(tag::kAttributes);
  for (const auto& [key, why] : s.failing) {
    if (count == 0) p.u32(0);
    put_string(p, key);
    p.u8(static_cast<std::uint8_t>(why));
    ++count;
    if (p.size() >= section_bytes) flush(tag::kFailures);
  }
  if (count > 0) flush(tag::kFailures);

  for (std::size_t code = 0; code < kBackfillFailureCodes; ++code) p.u64(s.failure_events.by_code[code]);
  const BackfillCheckpoint& c = s.checkpoint;
  p.u8(static_cast<std::uint8_t>(c.state));
  p.u8(static_cast<std::uint8_t>(c.mode));
  p.u64(c.cursor);
  for (std::uint64_t v : {c.counts.keys_scanned, c.counts.inserted, c.counts.updated, c.counts.unchanged,
                          c.counts.removed, c.counts.skipped})
    p.u64(v);
  for (const std::vector<Key>* list : {&c.touched, &c.seen, &s.pending}) {
    p.u32(static_cast<std::uint32_t>(list->size()));
    for (const Key& k : *list) put_string(p, k);
  }
  writer.section(tag::kBackfill, p.view());
  // Counters of failure codes added after BKFL's layout was frozen, in a section older readers skip;
  // written only when one is non-zero, so snapshots without such failures keep their exact bytes.
  p.clear();
  std::uint32_t extra = 0;
  p.u32(0);
  for (std::size_t code = kBackfillFailureCodes; code < kIndexingFailureCodes; ++code)
    if (s.failure_events.by_code[code] != 0) {
      p.u8(static_cast<std::uint8_t>(code));
      p.u64(s.failure_events.by_code[code]);
      ++extra;
    }
  if (extra > 0) {
    p.patch_u32(0, extra);
    writer.section(tag::kFailureEvents, p.view(), snapshot::section_flag::kSkippable);
  }
}

}  // namespace detail

/// Writes `keyspace` (its vector index and its state) as a snapshot to `out`. Throws kIo when the
/// stream fails, kInvalidArgument when the BKFL section (checkpoint key lists, queued writes)
/// would exceed 64 MiB.
template <class IndexT>
void save(const KeyspaceIndex<IndexT>& keyspace, Serializer& out, const SaveOptions& options = {}) {
  using Traits = detail::snapshot_index_traits<IndexT>;
  static_assert(Traits::value, "snapshots hold FlatIndex<T, …> or HnswIndex<T, …>");
  const std::size_t section_bytes = detail::section_bytes_of(options);
  const KeyspaceState state = keyspace.export_state();
  if constexpr (Traits::kHnsw) {
    const detail::HnswSnapshotPayloads p = detail::hnsw_payloads(keyspace.index(), section_bytes);
    snapshot::SnapshotWriter writer(out);
    detail::write_hnsw_sections(p, writer);
    detail::write_keyspace_sections(state, writer, section_bytes);
    writer.finish();
  } else {
    keyspace.index().read_stored([&](const auto& view) {
      const std::vector<std::byte> quantizer = detail::flat_quantizer_payload(view);
      snapshot::SnapshotWriter writer(out);
      detail::write_flat_sections(keyspace.index(), view, quantizer, writer, section_bytes);
      detail::write_keyspace_sections(state, writer, section_bytes);
      writer.finish();
    });
  }
}

namespace detail {

inline IndexDefinition read_definition(const snapshot::Section& s, const LoadOptions& options) {
  PayloadCursor c = s.cursor();
  IndexDefinition d;
  const std::uint32_t prefixes = c.u32("prefix count");
  c.check_count(prefixes, 4, "prefix count");
  for (std::uint32_t i = 0; i < prefixes; ++i)
    d.prefixes.emplace_back(get_string(c, options.limits.max_key_bytes, "prefix"));
  d.vector_field = std::string(get_string(c, options.limits.max_key_bytes, "vector field"));
  const std::uint32_t attributes = c.u32("attribute count");
  c.check_count(attributes, 7, "attribute count");
  for (std::uint32_t i = 0; i < attributes; ++i) {
    AttributeField a;
    a.name = std::string(get_string(c, options.limits.max_key_bytes, "attribute name"));
    const std::uint8_t type = c.u8("attribute type");
    if (type != static_cast<std::uint8_t>(AttributeType::kTag) && type != static_cast<std::uint8_t>(AttributeType::kNumeric))
      c.fail("unknown attribute type code " + std::to_string(type));
    a.type = static_cast<AttributeType>(type);
    a.separator = static_cast<char>(c.u8("TAG separator"));
    const std::uint8_t cs = c.u8("case sensitivity");
    if (cs > 1) c.fail("case sensitivity flag " + std::to_string(cs) + " is not 0 or 1");
    a.case_sensitive = cs == 1;
    d.attributes.push_back(std::move(a));
  }
  c.expect_end();
  try {
    d.validate();
  } catch (const Error& e) {
    c.fail(std::string("invalid definition: ") + e.what());
  }
  return d;
}

inline void read_attribute_rows(const snapshot::Section& s, const LoadOptions& options, KeyspaceState& state) {
  PayloadCursor c = s.cursor();
  const std::size_t width = state.definition.attributes.size();
  const std::uint32_t count = c.u32("row count");
  if (count == 0) c.fail("empty ATTR section");
  c.check_count(count, 4 + 13 * width, "row count");
  reserve_for(state.attributes, state.attributes.size() + count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto& [key, row] = state.attributes.emplace_back();
    key = Key(get_string(c, options.limits.max_key_bytes, "key"));
    row.resize(width);
    for (AttributeValue& v : row) {
      const std::uint8_t present = c.u8("present flag");
      if (present > 1) c.fail("present flag " + std::to_string(present) + " is not 0 or 1");
      v.present = present == 1;
      v.number = std::bit_cast<double>(c.u64("number"));
      const std::uint32_t tags = c.u32("tag count");
      c.check_count(tags, 4, "tag count");
      v.tags.reserve(tags);
      for (std::uint32_t t = 0; t < tags; ++t) v.tags.emplace_back(get_string(c, options.limits.max_key_bytes, "tag"));
    }
  }
  c.expect_end();
}

inline void read_failures(const snapshot::Section& s, const LoadOptions& options, KeyspaceState& state) {
  PayloadCursor c = s.cursor();
  const std::uint32_t count = c.u32("failing key count");
  if (count == 0) c.fail("empty FAIL section");
  c.check_count(count, 5, "failing key count");
  reserve_for(state.failing, state.failing.size() + count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Key key(get_string(c, options.limits.max_key_bytes, "key"));
    const std::uint8_t code = c.u8("failure code");
    if (code == 0 || code >= kIndexingFailureCodes) c.fail("unknown failure code " + std::to_string(code));
    state.failing.emplace_back(std::move(key), static_cast<IndexingFailure>(code));
  }
  c.expect_end();
}

inline void read_backfill(const snapshot::Section& s, const LoadOptions& options, KeyspaceState& state) {
  PayloadCursor c = s.cursor();
  for (std::size_t code = 0; code < kBackfillFailureCodes; ++code)
    state.failure_events.by_code[code] = c.u64("failure event counter");
  BackfillCheckpoint& k = state.checkpoint;
  const std::uint8_t st = c.u8("backfill state");
  if (st > static_cast<std::uint8_t>(BackfillState::kCancelled)) c.fail("unknown backfill state code " + std::to_string(st));
  k.state = static_cast<BackfillState>(st);
  const std::uint8_t mode = c.u8("scan mode");
  if (mode != static_cast<std::uint8_t>(ScanMode::kBackfill) && mode != static_cast<std::uint8_t>(ScanMode::kReconcile))
    c.fail("unknown scan mode code " + std::to_string(mode));
  k.mode = static_cast<ScanMode>(mode);
  k.cursor = c.u64("cursor");
  for (std::uint64_t* v : {&k.counts.keys_scanned, &k.counts.inserted, &k.counts.updated, &k.counts.unchanged,
                           &k.counts.removed, &k.counts.skipped})
    *v = c.u64("scan counter");
  for (std::vector<Key>* list : {&k.touched, &k.seen, &state.pending}) {
    const std::uint32_t n = c.u32("key list length");
    c.check_count(n, 4, "key list length");
    list->reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) list->emplace_back(get_string(c, options.limits.max_key_bytes, "key"));
  }
  c.expect_end();
}

inline void read_failure_events(const snapshot::Section& s, KeyspaceState& state) {
  PayloadCursor c = s.cursor();
  const std::uint32_t count = c.u32("counter count");
  if (count == 0) c.fail("empty FEVX section");
  c.check_count(count, 9, "counter count");
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t code = c.u8("failure code");
    if (code < kBackfillFailureCodes || code >= kIndexingFailureCodes)
      c.fail("unknown failure code " + std::to_string(code));
    state.failure_events.by_code[code] = c.u64("failure event counter");
  }
  c.expect_end();
}

}  // namespace detail

/// Reads a keyspace snapshot whose vector index is an `IndexT` (FlatIndex<T, M> or
/// HnswIndex<T, M>) into a new KeyspaceIndex over `source` (which must outlive it). Throws, and
/// builds nothing, on any problem: kCorruptData for damage or a state that disagrees with the index,
/// kSchemaMismatch for another index kind or metric, or a snapshot of a bare index.
template <class IndexT>
std::unique_ptr<KeyspaceIndex<IndexT>> load_keyspace(Deserializer& in, KeyValueSource& source,
                                                     const LoadOptions& options = {},
                                                     KeyspaceOptions keyspace_options = {}) {
  using namespace snapshot;
  using Traits = detail::snapshot_index_traits<IndexT>;
  static_assert(Traits::value, "snapshots hold FlatIndex<T, …> or HnswIndex<T, …>");
  using MetricT = typename Traits::Metric;
  SnapshotReader reader(in);
  std::unique_ptr<IndexT> index;
  if constexpr (Traits::kHnsw) {
    const detail::HnswSnapshotHeader h = detail::read_hnsw_header(reader, options);
    index = detail::read_hnsw_body<MetricT, typename Traits::Element, typename Traits::Compressed>(reader, h, options);
  } else {
    const detail::FlatSnapshotHeader h = detail::read_flat_header(reader, options);
    index = detail::load_flat_after_header<MetricT, typename Traits::Element, typename Traits::Compressed>(reader, h,
                                                                                                           options);
  }
  if (reader.finished())
    throw Error(ErrorCode::kSchemaMismatch, "snapshot holds a bare index without a keyspace (no KDEF section)");
  // The index body stopped at KDEF; the reader's current section is still valid until next().
  KeyspaceState state;
  bool definition = false, backfill = false, events = false;
  std::uint32_t last = tag::kIndex;
  auto order = [](std::uint32_t t) {
    return t == tag::kDefinition ? 0 : t == tag::kAttributes ? 1 : t == tag::kFailures ? 2 : t == tag::kBackfill ? 3 : 4;
  };
  const Section* s = &reader.current();
  for (;;) {
    if (s->tag == tag::kEnd) break;
    if (s->tag == tag::kFailureEvents) {  // only right after BKFL, once
      if (!backfill || events) throw Error(ErrorCode::kCorruptData, s->where() + ": unexpected section here");
      detail::read_failure_events(*s, state);
      events = true;
      s = &detail::next_known_section(reader);
      continue;
    }
    if (order(s->tag) > 3 || (definition && order(s->tag) < order(last)) || backfill ||
        (!definition && s->tag != tag::kDefinition))
      throw Error(ErrorCode::kCorruptData, s->where() + ": unexpected section here");
    if (s->tag == tag::kDefinition) {
      if (definition) throw Error(ErrorCode::kCorruptData, s->where() + ": a second KDEF");
      state.definition = detail::read_definition(*s, options);
      definition = true;
    } else if (s->tag == tag::kAttributes) {
      detail::read_attribute_rows(*s, options, state);
    } else if (s->tag == tag::kFailures) {
      detail::read_failures(*s, options, state);
    } else {
      detail::read_backfill(*s, options, state);
      backfill = true;
    }
    last = s->tag;
    s = &detail::next_known_section(reader);
  }
  if (!backfill) throw Error(ErrorCode::kCorruptData, "snapshot END at offset " + std::to_string(reader.offset()) +
                                                          " without a BKFL section");
  try {
    return std::make_unique<KeyspaceIndex<IndexT>>(source, std::move(index), std::move(state), keyspace_options);
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorruptData, "snapshot keyspace state rejected: " + std::string(e.what()));
  }
}

}  // namespace vindex
