// examples/redis_module/catalog.cpp — catalog entries, their order, digest and encoding.
#include "catalog.hpp"

#include <tuple>

namespace vindex_redis {
namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

void fnv(std::uint64_t& h, std::string_view bytes) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
}

void fnv_u64(std::uint64_t& h, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xffu;
    h *= kFnvPrime;
  }
}

// Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
void fnv_str(std::uint64_t& h, std::string_view s) {
  fnv_u64(h, s.size());
  fnv(h, s);
}

std::string number(std::size_t v) { return std::to_string(v); }

constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxOriginBytes = 64;
constexpr std::size_t kMaxArguments = 1u << 16;

}  // namespace

bool supersedes(const CatalogEntry& a, const CatalogEntry& b) noexcept {
  return std::tie(a.version, a.fingerprint, a.origin) > std::tie(b.version, b.fingerprint, b.origin);
}

std::vector<std::string> canonical_arguments(const IndexSpec& spec) {
  std::vector<std::string> out{"ON", "HASH", "PREFIX", number(spec.definition.prefixes.size())};
  for (const std::string& p : spec.definition.prefixes) out.push_back(p);
  if (spec.skip_initial_scan) out.push_back("SKIPINITIALSCAN");
  out.insert(out.end(), {"SCHEMA", spec.definition.vector_field, "VECTOR", std::string(to_string(spec.algorithm))});
  const bool hnsw = spec.algorithm == Algorithm::kHnsw;
  std::vector<std::string> attrs{"TYPE", std::string(vindex::to_string(spec.schema.type)), "DIM",
                                 number(spec.schema.dim), "DISTANCE_METRIC",
                                 std::string(vindex::to_string(spec.schema.metric)), "INITIAL_CAP",
                                 number(hnsw ? spec.hnsw.initial_cap : spec.flat.initial_cap), "BLOCK_SIZE",
                                 number(hnsw ? spec.hnsw.block_size : spec.flat.block_size)};
  if (hnsw) {
    attrs.insert(attrs.end(), {"M", number(spec.hnsw.m), "EF_CONSTRUCTION", number(spec.hnsw.ef_construction),
                               "EF_RUNTIME", number(spec.hnsw.ef_runtime)});
  }
  // Only when not the default, so that the fingerprints of indexes without them stay as they were.
  if (spec.compression == Compression::kSq8) attrs.insert(attrs.end(), {"COMPRESSION", "SQ8"});
  if (spec.flat.exact_vectors == vindex::ExactVectors::kHost) attrs.insert(attrs.end(), {"EXACT_VECTORS", "HASH"});
  out.push_back(number(attrs.size()));
  out.insert(out.end(), attrs.begin(), attrs.end());
  for (const vindex::AttributeField& a : spec.definition.attributes) {
    out.push_back(a.name);
    if (a.type == vindex::AttributeType::kTag) {
      out.insert(out.end(), {"TAG", "SEPARATOR", std::string(1, a.separator)});
      if (a.case_sensitive) out.push_back("CASESENSITIVE");
    } else {
      out.push_back("NUMERIC");
    }
  }
  return out;
}

std::uint64_t fingerprint_of(const IndexSpec& spec) {
  std::uint64_t h = kFnvOffset;
  for (const std::string& a : canonical_arguments(spec)) fnv_str(h, a);
  return h == 0 ? 1 : h;
}

const CatalogEntry* Catalog::find(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

MergeOutcome Catalog::merge(const CatalogEntry& entry) {
  auto it = entries_.find(entry.name);
  if (it == entries_.end()) {
    entries_.emplace(entry.name, entry);
    return MergeOutcome::kApplied;
  }
  if (supersedes(entry, it->second)) {
    it->second = entry;
    return MergeOutcome::kApplied;
  }
  return supersedes(it->second, entry) ? MergeOutcome::kOlder : MergeOutcome::kAlready;
}

void Catalog::put(CatalogEntry entry) {
  std::string name = entry.name;
  entries_.insert_or_assign(std::move(name), std::move(entry));
}

std::uint64_t Catalog::next_version(std::string_view name) const {
  const CatalogEntry* e = find(name);
  return e ? e->version + 1 : 1;
}

std::uint64_t Catalog::digest() const {
  if (entries_.empty()) return 0;
  std::uint64_t h = kFnvOffset;
  for (const auto& [name, e] : entries_) {
    fnv_str(h, name);
    fnv_u64(h, e.version);
    fnv_u64(h, e.fingerprint);
    fnv_str(h, e.origin);
    fnv_u64(h, e.tombstone ? 1 : 0);
  }
  return h == 0 ? 1 : h;
}

std::uint64_t Catalog::max_version() const {
  std::uint64_t v = 0;
  for (const auto& [name, e] : entries_) v = std::max(v, e.version);
  return v;
}

void encode_entry(BodyWriter& out, const CatalogEntry& entry) {
  out.str(entry.name);
  out.u64(entry.version);
  out.u64(entry.fingerprint);
  out.str(entry.origin);
  out.u8(entry.tombstone ? 1 : 0);
  out.u32(static_cast<std::uint32_t>(entry.arguments.size()));
  for (const std::string& a : entry.arguments) out.str(a);
}

CatalogEntry decode_entry(BodyReader& in) {
  CatalogEntry e;
  e.name = in.str();
  if (e.name.empty() || e.name.size() > kMaxNameBytes) throw FrameError("catalog entry name of bad length");
  e.version = in.u64();
  e.fingerprint = in.u64();
  e.origin = in.str();
  if (e.origin.size() > kMaxOriginBytes) throw FrameError("catalog entry origin too long");
  e.tombstone = in.boolean();
  const std::uint32_t n = in.count(4);
  if (n > kMaxArguments) throw FrameError("catalog entry has too many arguments");
  if (e.tombstone && n != 0) throw FrameError("a tombstone has arguments");
  e.arguments.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) e.arguments.push_back(in.str());
  return e;
}

}  // namespace vindex_redis
