// examples/redis_module/cluster.hpp — cluster mode's entry points for the rest of the module.
//
// `register_cluster` (from RedisModule_OnLoad) decides whether the server runs in cluster mode and,
// if so, starts the bus transport with the message dispatcher, the internal FT._APPLY command, the
// `INFO vindex` section and a 100 ms timer (catalog digests, stalled partial messages, overdue
// operations). Its settings are module configs (vindex.cluster-timeout-ms,
// vindex.cluster-digest-interval-ms: module_config.hpp). In standalone mode it only registers the
// INFO section: the FT.* commands take their single-node paths as before. Main thread only.
// Next: cluster_state.hpp and the files it lists.
#pragma once

#include "module_api_cluster.hpp"

namespace vindex_redis {

/// Sets up cluster mode when the server is a cluster node; false when the server refused something.
bool register_cluster(rm::Ctx* ctx);

/// True when the server runs in cluster mode (FT.* commands then cover the whole cluster).
bool cluster_mode() noexcept;

/// Called when the keyspace finished loading (RDB, AOF, full sync).
void cluster_loading_ended(rm::Ctx* ctx);

}  // namespace vindex_redis
