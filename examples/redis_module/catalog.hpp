// examples/redis_module/catalog.hpp — the cluster-wide list of index definitions, with versions.
//
// In a Redis Cluster every node must hold the same indexes. Each index name has one `CatalogEntry`:
// its FT.CREATE arguments (or a tombstone once dropped), a version that every change of the name
// raises, the fingerprint of the definition (a hash of its canonical arguments, so spelling does not
// matter) and the node that made the change. Nodes exchange entries and keep, per name, the one
// that `supersedes` the other: higher version, then higher fingerprint, then higher origin id —
// a total order, so two nodes that saw the same entries in any order hold the same catalog, and two
// concurrent FT.CREATE of one name converge to one winner everywhere. Tombstones stay (they are
// small) so a node that was down cannot bring a dropped index back. `digest()` summarises the whole
// catalog in 64 bits for the periodic comparison between nodes. Pure code (no Redis calls).
// Main thread only. Next: cluster_catalog.hpp (how entries travel).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_frame.hpp"
#include "index_spec.hpp"

namespace vindex_redis {

/// One index name's definition (or tombstone) at one version.
struct CatalogEntry {
  std::string name;
  std::uint64_t version = 0;
  std::uint64_t fingerprint = 0;        ///< of the canonical arguments; 0 for a tombstone
  std::string origin;                   ///< id of the node that made this version
  bool tombstone = false;
  std::vector<std::string> arguments;   ///< FT.CREATE arguments after the name (none for a tombstone)
  friend bool operator==(const CatalogEntry&, const CatalogEntry&) = default;
};

/// Whether `a` wins over `b` for the same name (strictly: an entry does not supersede itself).
bool supersedes(const CatalogEntry& a, const CatalogEntry& b) noexcept;

/// The FT.CREATE arguments (after the name) that describe `spec` in one canonical spelling.
std::vector<std::string> canonical_arguments(const IndexSpec& spec);
/// 64-bit fingerprint of a definition: FNV-1a over its canonical arguments (never 0).
std::uint64_t fingerprint_of(const IndexSpec& spec);

/// What merging an entry did.
enum class MergeOutcome {
  kApplied,  ///< the entry was new or superseded ours: it is ours now
  kAlready,  ///< we hold exactly this entry
  kOlder,    ///< ours supersedes it: nothing changed
};

/// Entries by name.
class Catalog {
 public:
  /// The entry for `name` (live or tombstone), or null.
  const CatalogEntry* find(std::string_view name) const;
  /// Keeps `entry` when it supersedes ours (or we have none).
  MergeOutcome merge(const CatalogEntry& entry);
  /// Sets the entry for its name unconditionally (local changes that already won, RDB load).
  void put(CatalogEntry entry);
  /// The version a new change of `name` gets: ours (tombstone included) + 1.
  std::uint64_t next_version(std::string_view name) const;
  /// Every entry, by name.
  const std::map<std::string, CatalogEntry, std::less<>>& entries() const noexcept { return entries_; }
  /// 64-bit summary of every entry (name, version, fingerprint, origin, tombstone); equal catalogs
  /// have equal digests. 0 for an empty catalog.
  std::uint64_t digest() const;
  /// Highest version of any entry.
  std::uint64_t max_version() const;
  void clear() { entries_.clear(); }

 private:
  std::map<std::string, CatalogEntry, std::less<>> entries_;
};

/// Body encoding of one entry (used by catalog messages and the RDB).
void encode_entry(BodyWriter& out, const CatalogEntry& entry);
/// Decodes one entry; throws FrameError (bad bytes, a name or origin too long, too many arguments).
CatalogEntry decode_entry(BodyReader& in);

}  // namespace vindex_redis
