// graph_reachability.hpp — test oracle: which live keys of an HNSW graph a walk of layer 0 from the
// entry point does not reach (what an exhaustive search needs), on the graph export_graph() describes.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "vindex/vindex.hpp"

namespace vindex_test {

/// Keys of the exported nodes that a breadth-first walk of layer 0 from the entry point does not
/// reach. export_graph() writes the graph as maintenance would leave it, so for an index with
/// tombstones pending this is the graph a snapshot would hold.
template <class Index>
std::vector<std::string> unreachable_on_layer0(const Index& index) {
  std::vector<vindex::HnswNodeData> nodes;
  std::unordered_map<vindex::Id, std::size_t> at;
  const vindex::HnswGraphInfo info = index.export_graph([&](const vindex::HnswNodeData& n) {
    at[n.id] = nodes.size();
    nodes.push_back(n);
  });
  std::vector<bool> seen(nodes.size(), false);
  std::vector<vindex::Id> queue;
  if (info.entry_point != vindex::kInvalidId) {
    seen[at.at(info.entry_point)] = true;
    queue.push_back(info.entry_point);
  }
  for (std::size_t head = 0; head < queue.size(); ++head)
    for (vindex::Id to : nodes[at.at(queue[head])].links[0])
      if (!seen[at.at(to)]) {
        seen[at.at(to)] = true;
        queue.push_back(to);
      }
  std::vector<std::string> lost;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (!seen[i]) lost.push_back(nodes[i].key);
  return lost;
}

}  // namespace vindex_test
