// examples/redis_module/cluster_search.hpp — FT.SEARCH over a whole Redis Cluster, exact while slots move.
//
// Coordinator (any node, primary or replica, that receives FT.SEARCH in cluster mode): parses and
// checks the query as a single node would (errors before anything is sent), takes the topology
// (CLUSTER SHARDS, cached 100 ms) and sends one request per shard to its primary — its own search
// when this node is that primary; a replica only stands in for a primary that is failed,
// unreachable or loading (a replica coordinator asks its primary too: its own copy may lag and
// cannot see its primary's migrations). Each request names the slot ranges it covers; the shard
// searches only keys of the slots it answers, inside the search (vindex's `keep` predicate, so it
// still returns k hits of those slots), and returns its hit count and first m = min(k, offset +
// count) hits (k for SORTBY ... DESC) with their fields. Both ends use the single-node FT.SEARCH's
// steps (ft_search.hpp). The client is blocked until every request is answered or the deadline
// (TIMEOUT ms, else vindex.cluster-timeout-ms) passed; the answers are merged with
// vindex::merge_shard_hits — the (distance, key) order, a key returned twice counted once, total,
// LIMIT and DESC as one index — and the reply is built as the single-node FT.SEARCH builds it.
// ALLSHARDS (default): a shard that cannot answer is an error naming it and its slots (at once when
// it has no reachable node); SOMESHARDS: the reply comes from the shards that answered (counted in
// INFO). LOCALONLY searches this node's index alone. Inside MULTI or a script the coordinator cannot
// wait: it refuses (LOCALONLY still works). Main thread only. Next: cluster_info.hpp.
//
// Which slots a node answers (`plan_slots`, cluster_topology.hpp) comes from CLUSTER NODES read when
// it answers, never from a cache: a primary answers the asked slots it serves; a replica answers
// its primary's slots only when asked as a stand-in; in the importing follow-up (mode 1) a primary
// also answers slots it is IMPORTING. Every other asked slot comes back as `moved`, with the node
// that serves it as the answering node sees it; answered slots it is MIGRATING come back with
// their importing node (and then, as in every mode-1 answer, every hit it found, those past m as
// key and distance only, so every key both ends return is seen, and counted once).
//
// The migration rule (issue #18). For each answer, after it has arrived and never before:
//   * slots reported MIGRATING (source → target) are asked of the target in mode 1;
//   * slots reported `moved` are asked of the named node in mode 0 (of the topology's owner, read
//     afresh, when none is named; a shard of an older version answering WRONG_SLOTS is handled so);
// and the merge keeps one entry per key. A slot's requests thus form a chain in time, each sent
// after the previous answer, at most 6 long (then an error: the slot kept moving).
// Why every key that exists throughout the query is returned exactly once (when among the top k):
//   1. Redis moves a key only by MIGRATE, from the node serving its slot, which has it MIGRATING,
//      to that slot's IMPORTING node, which is the target the source names; MIGRATE blocks the
//      source, which answers either before (the key is still there) or after (it is on the target).
//      A node stops serving a slot only once the slot's keys are gone from it (redis-cli moves the
//      keys first, then sets the slot's node on the target first), or by deleting them (below).
//   2. So when a node answers for a slot, each of the slot's keys is on it (it answers with it) or
//      was moved before, along the nodes it names (a migrating target; for a slot it no longer
//      serves, the node it gave the slot to). The next request goes there later, and from there the
//      key can only have moved on along what that node names in turn. By induction the key is on
//      the node of some request of the chain when it answers: seen at least once.
//   3. Each answer searches only the slots it answers; a slot is answered by one node per chain
//      link; a key seen twice (moved between the source's and the target's answers) is the same
//      key, removed by the merge's dedupe, and the total subtracts it: exactly once.
// Limits: keys deleted without notification by Redis 7.0 when a node loses a slot that still holds
// keys (forced CLUSTER SETSLOT NODE + BUMPEPOCH) never come back: the losing node no longer serves
// the slot, so it never answers for it (cluster.cpp then removes them from its index). A replica
// standing in for a dead primary cannot see that primary's migrations (Redis does not replicate
// MIGRATING): its answer is exact for what it holds. An operator who moves keys without MIGRATING
// on the source (a bare MIGRATE, or SETSLOT STABLE half way) breaks rule 1 for Redis's own
// redirections too.
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

/// Runs a shard request against this node's index: checks the index version, decides from a fresh
/// CLUSTER NODES which asked slots it answers (plan_slots: the others come back as moved, migrating
/// ones are reported), then runs steps 3 and 4 of the single-node FT.SEARCH (ft_search.hpp) on keys
/// of the answered slots only, for the first m hits with their fields (and the rest of its hits,
/// without fields, when it reports migrating slots or answers mode 1; the search's time budget is
/// the request's). Used for remote requests and for the
/// coordinator's own shard alike (`check_slots` false: LOCALONLY, every key of this node). Never
/// throws for a bad request: the status says what was wrong.
SearchResponseMsg search_here(rm::Ctx* ctx, const SearchRequestMsg& request, bool check_slots = true);

}  // namespace vindex_redis
