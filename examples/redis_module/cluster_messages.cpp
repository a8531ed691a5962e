// examples/redis_module/cluster_messages.cpp — message body encoding and checked decoding.
#include "cluster_messages.hpp"

#include <array>

namespace vindex_redis {
namespace {

constexpr std::size_t kMaxReturnFields = 1024;
constexpr std::size_t kMaxSlotRanges = kSlotCount;
constexpr std::size_t kNodeIdBytes = 40;

ShardStatus status_of(std::uint8_t v) {
  if (v > static_cast<std::uint8_t>(ShardStatus::kTimeout)) throw FrameError("unknown shard status " + std::to_string(v));
  return static_cast<ShardStatus>(v);
}

void put_slots(BodyWriter& w, const std::vector<SlotRange>& slots) {
  w.u32(static_cast<std::uint32_t>(slots.size()));
  for (const SlotRange& r : slots) {
    w.u16(r.first);
    w.u16(r.last);
  }
}

std::vector<SlotRange> get_slots(BodyReader& r) {
  const std::uint32_t n = r.count(4);
  if (n > kMaxSlotRanges) throw FrameError("too many slot ranges");
  std::vector<SlotRange> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    SlotRange s{r.u16(), r.u16()};
    if (s.first > s.last || s.last >= kSlotCount) throw FrameError("bad slot range");
    out.push_back(s);
  }
  return out;
}

void put_routes(BodyWriter& w, const std::vector<SlotRoute>& routes) {
  w.u32(static_cast<std::uint32_t>(routes.size()));
  for (const SlotRoute& r : routes) {
    w.u16(r.range.first);
    w.u16(r.range.last);
    w.str(r.node);
  }
}

// Node ids are 40 characters; `may_be_empty` for "no node known".
std::vector<SlotRoute> get_routes(BodyReader& r, bool may_be_empty) {
  const std::uint32_t n = r.count(8);
  if (n > kMaxSlotRanges) throw FrameError("too many slot routes");
  std::vector<SlotRoute> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    SlotRoute route;
    route.range = {r.u16(), r.u16()};
    if (route.range.first > route.range.last || route.range.last >= kSlotCount) throw FrameError("bad slot range");
    route.node = r.str();
    if (route.node.size() != kNodeIdBytes && !(may_be_empty && route.node.empty()))
      throw FrameError("bad node id in a slot route");
    out.push_back(std::move(route));
  }
  return out;
}

void put_fields(BodyWriter& w, const std::vector<std::pair<std::string, std::string>>& fields) {
  w.u32(static_cast<std::uint32_t>(fields.size()));
  for (const auto& [f, v] : fields) {
    w.str(f);
    w.str(v);
  }
}

std::vector<std::pair<std::string, std::string>> get_fields(BodyReader& r) {
  const std::uint32_t n = r.count(8);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string f = r.str();
    out.emplace_back(std::move(f), r.str());
  }
  return out;
}

}  // namespace

std::string_view to_string(ShardStatus status) noexcept {
  switch (status) {
    case ShardStatus::kOk: return "ok";
    case ShardStatus::kNoIndex: return "no such index";
    case ShardStatus::kStaleIndex: return "index differs";
    case ShardStatus::kWrongSlots: return "does not serve the slots";
    case ShardStatus::kLoading: return "loading";
    case ShardStatus::kBadRequest: return "bad request";
    case ShardStatus::kTooLarge: return "answer too large";
    case ShardStatus::kError: return "error";
    case ShardStatus::kTimeout: return "timed out";
  }
  return "?";
}

std::string encode(const SearchRequestMsg& m) {
  BodyWriter w;
  w.str(m.index);
  w.u64(m.version);
  w.u64(m.fingerprint);
  put_slots(w, m.slots);
  w.u8(m.mode);
  w.str(m.blob);
  w.str(m.filter);
  w.u32(m.k);
  w.u32(m.m);
  w.u32(m.ef);
  w.u8(static_cast<std::uint8_t>((m.no_content ? 1 : 0) | (m.return_fields ? 2 : 0) | (m.partial_on_timeout ? 4 : 0) |
                                 (m.fallback ? 8 : 0)));
  if (m.return_fields) {
    w.u32(static_cast<std::uint32_t>(m.return_fields->size()));
    for (const std::string& f : *m.return_fields) w.str(f);
  }
  w.str(m.score_field);
  w.u32(m.timeout_ms);
  w.u32(m.tag);
  return w.take();
}

