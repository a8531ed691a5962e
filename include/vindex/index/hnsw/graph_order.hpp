// vindex/index/hnsw/graph_order.hpp — the order an exported graph lists its nodes in, and so the
// ids a snapshot gives them: the order a breadth-first walk of layer 0 meets them, so that after a
// load the nodes one expansion measures (a node's neighbours) sit next to each other in the node
// records.
//
// A search reads the records of a node's neighbours one after another; in insertion order they are
// scattered over the whole array, and every one costs its own cache lines, TLB entry and DRAM page.
// Numbered breadth first, the neighbours a node was the first to reach are consecutive records.
// Measured on AMD EPYC (a probe alternating a loaded snapshot's graph in insertion order and
// renumbered breadth first, the same graph so the same recall, ef 16-128, medians of 5 rounds):
// glove-100 SQ8 1.04-1.09× the queries/s, its floats 1.02-1.04× (one of four points 0.96);
// fashion-mnist SQ8 1.06-1.11×; a random numbering instead 0.94-0.95× (glove-100 is inserted in its
// file's order, which is already a little local).
//
// Pure function; thread-safe as far as its callbacks are. Next: index/hnsw/repair.hpp
// (export_nodes).
#pragma once

#include <cstddef>
#include <vector>

#include "vindex/core/types.hpp"

namespace vindex::detail {

/// The ids below `bound` for which `is_node(id)` holds, in the order a breadth-first walk of layer 0
/// meets them: from `entry` (kInvalidId: none), each node's links in their own order, then from the
/// lowest id not met yet, until every node is met (layer 0 is directed: a node may be out of the
/// entry's reach). `links(id, f)` calls f(to) for each layer-0 link of node `id`, each naming a node.
/// The order depends on the links and their order, and on ids only through the restarts. Throws
/// std::bad_alloc.
template <class IsNode, class Links>
std::vector<Id> breadth_first_order(std::size_t bound, Id entry, IsNode&& is_node, Links&& links) {
  std::vector<bool> met(bound, false);
  std::vector<Id> order;  // doubles as the walk's queue: [head, size) are still to expand
  auto walk_from = [&](Id start) {
    met[start] = true;
    order.push_back(start);
    for (std::size_t head = order.size() - 1; head < order.size(); ++head)
      links(order[head], [&](Id to) {
        if (met[to]) return;
        met[to] = true;
        order.push_back(to);
      });
  };
  if (entry != kInvalidId) walk_from(entry);
  for (std::size_t i = 0; i < bound; ++i)
    if (!met[i] && is_node(static_cast<Id>(i))) walk_from(static_cast<Id>(i));
  return order;
}

}  // namespace vindex::detail
