// examples/redis_module/cluster_search.hpp — FT.SEARCH over a whole Redis Cluster.
//
// Coordinator (any node, primary or replica, that receives FT.SEARCH in cluster mode): parses and
// checks the query as a single node would (errors before anything is sent), takes the topology,
// and asks one node per shard — its own shard is searched here, every other shard's primary, or
// its first replica when the primary is failed, unreachable or loading — for the shard's hit count
// and its first m = min(k, offset + count) hits (k for SORTBY ... DESC) with their fields. Each
// request names the slot ranges the coordinator assigns to that shard; the shard refuses slots it
// does not serve and searches only keys of those slots (a key predicate inside the search, so it
// still returns k owned hits). Both ends use the single-node FT.SEARCH's steps (ft_search.hpp):
// parse + authorize on the coordinator, search + read fields on each shard (rows exactly as one node
// writes them, within vindex.reply-max-* and the search budget), reply on the coordinator. The client is blocked until every shard answered or the deadline
// (TIMEOUT ms, else vindex.cluster-timeout-ms) passed; the answers are merged with
// vindex::merge_shard_hits — the same (distance, key) order, total, LIMIT and DESC as one index —
// and the reply is built exactly as the single-node FT.SEARCH builds it. ALLSHARDS (default): a shard
// that cannot answer is an error naming it and its slots (at once when it has no reachable node);
// SOMESHARDS: the reply comes from the shards that answered (counted in INFO). LOCALONLY searches this
// node's index alone. Inside MULTI or a script the coordinator cannot wait: it refuses (LOCALONLY
// still works). Main thread only. Next: cluster_info.hpp.
#pragma once

#include <string_view>

#include "cluster_frame.hpp"
#include "cluster_messages.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// FT.SEARCH in cluster mode.
int cluster_search(rm::Ctx* ctx, rm::String** argv, int argc);

/// Answers a SEARCH_REQ from `sender` (in the bus callback).
void serve_search(rm::Ctx* ctx, std::string_view sender, const Message& message);

/// Runs a shard request against this node's index: checks the index version and the slots, then
/// runs steps 3 and 4 of the single-node FT.SEARCH (ft_search.hpp) on keys of the request's slots
/// only, for the first m hits (the search's time budget is the request's). Used for
/// remote requests and for the coordinator's own shard alike (`check_slots` false: LOCALONLY, every
/// key of this node). Never throws for a bad request: the status says what was wrong.
SearchResponseMsg search_here(rm::Ctx* ctx, const SearchRequestMsg& request, bool check_slots = true);

}  // namespace vindex_redis