SearchRequestMsg decode_search_request(std::string_view body) {
  BodyReader r(body);
  SearchRequestMsg m;
  m.index = r.str();
  m.version = r.u64();
  m.fingerprint = r.u64();
  m.slots = get_slots(r);
  m.mode = r.u8();
  if (m.mode > 1) throw FrameError("unknown search mode " + std::to_string(m.mode));
  m.blob = r.str();
  m.filter = r.str();
  m.k = r.u32();
  m.m = r.u32();
  m.ef = r.u32();
  if (m.m > m.k) throw FrameError("asked for more hits than k");
  const std::uint8_t flags = r.u8();
  if (flags & ~15u) throw FrameError("unknown search flags");
  m.no_content = (flags & 1u) != 0;
  m.partial_on_timeout = (flags & 4u) != 0;
  m.fallback = (flags & 8u) != 0;
  if (flags & 2u) {
    const std::uint32_t n = r.count(4);
    if (n > kMaxReturnFields) throw FrameError("too many RETURN fields");
    std::vector<std::string> fields;
    fields.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) fields.push_back(r.str());
    m.return_fields = std::move(fields);
  }
  m.score_field = r.str();
  m.timeout_ms = r.u32();
  m.tag = r.u32();
  r.finish();
  return m;
}

std::string encode(const SearchResponseMsg& m) {
  BodyWriter w;
  w.u8(static_cast<std::uint8_t>(m.status));
  w.u32(m.tag);
  w.str(m.message);
  w.u64(m.version);
  w.u64(m.fingerprint);
  w.u32(m.found);
  w.u8(m.partial ? 1 : 0);
  put_routes(w, m.migrating);
  put_routes(w, m.moved);
  w.u32(static_cast<std::uint32_t>(m.hits.size()));
  for (const ShardHit& h : m.hits) {
    w.str(h.key);
    w.f32(h.distance);
    put_fields(w, h.fields);
  }
  return w.take();
}

SearchResponseMsg decode_search_response(std::string_view body) {
  BodyReader r(body);
  SearchResponseMsg m;
  m.status = status_of(r.u8());
  m.tag = r.u32();
  m.message = r.str();
  m.version = r.u64();
  m.fingerprint = r.u64();
  m.found = r.u32();
  m.partial = r.boolean();
  m.migrating = get_routes(r, false);
  m.moved = get_routes(r, true);
  const std::uint32_t n = r.count(12);
  if (n > m.found) throw FrameError("more hits than found");
  m.hits.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    ShardHit h;
    h.key = r.str();
    h.distance = r.f32();
    h.fields = get_fields(r);
    m.hits.push_back(std::move(h));
  }
  r.finish();
  return m;
}

std::string encode(const InfoRequestMsg& m) {
  BodyWriter w;
  w.str(m.index);
  return w.take();
}

InfoRequestMsg decode_info_request(std::string_view body) {
  BodyReader r(body);
  InfoRequestMsg m;
  m.index = r.str();
  r.finish();
  return m;
}

namespace {
// The fields of an InfoDetailMsg in wire order (encode and decode walk the same list).
template <class Detail>
auto detail_fields(Detail& d) {
  return std::array{&d.vectors, &d.codes, &d.links, &d.keys, &d.other, &d.memory_peak, &d.memory_limit,
                    &d.memory_limit_refusals, &d.pending_tombstones, &d.maintenance_rounds,
                    &d.maintenance_write_ns, &d.maintenance_longest_write_ns, &d.maintenance_timer_ns};
}
}  // namespace

