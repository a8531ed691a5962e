// examples/redis_module/cluster_topology.hpp — who serves which slots: shards, their nodes, health;
// and what one node says about itself right now.
//
// A `Topology` is built from the shard list a node reports (CLUSTER SHARDS: per shard its slot
// ranges and its nodes with role and health) and answers what the coordinator needs: the shard of
// every slot, the slots no shard serves, this node's shard, and for each shard the nodes to ask in
// order (the primary, then replicas — a node the cluster marks failed is left out). Slot
// assignment is explicit: a request names the slot ranges the coordinator expects the shard to
// answer for, and the shard searches only keys of those slots. The coordinator caches its topology
// for 100 ms; a shard never trusts a cached view for what it answers: it reads `SelfView` (CLUSTER
// NODES, whose own line alone shows MIGRATING and IMPORTING slots) at the moment it answers, and
// `plan_slots` decides, per slot asked, whether it answers it (and whether the slot is migrating
// away, and to whom) or names the node that serves it instead (cluster_search.hpp has the rule that
// makes this exact while slots move). Pure code (no Redis calls).
// Main thread only. Next: cluster_state.hpp (where a node keeps its topology).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "key_slot.hpp"

namespace vindex_redis {

/// One node as CLUSTER SHARDS describes it.
struct NodeDesc {
  std::string id;          ///< 40-character node id
  std::string ip;
  long long port = 0;
  bool primary = false;    ///< role master
  std::string health;      ///< "online", "failed" or "loading"
  /// "ip:port", for messages.
  std::string address() const { return ip + ":" + std::to_string(port); }
};

/// One shard as CLUSTER SHARDS describes it.
struct ShardDesc {
  std::vector<SlotRange> slots;
  std::vector<NodeDesc> nodes;
};

/// A shard of the topology.
struct TopologyShard {
  std::vector<SlotRange> slots;   ///< sorted, merged
  SlotSet slot_set;
  const NodeDesc* primary() const;  ///< its primary, or null
  std::vector<NodeDesc> nodes;    ///< primary first, then replicas as listed
  /// "127.0.0.1:7000 (slots 0-5460)": how errors name the shard.
  std::string label() const;
};

/// The cluster's shards as one node sees them.
class Topology {
 public:
  /// Builds the topology from CLUSTER SHARDS, seen by node `my_id`. Slots claimed by two shards
  /// (a view caught mid-change) go to the first; shards without slots are kept (their primaries
  /// still take part in catalog changes).
  static Topology build(std::vector<ShardDesc> shards, std::string my_id);

  const std::vector<TopologyShard>& shards() const noexcept { return shards_; }
  /// Index of the shard serving `slot`, or -1.
  int shard_of_slot(std::uint16_t slot) const noexcept { return slot < kSlotCount ? owner_[slot] : -1; }
  /// Index of this node's shard (-1 when this node is in none).
  int my_shard() const noexcept { return my_shard_; }
  const std::string& my_id() const noexcept { return my_id_; }
  /// Slots no shard serves.
  std::vector<SlotRange> uncovered() const;
  /// Indexes of the shards that serve slots.
  std::vector<int> serving_shards() const;
  /// Every primary (slots or not) except this node, that is not marked failed unless it serves
  /// slots: the nodes a catalog change must reach.
  std::vector<const NodeDesc*> other_primaries() const;
  /// The node with `id`, or null.
  const NodeDesc* find_node(std::string_view id) const;
  /// 64-bit fingerprint of the slot map (which node ids serve which slots).
  std::uint64_t fingerprint() const noexcept { return fingerprint_; }

 private:
  std::vector<TopologyShard> shards_;
  std::array<std::int16_t, kSlotCount> owner_{};
  std::string my_id_;
  int my_shard_ = -1;
  std::uint64_t fingerprint_ = 0;
};

/// One line of CLUSTER NODES.
struct ClusterNodesLine {
  std::string id;
  std::string address;          ///< "ip:port"
  bool myself = false;
  bool primary = false;         ///< flag master
  bool failed = false;          ///< flag fail (not pfail)
  std::string primary_id;       ///< a replica's primary ("" for a primary)
  std::vector<SlotRange> slots;  ///< the slots it serves (primaries only list slots)
};

/// What a node says about itself in CLUSTER NODES, read when it answers a request.
struct SelfView {
  bool valid = false;           ///< the `myself` line was found
  std::string my_id;
  bool primary = false;
  std::string primary_id;       ///< its primary (its own id when it is one; "" when unknown)
  SlotSet served;               ///< the slots of its shard: its own (primary) or its primary's (replica)
  /// Slots it is migrating away ([slot->-id] on its own line), ascending, with the importing node.
  std::vector<std::pair<std::uint16_t, std::string>> migrating;
  SlotSet importing;            ///< slots it is importing ([slot-<-id])
  std::vector<ClusterNodesLine> nodes;
  /// The node serving `slot` as this node sees it, "" when none.
  std::string owner_of(std::uint16_t slot) const;
};

/// Parses CLUSTER NODES text. Lines it cannot read are skipped; `valid` is false without a myself line.
SelfView parse_cluster_nodes(std::string_view text);

/// How a node answers a request for `asked` slots (see cluster_search.hpp for the rule).
struct SlotPlan {
  SlotSet answered;                 ///< slots whose keys it searches
  std::vector<SlotRoute> migrating; ///< answered slots it is migrating, and their importing node
  std::vector<SlotRoute> moved;     ///< asked slots it does not answer, and the node serving them ("" unknown)
};

/// Per slot asked: a primary answers the slots it serves (reporting those it is migrating) and, in
/// mode 1 (the importing follow-up), the slots it is importing; a replica answers its primary's
/// slots only when asked as a stand-in for that primary (`fallback`), otherwise it names its primary.
/// Every other slot is moved, to the node serving it in `view`.
SlotPlan plan_slots(const SelfView& view, const std::vector<SlotRange>& asked, std::uint8_t mode, bool fallback);

}  // namespace vindex_redis
