// examples/redis_module/search_request.hpp — FT.SEARCH arguments and the KNN query string.
//
// `parse_search` reads `FT.SEARCH <index> "<filter>=>[KNN k @field $param [EF_RUNTIME n] [AS alias]]"
// [NOCONTENT] [RETURN n f…] [SORTBY f [ASC|DESC]] [LIMIT offset num] [PARAMS n name value…]
// [DIALECT d] [TIMEOUT ms] [ALLSHARDS|SOMESHARDS] [LOCALONLY]` in any order after the query. The filter part is handed to vindex's
// RediSearch filter parser (vindex::parse_filter) unchanged. `k` and `EF_RUNTIME` may be `$name`
// parameters. Throws vindex::Error naming what was wrong and the bound it broke. Pure function.
// Next: ft_search.hpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "vindex/core/limits.hpp"

namespace vindex_redis {

/// A parsed FT.SEARCH.
struct SearchRequest {
  std::string filter = "*";            ///< the part before `=>`, for vindex::parse_filter
  std::size_t k = 0;                   ///< KNN k
  std::string vector_field;            ///< field after `@`
  std::string blob;                    ///< the query vector's bytes (from PARAMS)
  std::optional<std::size_t> ef_runtime;  ///< per-query EF_RUNTIME
  std::string score_field;             ///< `__<field>_score` or the AS alias
  bool no_content = false;             ///< NOCONTENT
  std::optional<std::vector<std::string>> return_fields;  ///< RETURN fields (none: all)
  bool descending = false;             ///< SORTBY <score> DESC
  std::size_t offset = 0;              ///< LIMIT offset
  std::size_t count = 10;              ///< LIMIT num
  std::optional<std::size_t> timeout_ms;  ///< TIMEOUT (0: the largest allowed)
  /// Cluster mode: ALLSHARDS (default: a shard that cannot answer is an error) or SOMESHARDS (reply
  /// from the shards that answered); LOCALONLY searches this node's index alone. Standalone mode
  /// accepts and ignores them.
  bool some_shards = false;
  bool local_only = false;
};

/// What parse_search checks numbers against.
struct SearchBounds {
  std::size_t max_k = vindex::Limits{}.max_k;    ///< KNN k: 1..max_k (vindex.knn-max-k)
  std::size_t max_ef = vindex::Limits{}.max_ef;  ///< EF_RUNTIME: 1..max_ef (vindex::Limits::max_ef)
  std::size_t max_timeout_ms = 100;              ///< TIMEOUT: 0..max (vindex.search-timeout-max-ms)
};

/// Parses the arguments after the index name (vindex checks k and EF again).
SearchRequest parse_search(const std::vector<std::string>& arguments, const SearchBounds& bounds = {});

}  // namespace vindex_redis