std::string encode(const InfoResponseMsg& m) {
  BodyWriter w;
  w.u8(static_cast<std::uint8_t>(m.status));
  w.str(m.message);
  w.u64(m.version);
  w.u64(m.fingerprint);
  w.u64(m.num_docs);
  w.u64(m.hash_indexing_failures);
  w.u32(static_cast<std::uint32_t>(m.failures_by_code.size()));
  for (std::uint64_t c : m.failures_by_code) w.u64(c);
  w.u8(m.in_progress ? 1 : 0);
  w.f64(m.percent);
  w.str(m.state);
  w.str(m.backfill_error);
  w.u8(m.reconciling ? 1 : 0);
  for (std::uint64_t c : m.counts) w.u64(c);
  w.u8(m.snapshot_loaded ? 1 : 0);
  w.str(m.snapshot_error);
  w.u64(m.snapshot_bytes);
  w.f64(m.snapshot_ms);
  w.u64(m.search_timeouts);
  w.u64(m.search_partial);
  w.u64(m.memory_bytes);
  if (m.detail)
    for (const std::uint64_t* v : detail_fields(*m.detail)) w.u64(*v);
  return w.take();
}

InfoResponseMsg decode_info_response(std::string_view body) {
  BodyReader r(body);
  InfoResponseMsg m;
  m.status = status_of(r.u8());
  m.message = r.str();
  m.version = r.u64();
  m.fingerprint = r.u64();
  m.num_docs = r.u64();
  m.hash_indexing_failures = r.u64();
  const std::uint32_t codes = r.count(8);
  if (codes > 64) throw FrameError("too many failure codes");
  for (std::uint32_t i = 0; i < codes; ++i) m.failures_by_code.push_back(r.u64());
  m.in_progress = r.boolean();
  m.percent = r.f64();
  m.state = r.str();
  m.backfill_error = r.str();
  m.reconciling = r.boolean();
  for (std::uint64_t& c : m.counts) c = r.u64();
  m.snapshot_loaded = r.boolean();
  m.snapshot_error = r.str();
  m.snapshot_bytes = r.u64();
  m.snapshot_ms = r.f64();
  m.search_timeouts = r.u64();
  m.search_partial = r.u64();
  m.memory_bytes = r.u64();
  if (r.remaining() != 0) {  // a shard that sends the detail sends all of it
    InfoDetailMsg d;
    for (std::uint64_t* v : detail_fields(d)) *v = r.u64();
    m.detail = d;
  }
  r.finish();
  return m;
}

std::string encode(const CatalogDigestMsg& m) {
  BodyWriter w;
  w.u64(m.digest);
  w.u32(m.entries);
  w.u64(m.max_version);
  w.u8(m.primary ? 1 : 0);
  return w.take();
}

CatalogDigestMsg decode_catalog_digest(std::string_view body) {
  BodyReader r(body);
  CatalogDigestMsg m;
  m.digest = r.u64();
  m.entries = r.u32();
  m.max_version = r.u64();
  m.primary = r.boolean();
  r.finish();
  return m;
}

std::string encode(const CatalogPutMsg& m) {
  BodyWriter w;
  w.u8(m.wants_ack ? 1 : 0);
  w.u32(static_cast<std::uint32_t>(m.entries.size()));
  for (const CatalogEntry& e : m.entries) encode_entry(w, e);
  return w.take();
}

CatalogPutMsg decode_catalog_put(std::string_view body) {
  BodyReader r(body);
  CatalogPutMsg m;
  m.wants_ack = r.boolean();
  const std::uint32_t n = r.count(29);
  m.entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) m.entries.push_back(decode_entry(r));
  r.finish();
  return m;
}

std::string encode(const CatalogAckMsg& m) {
  BodyWriter w;
  w.u32(static_cast<std::uint32_t>(m.items.size()));
  for (const CatalogAckItem& item : m.items) {
    w.str(item.name);
    w.u8(static_cast<std::uint8_t>(item.result));
    w.u8(item.ours ? 1 : 0);
    if (item.ours) encode_entry(w, *item.ours);
  }
  return w.take();
}

CatalogAckMsg decode_catalog_ack(std::string_view body) {
  BodyReader r(body);
  CatalogAckMsg m;
  const std::uint32_t n = r.count(6);
  m.items.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    CatalogAckItem item;
    item.name = r.str();
    const std::uint8_t result = r.u8();
    if (result > 2) throw FrameError("unknown ack result " + std::to_string(result));
    item.result = static_cast<AckResult>(result);
    if (r.boolean()) item.ours = decode_entry(r);
    m.items.push_back(std::move(item));
  }
  r.finish();
  return m;
}

}  // namespace vindex_redis
