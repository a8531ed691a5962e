// examples/redis_module/module_config.hpp — the module's settings, as Redis module configs.
//
// Every bound the module puts on what one client can make the server do is a Redis 7.0 module
// config named `vindex.<name>`: settable at load time (`--loadmodule vindex_redis.so` followed by
// `--vindex.search-timeout-ms 100` on the command line, or `vindex.search-timeout-ms 100` in
// redis.conf) and at run time with `CONFIG SET vindex.<name> <value>`, read with `CONFIG GET`.
// `register_config` registers them all and loads the values given at load time. Main thread only.
// Next: commands.cpp, ft_search.hpp.
#pragma once

#include <cstdint>

#include "module_api.hpp"
#include "vindex/core/limits.hpp"

namespace vindex_redis {

/// What FT.SEARCH does when its time budget runs out (RediSearch's ON_TIMEOUT policy).
enum class OnTimeout : int {
  kFail = 0,    ///< an error reply ("Timeout limit was reached …")
  kReturn = 1,  ///< the best hits found so far (counted in FT.INFO search_partial_results)
};

/// The current settings (defaults shown).
struct ModuleConfig {
  long long search_timeout_ms = 50;        ///< vindex.search-timeout-ms: FT.SEARCH budget without TIMEOUT
  long long search_timeout_max_ms = 100;   ///< vindex.search-timeout-max-ms: largest TIMEOUT accepted
  OnTimeout on_timeout = OnTimeout::kFail; ///< vindex.on-timeout: fail | return
  long long filter_max_depth = 128;        ///< vindex.filter-max-depth: nesting of ( ) and -
  long long filter_max_terms = 1024;       ///< vindex.filter-max-terms: tag lists, ranges and * tests
  long long filter_max_bytes = 65536;      ///< vindex.filter-max-bytes: length of the filter text
  long long knn_max_k = 10000;             ///< vindex.knn-max-k: largest KNN k
  long long reply_max_fields = 100000;     ///< vindex.reply-max-fields: field values one reply may read
  long long reply_max_bytes = 64ll << 20;  ///< vindex.reply-max-bytes: keys, fields and values of a reply
  long long max_indexes = 64;              ///< vindex.max-indexes: FT.CREATE refuses past this many
  long long cluster_timeout_ms = 5000;     ///< vindex.cluster-timeout-ms: how long a cluster-mode FT.*
                                           ///< waits for other shards without TIMEOUT
  long long cluster_digest_interval_ms = 1000;  ///< vindex.cluster-digest-interval-ms: catalog digests
  long long max_memory = 0;                ///< vindex.max-memory: bytes of all indexes together (0: no limit)
  long long index_max_memory = 0;          ///< vindex.index-max-memory: bytes of one index (0: no limit)

  /// vindex's Limits with the filter bounds and KNN k of these settings (defaults elsewhere).
  vindex::Limits limits() const {
    vindex::Limits l;
    l.max_k = static_cast<std::uint32_t>(knn_max_k);
    l.max_filter_depth = static_cast<std::uint32_t>(filter_max_depth);
    l.max_filter_terms = static_cast<std::uint32_t>(filter_max_terms);
    l.max_filter_bytes = static_cast<std::uint32_t>(filter_max_bytes);
    return l;
  }
};

/// The settings in force.
const ModuleConfig& config();

/// Registers every `vindex.*` config and applies the values given at load time; false when the
/// server refused one (the module then fails to load).
bool register_config(rm::Ctx* ctx);

}  // namespace vindex_redis
