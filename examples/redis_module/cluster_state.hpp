// examples/redis_module/cluster_state.hpp — what a node knows about the cluster it is part of.
//
// Whether the server runs in cluster mode (decided once, at load, from the context flags: in
// standalone mode none of the cluster code runs), this node's id and random boot nonce, counters
// for INFO (the settings are module configs: module_config.hpp), and the topology: read from `CLUSTER SHARDS`
// (a keyless command, so RedisModule_Call runs it on replicas too), cached for at most
// `kTopologyMaxAgeMs` and refreshed at once when a send fails or a shard says it does not serve a
// slot. Node health for target choice combines the shard list's `health` with the live flags of
// `RedisModule_GetClusterNodeInfo` (PFAIL / FAIL). What this node itself serves, migrates and imports
// is never taken from the cache: `self_view` reads CLUSTER NODES when it is needed (a shard
// answering a request, the slot-loss check of the 100 ms timer). Main thread only.
// Next: cluster_transport.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cluster_topology.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// Counters shown by `INFO vindex` (section vindex_cluster).
struct ClusterCounters {
  std::uint64_t searches_fanned_out = 0;
  std::uint64_t searches_by_hash_tag = 0; ///< searches that asked only the shards of the index's hash-tag slots
  std::uint64_t searches_served = 0;      ///< SEARCH_REQ answered for other nodes
  std::uint64_t search_errors = 0;        ///< fan-outs that replied with an error
  std::uint64_t shard_timeouts = 0;       ///< shards that did not answer in time
  std::uint64_t partial_replies = 0;      ///< SOMESHARDS replies that missed a shard
  std::uint64_t infos_fanned_out = 0;
  std::uint64_t answers_late = 0;         ///< answers for a request that had finished (dropped)
  std::uint64_t answers_unexpected = 0;   ///< answers from a node not asked, or asked already (dropped)
  std::uint64_t undecodable = 0;          ///< complete messages whose body failed to decode
  std::uint64_t frames_sent = 0;
  std::uint64_t send_failures = 0;
  std::uint64_t catalog_changes_sent = 0;
  std::uint64_t catalog_entries_applied = 0;
  std::uint64_t catalog_repairs = 0;      ///< CATALOG_GET sent after a digest differed
  std::uint64_t topology_refreshes = 0;
  std::uint64_t follow_ups_importing = 0; ///< requests for migrating slots sent to the importing node
  std::uint64_t follow_ups_moved = 0;     ///< requests for slots a shard said another node serves
  std::uint64_t keys_deduplicated = 0;    ///< keys two answers of one search both returned
  std::uint64_t slots_lost = 0;           ///< slots this node's shard stopped serving
  std::uint64_t slot_loss_entries_removed = 0;  ///< index entries of lost slots whose key was gone
  std::uint64_t bus_sockets_nodelay = 0;  ///< cluster bus connections given TCP_NODELAY (see enable_bus_nodelay)
};

/// This node in its cluster.
class ClusterState {
 public:
  /// Decides cluster mode from `ctx`'s flags and draws the boot nonce. Called once at load.
  void init(rm::Ctx* ctx);
  /// True when the server runs with cluster-enabled yes.
  bool enabled() const noexcept { return enabled_; }
  /// This node's 40-character id.
  const std::string& my_id();
  /// Random number drawn at load: answers to our requests carry it back.
  std::uint64_t nonce() const noexcept { return nonce_; }

  /// The topology, refreshed when older than kTopologyMaxAgeMs or when `force`.
  const Topology& topology(rm::Ctx* ctx, bool force = false);
  /// Whether `node` can be asked now (not failed in the shard list, not PFAIL/FAIL right now).
  bool usable(rm::Ctx* ctx, const NodeDesc& node) const;
  /// This node's own view, read now from CLUSTER NODES (`valid` false when that failed).
  SelfView self_view(rm::Ctx* ctx);

  ClusterCounters counters;

  static constexpr long long kTopologyMaxAgeMs = 100;

 private:
  bool enabled_ = false;
  std::uint64_t nonce_ = 0;
  std::string my_id_;
  Topology topology_;
  long long topology_at_ms_ = -1;
};

/// The module's cluster state.
ClusterState& cluster();

/// Milliseconds on a monotonic clock.
long long now_ms();

}  // namespace vindex_redis
