// vindex/source/key_value_source.hpp — the interface a host implements over its own storage.
//
// A host database keeps entries as hashes: a binary-safe key maps to named fields whose values are
// byte strings (`HSET doc:1 vec <blob> genre jazz`). vindex reads them through `KeyValueSource`:
// a resumable cursor scan (Redis `SCAN` semantics: it may return a key twice, but never misses a key
// that exists for the whole scan), a point read of one key, and an approximate entry count for
// progress reports. Fields are handed over through `FieldReader`, a view that is only valid inside
// the callback, so a host can serve them straight from its own memory without copying.
//
// Thread-safety: vindex calls a source from one thread at a time (whichever thread drives the
// backfill, calls a mutation hook, or searches an index that re-ranks from the host: see
// source/keyspace_index.hpp); a source need not be
// synchronised unless the host itself uses it from several threads. A source reports failures by
// throwing (any std::exception); vindex catches them at its API edge. Next: source/index_definition.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "vindex/core/types.hpp"

namespace vindex {

/// Position of a resumable scan. 0 starts a scan, and a scan returns 0 when it is complete.
using Cursor = std::uint64_t;

/// Read access to one entry's fields. The views it returns are valid only during the callback that
/// received the reader.
class FieldReader {
 public:
  /// The bytes of field `name`, or nullopt when the entry has no such field.
  virtual std::optional<std::string_view> field(std::string_view name) const = 0;

 protected:
  ~FieldReader() = default;
};

/// A host's keyspace, as vindex sees it.
class KeyValueSource {
 public:
  /// Called once per entry a scan visits: its key and its fields (both valid during the call only).
  using ScanVisitor = std::function<void(KeyView key, const FieldReader& fields)>;
  /// Called with the fields of the entry a point read found.
  using ReadVisitor = std::function<void(const FieldReader& fields)>;

  virtual ~KeyValueSource() = default;

  /// Visits up to `budget` entries starting at `cursor` (0 = from the start) and returns the cursor
  /// to continue from, or 0 when the scan is complete. Like Redis SCAN it may visit a key more than
  /// once, but must visit every key that exists from the first call to the last. May throw.
  virtual Cursor scan(Cursor cursor, std::size_t budget, const ScanVisitor& visit) = 0;

  /// Calls `visit` with the fields of `key` and returns true, or returns false when the key does not
  /// exist. May throw.
  virtual bool read(KeyView key, const ReadVisitor& visit) = 0;

  /// Roughly how many entries the source holds (used only for percent-complete reports).
  virtual std::size_t approximate_count() const = 0;
};

}  // namespace vindex
