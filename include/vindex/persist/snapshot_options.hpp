// vindex/persist/snapshot_options.hpp — what snapshot writers and loaders can be told.
//
// `SaveOptions` sets how large the writer makes its entry sections. `LoadOptions` carries what a
// loader checks untrusted input against besides the format's own rules: the `Limits` the new index
// will have (DIM, BLOCK_SIZE, key length), an optional expected schema (the host's index
// definition), and a cap on the memory one storage block may take, so that a few hostile bytes
// cannot ask for a giant allocation, and the memory resource the loaded index allocates from
// (core/memory.hpp). Plain value types. Next: persist/snapshot_format.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
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
  /// Largest storage block (BLOCK_SIZE × bytes per vector) a snapshot may ask for (default 256 MiB):
  /// a snapshot asking for more is corrupt. (The loaded index then clamps its blocks to
  /// limits.max_block_bytes like any index, so older snapshots with large blocks still load.)
  std::uint64_t max_block_bytes = std::uint64_t{256} << 20;
  /// Where the loaded index (and a loaded keyspace index's attributes and bookkeeping) take their
  /// memory from; null: operator new. Must outlive the index. A load that runs out of it (std::bad_alloc,
  /// MemoryLimitExceeded) throws that, builds nothing and gives back all it took. The loader's own
  /// temporaries (the decoded sections) use operator new.
  std::pmr::memory_resource* memory = nullptr;
};

}  // namespace vindex
