// examples/redis_module/cluster.hpp — cluster mode's entry points for the rest of the module.
//
// `register_cluster` (from RedisModule_OnLoad) decides whether the server runs in cluster mode and,
// if so, starts the bus transport with the message dispatcher, the internal FT._APPLY command, the
// `INFO vindex` section and a 100 ms timer (catalog digests, stalled partial messages, overdue
// operations, slots this node's shard stopped serving). Its settings are module configs (vindex.cluster-timeout-ms,
// vindex.cluster-digest-interval-ms: module_config.hpp). In standalone mode it only registers the
// INFO sections (`INFO vindex` also carries the index memory section of module_memory.hpp): the FT.*
// commands take their single-node paths as before. Main thread only.
// Next: cluster_state.hpp and the files it lists.
#pragma once

#include "cluster_topology.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// Sets up cluster mode when the server is a cluster node; false when the server refused something.
bool register_cluster(rm::Ctx* ctx);

/// True when the server runs in cluster mode (FT.* commands then cover the whole cluster).
bool cluster_mode() noexcept;

/// Called when the keyspace finished loading (RDB, AOF, full sync).
void cluster_loading_ended(rm::Ctx* ctx);

/// Slot loss without notification. Redis 7.0 deletes the keys of a slot a primary loses while it
/// still holds keys (a forced CLUSTER SETSLOT NODE + BUMPEPOCH elsewhere; `delKeysInSlot`) without
/// telling modules, and does not propagate that to its replicas. The slot filter hides such
/// entries at once (the node no longer answers for the slot); this reclaims them: given this node's
/// current view (read by the 100 ms timer and by every shard answer), when its shard serves fewer
/// slots than at the last look, every index re-reads its entries of the lost slots
/// (Registry::reconcile_keys): those whose key is gone are removed (memory, num_docs, failure
/// counts), those still there (a replica keeps them) stay. Entries of lost slots exist only when
/// keys went without notification (MIGRATE deletes with one), so a reshard costs a pass over the
/// index's keys per lost-slot observation and no reads.
void served_slots_seen(rm::Ctx* ctx, const SelfView& view);

}  // namespace vindex_redis
