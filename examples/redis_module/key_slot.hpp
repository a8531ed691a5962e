// examples/redis_module/key_slot.hpp — Redis Cluster key slots, and sets of slots.
//
// A key belongs to slot CRC16-XMODEM(k) mod 16384, where k is the key, or the part between the first
// `{` and the first `}` after it when that part is not empty (a hash tag), exactly as redis-server's
// `keyHashSlot` computes it (Redis 7.0 has no module API for it: RedisModule_ClusterKeySlot is 7.4+).
// `SlotSet` is a 16384-bit set with conversions from and to inclusive ranges, the form CLUSTER SLOTS
// and the cluster messages use. Pure code, no Redis calls: unit-tested and fuzzed without a server.
// Next: cluster_frame.hpp.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vindex_redis {

/// Number of hash slots of a Redis Cluster.
inline constexpr std::uint32_t kSlotCount = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0) of `bytes`: Redis Cluster's key hash.
std::uint16_t crc16_xmodem(std::string_view bytes) noexcept;

/// The slot of `key` (hash tags honoured), 0..16383.
std::uint16_t key_slot(std::string_view key) noexcept;

/// The hash tag of every key that starts with `prefix`: the text between the prefix's first `{` and
/// the first `}` after it, when both are in the prefix and the text is not empty. Otherwise (no `{`,
/// no `}` after it yet, or `{}`) keys with this prefix can hash differently: nullopt.
std::optional<std::string_view> prefix_hash_tag(std::string_view prefix) noexcept;

/// An inclusive range of slots.
struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  friend bool operator==(const SlotRange&, const SlotRange&) = default;
};

/// A set of slots.
class SlotSet {
 public:
  /// Adds slots first..last (inclusive; ignored unless first <= last < 16384).
  void add(SlotRange range);
  /// Adds every range.
  void add(const std::vector<SlotRange>& ranges) {
    for (const SlotRange& r : ranges) add(r);
  }
  /// Whether `slot` is in the set.
  bool contains(std::uint16_t slot) const noexcept { return slot < kSlotCount && bits_.test(slot); }
  /// Whether the slot of `key` is in the set.
  bool contains_key(std::string_view key) const noexcept { return bits_.test(key_slot(key)); }
  /// Whether every slot of `other` is in this set.
  bool includes(const SlotSet& other) const noexcept { return (other.bits_ & ~bits_).none(); }
  /// Number of slots in the set.
  std::size_t count() const noexcept { return bits_.count(); }
  /// Whether the set is empty.
  bool empty() const noexcept { return bits_.none(); }
  /// The set as sorted, non-adjacent inclusive ranges.
  std::vector<SlotRange> ranges() const;
  /// The union / intersection / difference with another set.
  SlotSet& operator|=(const SlotSet& other) noexcept {
    bits_ |= other.bits_;
    return *this;
  }
  SlotSet intersection(const SlotSet& other) const {
    SlotSet out;
    out.bits_ = bits_ & other.bits_;
    return out;
  }
  SlotSet without(const SlotSet& other) const {
    SlotSet out;
    out.bits_ = bits_ & ~other.bits_;
    return out;
  }
  friend bool operator==(const SlotSet&, const SlotSet&) = default;

 private:
  std::bitset<kSlotCount> bits_;
};

/// The slots that keys starting with one of `prefixes` can be in, when each prefix fixes a hash tag
/// (prefix_hash_tag): one slot per tag. Nullopt when a prefix does not, or there is no prefix (every
/// key). An index over such prefixes (`PREFIX 1 {tenant7}:`) lives in those slots alone, so a
/// search need only ask the shards serving them.
std::optional<SlotSet> prefix_slots(const std::vector<std::string>& prefixes);

/// "0-5460,5462" style text of ranges, for error messages and FT.INFO.
std::string to_string(const std::vector<SlotRange>& ranges);

/// Slots and the node they go to (a 40-character node id, or empty when no node is known): where a
/// shard says slots it answered are migrating, or which node serves slots it does not.
struct SlotRoute {
  SlotRange range;
  std::string node;
  friend bool operator==(const SlotRoute&, const SlotRoute&) = default;
};

/// Builds routes from (slot, node) pairs given in ascending slot order: adjacent slots going to the
/// same node share one range.
std::vector<SlotRoute> make_routes(const std::vector<std::pair<std::uint16_t, std::string>>& slots);

/// The slots of `routes` as a set.
SlotSet slots_of(const std::vector<SlotRoute>& routes);

}  // namespace vindex_redis
