// examples/redis_module/cluster_info.hpp — FT.INFO over a whole Redis Cluster.
//
// `FT.INFO idx` in cluster mode asks one node per shard (as FT.SEARCH does: its own shard here, the
// primary or else a replica elsewhere) for its figures and replies in the single-node shape with
// num_docs, num_records, hash_indexing_failures, scan counts, snapshot bytes and memory summed,
// indexing / backfill_in_progress set when any shard scans, percent_indexed and
// backfill_complete_percent the lowest, state the worst, then `cluster_shards` (count) and `shards`
// (per shard: node, id, slots, num_docs, state, backfill_complete_percent, version). A shard whose
// index has another version than this node's is an error (the catalog has not converged yet).
// `FT.INFO idx LOCAL` is the single-node reply of this node's index; ALLSHARDS / SOMESHARDS as in
// FT.SEARCH; TIMEOUT ms. Main thread only. Next: cluster.hpp.
#pragma once

#include <string_view>

#include "cluster_frame.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// FT.INFO in cluster mode.
int cluster_info(rm::Ctx* ctx, rm::String** argv, int argc);

/// Answers an INFO_REQ from `sender` (in the bus callback).
void serve_info(rm::Ctx* ctx, std::string_view sender, const Message& message);

}  // namespace vindex_redis
