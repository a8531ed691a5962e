// examples/redis_module/cluster_catalog.hpp — index definitions kept equal on every node.
//
// FT.CREATE / FT.DROPINDEX on any primary: the change gets the next version of the name (a drop
// leaves a tombstone), is applied here, replicated to this node's replicas and AOF as the internal
// `FT._APPLY <entry>`, and pushed (CATALOG_PUT) to every other primary; the client is blocked until
// every primary acknowledged (each applies, replicates FT._APPLY to its own replicas and answers
// CATALOG_ACK), then gets OK — or, at the deadline or at once for a primary that cannot be reached,
// an error naming who did not acknowledge (the change stays where it was applied: the digest
// exchange below finishes the job). When another primary holds an entry that supersedes the pushed
// one (a concurrent FT.CREATE of the same name), it says so, this node adopts the winner, and the
// client is told the index already exists. Every primary broadcasts a 64-bit digest of its catalog
// every vindex.cluster-digest-interval-ms (± 20 %); a primary whose digest differs asks the sender
// for its entries (CATALOG_GET) and merges them, so nodes that were down, promoted replicas and
// nodes added with `redis-cli --cluster add-node` converge without any command. FT._APPLY is
// accepted only from the master link or while loading the AOF. The catalog (versions and
// tombstones) is saved in the RDB with the indexes (persistence.cpp). Main thread only.
// Next: cluster_info.hpp.
#pragma once

#include <string_view>

#include "catalog.hpp"
#include "cluster_frame.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// This node's catalog (cluster mode only; empty otherwise).
Catalog& node_catalog();

/// FT.CREATE in cluster mode.
int cluster_create(rm::Ctx* ctx, rm::String** argv, int argc);
/// FT.DROPINDEX in cluster mode.
int cluster_dropindex(rm::Ctx* ctx, rm::String** argv, int argc);
/// FT._APPLY <entry>: a catalog change from the master link or the AOF.
int ft_apply(rm::Ctx* ctx, rm::String** argv, int argc);

/// Handles CATALOG_DIGEST, CATALOG_GET and CATALOG_PUT from `sender` (CATALOG_ACK goes to the
/// operation waiting for it).
void on_catalog_message(rm::Ctx* ctx, std::string_view sender, Message& message);
/// Broadcasts this node's digest (primaries only); called from the cluster timer.
void broadcast_digest(rm::Ctx* ctx);
/// After a load: every index of the registry gets a catalog entry (an RDB written before cluster
/// mode has none) and every live entry an index.
void reconcile_catalog(rm::Ctx* ctx);

}  // namespace vindex_redis
