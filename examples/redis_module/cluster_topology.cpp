// examples/redis_module/cluster_topology.cpp — building the slot map from CLUSTER SHARDS.
#include "cluster_topology.hpp"

#include <algorithm>
#include <charconv>

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

namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\r')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool parse_slot(std::string_view text, std::uint16_t& slot) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value >= kSlotCount) return false;
  slot = static_cast<std::uint16_t>(value);
  return true;
}

bool has_flag(std::string_view flags, std::string_view flag) {
  std::size_t i = 0;
  while (i <= flags.size()) {
    const std::size_t comma = std::min(flags.find(',', i), flags.size());
    if (flags.substr(i, comma - i) == flag) return true;
    i = comma + 1;
  }
  return false;
}

}  // namespace

std::string SelfView::owner_of(std::uint16_t slot) const {
  for (const ClusterNodesLine& n : nodes)
    for (const SlotRange& r : n.slots)
      if (r.first <= slot && slot <= r.last) return n.id;
  return {};
}

SelfView parse_cluster_nodes(std::string_view text) {
  SelfView v;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::vector<std::string_view> w = words(text.substr(start, end - start));
    start = end + 1;
    if (w.size() < 8) continue;
    ClusterNodesLine n;
    n.id = std::string(w[0]);
    const std::string_view address = w[1].substr(0, w[1].find('@'));
    n.address = std::string(address);
    n.myself = has_flag(w[2], "myself");
    n.primary = has_flag(w[2], "master");
    n.failed = has_flag(w[2], "fail");
    if (w[3] != "-") n.primary_id = std::string(w[3]);
    for (std::size_t i = 8; i < w.size(); ++i) {
      const std::string_view token = w[i];
      if (token.front() == '[') {
        // [slot->-id] (migrating to id) or [slot-<-id] (importing from id): on the myself line only.
        if (token.size() < 6 || token.back() != ']') continue;
        const std::string_view inner = token.substr(1, token.size() - 2);
        const std::size_t arrow = inner.find("->-") != std::string_view::npos ? inner.find("->-") : inner.find("-<-");
        std::uint16_t slot = 0;
        if (arrow == std::string_view::npos || !parse_slot(inner.substr(0, arrow), slot)) continue;
        const std::string_view peer = inner.substr(arrow + 3);
        if (peer.size() != 40) continue;  // node ids are 40 characters
        if (inner.substr(arrow, 3) == "->-") {
          v.migrating.emplace_back(slot, std::string(peer));
        } else {
          v.importing.add({slot, slot});
        }
        continue;
      }
      const std::size_t dash = token.find('-');
      SlotRange r;
      if (!parse_slot(token.substr(0, dash), r.first)) continue;
      r.last = r.first;
      if (dash != std::string_view::npos && !parse_slot(token.substr(dash + 1), r.last)) continue;
      if (r.first <= r.last) n.slots.push_back(r);
    }
    if (n.myself) {
      v.valid = true;
      v.my_id = n.id;
      v.primary = n.primary;
      v.primary_id = n.primary ? n.id : n.primary_id;
    }
    v.nodes.push_back(std::move(n));
  }
  std::sort(v.migrating.begin(), v.migrating.end());
  for (const ClusterNodesLine& n : v.nodes)
    if (!v.primary_id.empty() && n.id == v.primary_id)
      for (const SlotRange& r : n.slots) v.served.add(r);
  return v;
}

SlotPlan plan_slots(const SelfView& view, const std::vector<SlotRange>& asked, std::uint8_t mode, bool fallback) {
  SlotSet want;
  want.add(asked);
  SlotPlan plan;
  if (view.valid && (view.primary || fallback)) {
    plan.answered = want.intersection(view.served);
    if (view.primary && mode == 1) plan.answered |= want.intersection(view.importing);
  }
  if (view.primary) {
    std::vector<std::pair<std::uint16_t, std::string>> migrating;
    for (const auto& [slot, target] : view.migrating)
      if (plan.answered.contains(slot)) migrating.emplace_back(slot, target);
    plan.migrating = make_routes(migrating);
  }
  const SlotSet rest = want.without(plan.answered);
  if (rest.empty()) return plan;
  std::vector<std::pair<std::uint16_t, std::string>> moved;
  for (const SlotRange& r : rest.ranges())
    for (std::uint32_t slot = r.first; slot <= r.last; ++slot) {
      const auto s = static_cast<std::uint16_t>(slot);
      // A replica not asked as a stand-in names its primary for the slots of its shard.
      moved.emplace_back(s, !view.primary && view.served.contains(s) ? view.primary_id : view.owner_of(s));
    }
  plan.moved = make_routes(moved);
  return plan;
}

}  // namespace vindex_redis
