// vindex/index/results.hpp — turning (distance, id) hits into results: ordering by distance then
// key, and copying keys out into SearchResults.
//
// Free functions over a KeyMap, used by the HNSW search (index/hnsw/search.hpp); FlatIndex still has
// its own copies (issue #16's shared front end is to take them). Thread-safety: they read the key
// map; the caller holds whatever lock keeps it still. Next: source/key_value_source.hpp.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/storage/key_map.hpp"

namespace vindex::detail {

/// The key of an id in a key map, as a function object (for TopK).
struct KeyOf {
  const KeyMap* keys;
  /// The key of `id`, a live id of `keys`.
  KeyView operator()(Id id) const noexcept { return keys->key(id); }
};

/// Orders hits closest first, ties by key.
inline void sort_by_distance_then_key(const KeyMap& keys, std::vector<std::pair<Distance, Id>>& hits) {
  std::sort(hits.begin(), hits.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : keys.key(a.second) < keys.key(b.second);
  });
}

/// The hits as results, in their order, each with a copy of its key.
inline std::vector<SearchResult> to_results(const KeyMap& keys, const std::vector<std::pair<Distance, Id>>& hits) {
  std::vector<SearchResult> out;
  out.reserve(hits.size());
  for (auto [d, id] : hits) out.push_back({Key(keys.key(id)), id, d});
  return out;
}

}  // namespace vindex::detail
