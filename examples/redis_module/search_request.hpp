// examples/redis_module/search_request.hpp — FT.SEARCH arguments and the KNN query string.
//
// `parse_search` reads `FT.SEARCH <index> "<filter>=>[KNN k @field $param [EF_RUNTIME n] [AS alias]]"
// [NOCONTENT] [RETURN n f…] [SORTBY f [ASC|DESC]] [LIMIT offset num] [PARAMS n name value…]
// [DIALECT d] [TIMEOUT ms] [ALLSHARDS|SOMESHARDS] [LOCALONLY]` in any order after the query. The filter part is handed to vindex's RediSearch filter
// parser (vindex::parse_filter) unchanged. `k` and `EF_RUNTIME` may be `$name` parameters. Throws
// vindex::Error naming what was wrong. Pure function. Next: commands.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

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
  std::optional<std::size_t> timeout_ms;  ///< TIMEOUT (cluster mode: the fan-out deadline)
  /// Cluster mode: ALLSHARDS (default: a shard that cannot answer is an error) or SOMESHARDS (reply
  /// from the shards that answered); LOCALONLY searches this node's index alone. Standalone mode
  /// accepts and ignores them.
  bool some_shards = false;
  bool local_only = false;
};

/// Parses the arguments after the index name. `max_k` bounds k (vindex checks it again).
SearchRequest parse_search(const std::vector<std::string>& arguments, std::size_t max_k);

}  // namespace vindex_redis
