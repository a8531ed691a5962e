// examples/redis_module/cluster_topology.cpp — building the slot map from CLUSTER SHARDS.
#include "cluster_topology.hpp"

#include <algorithm>

namespace vindex_redis {

const NodeDesc* TopologyShard::primary() const {
  for (const NodeDesc& n : nodes)
    if (n.primary) return &n;
  return nullptr;
}

std::string TopologyShard::label() const {
  const NodeDesc* p = primary();
  std::string who = p ? p->address() : (nodes.empty() ? std::string("?") : nodes.front().address());
  return who + " (slots " + to_string(slots) + ")";
}

Topology Topology::build(std::vector<ShardDesc> shards, std::string my_id) {
  Topology t;
  t.my_id_ = std::move(my_id);
  t.owner_.fill(-1);
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](std::string_view bytes) {
    for (const char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ull;
    }
  };
  for (ShardDesc& d : shards) {
    TopologyShard s;
    // Primary first, so the order of preference is the order of the list.
    std::stable_partition(d.nodes.begin(), d.nodes.end(), [](const NodeDesc& n) { return n.primary; });
    s.nodes = std::move(d.nodes);
    const auto index = static_cast<std::int16_t>(t.shards_.size());
    for (const SlotRange& r : d.slots) {
      if (r.first > r.last || r.last >= kSlotCount) continue;
      for (std::uint32_t slot = r.first; slot <= r.last; ++slot)
        if (t.owner_[slot] == -1) t.owner_[slot] = index;  // a slot claimed twice stays with the first
    }
    for (const NodeDesc& n : s.nodes)
      if (n.id == t.my_id_) t.my_shard_ = index;
    t.shards_.push_back(std::move(s));
  }
  // Each shard's slots as ranges and a set; the fingerprint mixes (range, primary id) per range,
  // not per slot (a refresh runs every 100 ms on every node).
  for (std::size_t i = 0; i < t.shards_.size(); ++i) {
    TopologyShard& s = t.shards_[i];
    std::uint32_t slot = 0;
    while (slot < kSlotCount) {
      if (t.owner_[slot] != static_cast<std::int16_t>(i)) {
        ++slot;
        continue;
      }
      const std::uint32_t first = slot;
      while (slot < kSlotCount && t.owner_[slot] == static_cast<std::int16_t>(i)) ++slot;
      s.slots.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(slot - 1)});
      s.slot_set.add(s.slots.back());
    }
    const NodeDesc* p = s.primary();
    for (const SlotRange& r : s.slots) {
      mix(std::to_string(r.first) + "-" + std::to_string(r.last) + ":");
      mix(p ? std::string_view(p->id) : std::string_view("-"));
    }
  }
  t.fingerprint_ = h;
  return t;
}

std::vector<SlotRange> Topology::uncovered() const {
  SlotSet missing;
  for (std::uint32_t slot = 0; slot < kSlotCount; ++slot)
    if (owner_[slot] == -1) missing.add({static_cast<std::uint16_t>(slot), static_cast<std::uint16_t>(slot)});
  return missing.ranges();
}

std::vector<int> Topology::serving_shards() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < shards_.size(); ++i)
    if (!shards_[i].slots.empty()) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<const NodeDesc*> Topology::other_primaries() const {
  std::vector<const NodeDesc*> out;
  for (const TopologyShard& s : shards_) {
    for (const NodeDesc& n : s.nodes) {
      if (!n.primary || n.id == my_id_) continue;
      if (n.health == "failed" && s.slots.empty()) continue;
      out.push_back(&n);
    }
  }
  return out;
}

const NodeDesc* Topology::find_node(std::string_view id) const {
  for (const TopologyShard& s : shards_)
    for (const NodeDesc& n : s.nodes)
      if (n.id == id) return &n;
  return nullptr;
}

}  // namespace vindex_redis
