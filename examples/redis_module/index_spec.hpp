// examples/redis_module/index_spec.hpp — what FT.CREATE asked for, parsed and validated.
//
// `IndexSpec` holds one index's name, its vindex `IndexDefinition` (prefixes, vector field, TAG and
// NUMERIC attributes), its `VectorSchema`, the algorithm (FLAT or HNSW) with its parameters, and the
// original arguments (kept so the definition can be saved in the RDB and parsed again on load).
// `parse_create` reads the arguments after the index name; it throws `vindex::Error` naming the
// offending argument. Pure functions; main thread only like the rest of the module.
// Next: any_index.hpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/limits.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/index/flat_index.hpp"
#include "vindex/index/hnsw_index.hpp"
#include "vindex/source/index_definition.hpp"

namespace vindex_redis {

/// Vector index algorithm of an index.
enum class Algorithm { kFlat, kHnsw };
/// How an index stores vectors: as given, or SQ8 (8-bit codes walked or scanned; candidates re-ranked
/// on the index's float copy, or with FLAT's EXACT_VECTORS HASH on the hash's own field).
enum class Compression { kNone, kSq8 };

/// A parsed FT.CREATE.
struct IndexSpec {
  std::string name;                          ///< index name
  vindex::IndexDefinition definition;        ///< prefixes, vector field, attributes
  vindex::VectorSchema schema;               ///< DIM, TYPE, DISTANCE_METRIC
  Algorithm algorithm = Algorithm::kFlat;    ///< FLAT or HNSW
  vindex::FlatParams flat;                   ///< FLAT: INITIAL_CAP, BLOCK_SIZE, EXACT_VECTORS (SQ8)
  vindex::HnswParams hnsw;                   ///< HNSW: M, EF_CONSTRUCTION, EF_RUNTIME, INITIAL_CAP
  Compression compression = Compression::kNone;  ///< FLAT or HNSW: COMPRESSION SQ8 (TYPE FLOAT32 only)
  bool skip_initial_scan = false;            ///< SKIPINITIALSCAN: index only keys written later
  std::vector<std::string> arguments;        ///< the arguments after the name, as given
};

/// Parses `FT.CREATE <name> <arguments…>`. Throws vindex::Error(kInvalidArgument) with a message
/// that names the offending argument.
IndexSpec parse_create(std::string_view name, const std::vector<std::string>& arguments,
                       const vindex::Limits& limits = {});

/// "FLAT" or "HNSW".
std::string_view to_string(Algorithm algorithm) noexcept;

}  // namespace vindex_redis
