// vindex/persist/snapshot_options.hpp — what snapshot writers and loaders can be told.
//
// `SaveOptions` sets how large the writer makes its entry sections. `LoadOptions` carries what a
// loader checks untrusted input against besides the format's own rules: the `Limits` the new index
// will have (DIM, BLOCK_SIZE, key length), an optional expected schema (the host's index
// definition), and a cap on the memory one storage block may take, so that a few hostile bytes
// cannot ask for a giant allocation. Plain value types. Next: persist/flat_snapshot.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "vindex/core/limits.hpp"
#include "vindex/core/schema.hpp"

namespace vindex {

/// Options of the snapshot writers.
struct SaveOptions {
  /// Entries are batched into sections of about this many bytes (at least one entry per section;
  /// clamped to 1..32 MiB). Smaller sections cost 20 bytes of framing each.
  std::size_t section_bytes = std::size_t{1} << 20;
};

/// Options of the snapshot loaders.
struct LoadOptions {
  /// Limits of the loaded index; a snapshot whose DIM, BLOCK_SIZE or keys exceed them is corrupt.
  Limits limits{};
  /// When set, a snapshot with another schema (DIM, TYPE, DISTANCE_METRIC) is kSchemaMismatch.
  std::optional<VectorSchema> expect_schema{};
  /// Largest storage block (BLOCK_SIZE × bytes per vector) a snapshot may ask for (default 256 MiB).
  std::uint64_t max_block_bytes = std::uint64_t{256} << 20;
};

}  // namespace vindex
