// examples/redis_module/key_slot.cpp — CRC16-XMODEM, hash tags, slot sets.
#include "key_slot.hpp"

#include <array>

namespace vindex_redis {
namespace {

constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000u) ? ((crc << 1) ^ 0x1021u) : (crc << 1);
    table[i] = static_cast<std::uint16_t>(crc);
  }
  return table;
}

constexpr auto kTable = make_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char c : bytes)
    crc = static_cast<std::uint16_t>((crc << 8) ^ kTable[((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xffu]);
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  // Only the first '{' counts; the tag ends at the first '}' after it and must not be empty.
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16_xmodem(key) & (kSlotCount - 1));
}

std::optional<std::string_view> prefix_hash_tag(std::string_view prefix) noexcept {
  // key_slot's rule read on the prefix: a key longer than the prefix has the same first '{' and the
  // same first '}' after it only when both are already in the prefix.
  const std::size_t open = prefix.find('{');
  if (open == std::string_view::npos) return std::nullopt;
  const std::size_t close = prefix.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return std::nullopt;
  return prefix.substr(open + 1, close - open - 1);
}

std::optional<SlotSet> prefix_slots(const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return std::nullopt;
  SlotSet slots;
  for (const std::string& prefix : prefixes) {
    const std::optional<std::string_view> tag = prefix_hash_tag(prefix);
    if (!tag) return std::nullopt;
    // The tag holds no '}', so it is hashed whole (key_slot would find no tag inside it).
    const auto slot = static_cast<std::uint16_t>(crc16_xmodem(*tag) & (kSlotCount - 1));
    slots.add(SlotRange{slot, slot});
  }
  return slots;
}

void SlotSet::add(SlotRange range) {
  if (range.first > range.last || range.last >= kSlotCount) return;
  if (range.first == 0 && range.last == kSlotCount - 1) {
    bits_.set();
    return;
  }
  for (std::uint32_t s = range.first; s <= range.last; ++s) bits_.set(s);
}

std::vector<SlotRange> SlotSet::ranges() const {
  std::vector<SlotRange> out;
  std::uint32_t s = 0;
  while (s < kSlotCount) {
    if (!bits_.test(s)) {
      ++s;
      continue;
    }
    const std::uint32_t first = s;
    while (s < kSlotCount && bits_.test(s)) ++s;
    out.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(s - 1)});
  }
  return out;
}

std::string to_string(const std::vector<SlotRange>& ranges) {
  std::string out;
  for (const SlotRange& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.first);
    if (r.last != r.first) out += '-' + std::to_string(r.last);
  }
  return out.empty() ? "none" : out;
}

std::vector<SlotRoute> make_routes(const std::vector<std::pair<std::uint16_t, std::string>>& slots) {
  std::vector<SlotRoute> out;
  for (const auto& [slot, node] : slots) {
    if (!out.empty() && out.back().node == node && out.back().range.last + 1u == slot) {
      out.back().range.last = slot;
    } else {
      out.push_back({{slot, slot}, node});
    }
  }
  return out;
}

SlotSet slots_of(const std::vector<SlotRoute>& routes) {
  SlotSet out;
  for (const SlotRoute& r : routes) out.add(r.range);
  return out;
}

}  // namespace vindex_redis
