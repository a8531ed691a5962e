// vindex/index/hnsw/restore.hpp — building an HNSW graph from saved graph data (the persistence
// hook behind HnswIndex's restoring constructor), without re-inserting.
//
// Validates everything first — vector sizes and values, key lengths, duplicate keys and ids,
// neighbour ids (must name saved nodes of a high enough level), list lengths, levels, the entry point
// and the generator state — and throws Error(kCorruptData) naming the first problem; only then
// builds. Thread-safety: the graph must not be shared yet (it is called from a constructor).
// Errors: kCorruptData as above; running out of memory throws std::bad_alloc (or
// MemoryLimitExceeded) with what was taken given back by the graph's owner. Next:
// index/results.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/hnsw/graph.hpp"
#include "vindex/index/hnsw/types.hpp"
#include "vindex/storage/upper_links.hpp"

namespace vindex::detail {

/// Throws Error(kCorruptData, what): the saved graph data is not a valid graph.
[[noreturn]] inline void corrupt_graph(const std::string& what) { throw Error(ErrorCode::kCorruptData, what); }

/// Fills the empty graph `g` with `nodes` and `info` after validating them against `g`'s schema and
/// parameters and `limits`; returns the level generator `info` saved (seeded from the parameters
/// when it saved none).
template <class Codec>
std::mt19937_64 restore_graph(HnswGraph<Codec>& g, const Limits& limits, const HnswGraphInfo& info,
                              std::span<const HnswNodeData> nodes) {
  const std::size_t n = nodes.size();
  // Sizes before allocating: ids may leave holes, but not unboundedly many.
  Id max_id = 0;
  for (const HnswNodeData& node : nodes) {
    if (node.id == kInvalidId) corrupt_graph("node id " + std::to_string(node.id) + " is reserved");
    max_id = std::max(max_id, node.id);
  }
  const std::size_t bound = n == 0 ? 0 : std::size_t{max_id} + 1;
  if (bound > 2 * n + g.params_.block_size)
    corrupt_graph("node id " + std::to_string(max_id) + " is out of range for " + std::to_string(n) + " nodes");
  std::vector<int> level_at(bound, -1);
  std::unordered_set<KeyView> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const HnswNodeData& node = nodes[i];
    const std::string where = "node " + std::to_string(node.id) + " (key " + printable_key(node.key) + ")";
    if (level_at[node.id] != -1) corrupt_graph("duplicate node id " + std::to_string(node.id));
    if (node.links.empty() || node.links.size() > UpperLinks::kMaxLevel + 1)
      corrupt_graph(where + " has " + std::to_string(node.links.size()) + " layers");
    level_at[node.id] = static_cast<int>(node.links.size()) - 1;
    if (node.key.size() > limits.max_key_bytes) corrupt_graph(where + " has an over-long key");
    if (!keys.insert(node.key).second) corrupt_graph("duplicate key " + printable_key(node.key));
    if (const auto f = check_vector(g.schema_, node.vector); f != VectorFailure::kNone)
      corrupt_graph(where + " has an invalid vector: " + std::string(to_string(f)) + " (" +
                    std::to_string(node.vector.size()) + " elements)");
    if (!std::isfinite(node.magnitude) || node.magnitude <= 0 ||
        (!Codec::Metric::kNormalizes && node.magnitude != 1.0f))
      corrupt_graph(where + " has magnitude " + std::to_string(node.magnitude));
    if (!Codec::fits(node.vector.data(), node.magnitude, node.vector.size()))
      corrupt_graph(where + " has an element out of the range of " + std::string(to_string(g.schema_.type)));
  }
  int top_level = -1;
  for (const HnswNodeData& node : nodes) {
    top_level = std::max(top_level, level_at[node.id]);
    for (std::size_t l = 0; l < node.links.size(); ++l) {
      const auto& list = node.links[l];
      const std::size_t cap = l == 0 ? g.m0_ : g.m_;
      if (list.size() > cap)
        corrupt_graph("node " + std::to_string(node.id) + " has " + std::to_string(list.size()) +
                      " links on layer " + std::to_string(l) + ", at most " + std::to_string(cap) + " allowed");
      for (Id to : list) {
        if (to >= bound || level_at[to] < static_cast<int>(l) || to == node.id)
          corrupt_graph("node " + std::to_string(node.id) + " links to " + std::to_string(to) + " on layer " +
                        std::to_string(l) + ", which is not a node of that layer");
      }
    }
  }
  if (n == 0 ? (info.entry_point != kInvalidId || info.max_level != -1)
             : (info.entry_point >= bound || level_at[info.entry_point] != info.max_level ||
                info.max_level != top_level))
    corrupt_graph("entry point " + std::to_string(info.entry_point) + " at level " +
                  std::to_string(info.max_level) + " is not a node of the top level " + std::to_string(top_level));
  std::mt19937_64 rng(g.params_.seed);
  if (!info.level_generator_state.empty()) {
    std::istringstream state(info.level_generator_state);
    state >> rng;
    if (!state) corrupt_graph("level generator state does not parse");
  }

  // Valid: build.
  g.keys_.reserve(n);
  std::vector<std::size_t> by_id(n);
  for (std::size_t i = 0; i < n; ++i) by_id[i] = i;
  std::sort(by_id.begin(), by_id.end(), [&](std::size_t a, std::size_t b) { return nodes[a].id < nodes[b].id; });
  g.grow_nodes(bound).commit();  // what the graph holds; INITIAL_CAP reserves nothing
  for (std::size_t i : by_id) {
    const HnswNodeData& node = nodes[i];
    g.keys_.insert_at(node.id, node.key);
    g.write_vector(node.id, node.vector.data(), node.magnitude);
    const unsigned levels = static_cast<unsigned>(node.links.size() - 1);
    g.upper_.reserve(levels);
    g.upper_.add(node.id, levels);
    for (unsigned l = 0; l <= levels; ++l) {
      const auto [list, cap] = g.neighbours(node.id, l);
      std::fill(list, list + cap, kInvalidId);
      std::copy(node.links[l].begin(), node.links[l].end(), list);
    }
  }
  g.entry_ = info.entry_point;
  g.max_level_ = info.max_level;
  return rng;
}

}  // namespace vindex::detail
