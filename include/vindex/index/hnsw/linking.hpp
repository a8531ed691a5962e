// vindex/index/hnsw/linking.hpp — linking a node into an HNSW graph: planning the lists of a new
// node's neighbours (plan_update), applying a plan (apply), adding a link to a full list by the
// heuristic (connect, reprune), and giving a node that lost its in-links a new one (rehome).
//
// The in-link invariant, stated once: no write ever links to a tombstone (a plan takes live nodes
// only, and apply/commit check again), so once a maintenance round's cursor has passed every list
// nothing links to that round's tombstones and their slots can be freed; and on layer 0 a node a
// re-pruned list drops keeps some in-link when one can be kept (reprune keeps orphans, rehome finds
// them a host), so searches from the entry point still reach it.
//
// `detail::HnswLinking<Codec>` adds these to the search walks (index/hnsw/search.hpp): a base of
// HnswIndex in a chain graph ← search ← linking ← repair ← maintenance ← insert ← façade,
// non-virtual, each part using only what is below it. Thread-safety: takes no lock. plan_update reads lists with atomic loads and may
// run without the shared lock (insert_batch's threads); the others write lists and need
// HnswIndex's exclusive lock. Next: index/hnsw/repair.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/index/hnsw/search.hpp"

namespace vindex::detail {

/// The search walks of index/hnsw/search.hpp with the code that links nodes into the graph.
template <class Codec>
struct HnswLinking : HnswSearch<Codec> {
  using Graph = HnswGraph<Codec>;
  using typename Graph::Candidate;
  using Graph::closer;
  using Graph::codec_;
  using Graph::distance;
  using Graph::keys_;
  using Graph::linked_back;
  using Graph::links0;
  using Graph::load_link;
  using Graph::m0_;
  using Graph::neighbours;
  using Graph::schema_;
  using Graph::select_by_heuristic;
  using Graph::store_link;
  using Graph::distance_between;
  using Graph::stored;

  using HnswSearch<Codec>::HnswSearch;

  // A planned change to the list of a neighbour of the new node: `seen` is the list as the plan
  // read it, `proposed` the list to write instead, with kPlanned standing for the new node's id.
  struct LinkUpdate {
    Id node;
    unsigned level;
    std::size_t at;  // seen is lists[at, at + cap), proposed is lists[at + cap, at + 2·cap)
  };
  // What an insert (or a local rebuild) will write, found under the shared lock: the new node's
  // lists and its neighbours' updated lists (plan_links in index/hnsw/insert.hpp; named apart
  // from KeyspaceIndex's per-key write plan).
  struct LinkPlan {
    std::vector<std::vector<Id>> links;  // chosen neighbours per layer, layer 0 first
    std::vector<LinkUpdate> updates;     // their lists with the new node added, in commit order
    std::vector<Id> lists;
  };
  static constexpr Id kPlanned = kInvalidId - 1;  // never a real id: KeyMap stops below it

  // Plans the list of `n` at `level` once the new node (stored form `v`) joins it, as connect()
  // would.
  void plan_update(const std::byte* v, Id n, unsigned level, LinkPlan& plan) const {
    const auto [list, cap] = neighbours(n, level);
    const std::size_t at = plan.lists.size();
    plan.lists.resize(at + 2 * cap);
    Id* seen = plan.lists.data() + at;
    Id* proposed = seen + cap;
    for (std::size_t i = 0; i < cap; ++i) seen[i] = load_link(list, i);
    plan.updates.push_back({n, level, at});
    std::copy_n(seen, cap, proposed);
    for (std::size_t i = 0; i < cap; ++i)
      if (proposed[i] == kInvalidId) {
        proposed[i] = kPlanned;
        return;
      }
    thread_local std::vector<Id> kept;
    reprune(n, level, {seen, cap}, kPlanned, v, kept);
    std::copy(kept.begin(), kept.end(), proposed);
    std::fill(proposed + kept.size(), proposed + cap, kInvalidId);
  }

  // Writes a planned list update for the new node `id`, or, when the list changed since it was read
  // (another inserting thread), adds `id` to it afresh.
  void apply(const LinkUpdate& u, const LinkPlan& plan, Id id) {
    const auto [list, cap] = neighbours(u.node, u.level);
    const Id* seen = plan.lists.data() + u.at;
    const Id* proposed = seen + cap;
    if (!std::equal(list, list + cap, seen)) return connect(u.node, id, u.level);
    bool linked = false;
    std::size_t free = cap;
    for (std::size_t i = 0; i < cap; ++i) {
      const Id next = proposed[i] == kPlanned ? id : proposed[i];
      linked |= next == id;
      if (next == kInvalidId && free == cap) free = i;
      if (list[i] != next) store_link(list, i, next);
    }
    if (u.level != 0) return;
    // As in connect(): a pruned new node keeps the link while there is room, unless another
    // neighbour already links to it.
    if (!linked && free < cap && !linked_back(id, u.node)) store_link(list, free, id);
    if (seen[cap - 1] != kInvalidId) rehome_dropped(u.node, {seen, cap}, id);  // was full: pruned
  }

  // Adds `id` to the list of `n` at `level`; a full list is re-chosen by the heuristic.
  void connect(Id n, Id id, unsigned level) {
    const auto [list, cap] = neighbours(n, level);
    for (std::size_t i = 0; i < cap; ++i) {
      if (list[i] == id) return;
      if (list[i] == kInvalidId) {
        store_link(list, i, id);
        return;
      }
    }
    thread_local std::vector<Id> kept, before;  // reused: connect runs M times per insert
    reprune(n, level, {list, cap}, id, stored(id), kept);
    before.assign(list, list + cap);
    for (std::size_t i = 0; i < cap; ++i) store_link(list, i, i < kept.size() ? kept[i] : kInvalidId);
    if (level == 0) rehome_dropped(n, before, id);
  }

  // Nodes that just left the layer-0 list of `n` (they were in `before`; the new node `skip` is
  // left to commit()) with no other in-link in sight (reprune found nothing to drop instead) are
  // linked from near `n`; see rehome.
  void rehome_dropped(Id n, std::span<const Id> before, Id skip) {
    const Id* list = links0(n);
    for (Id x : before) {
      if (x == kInvalidId) break;
      if (x == skip || !keys_.is_live(x) || std::find(list, list + m0_, x) != list + m0_ || linked_back(x, n)) continue;
      rehome(x, n);
    }
  }

  // Gives layer-0 node `x`, which may have no in-link left, one from a node `n` links to (or,
  // failing that, one two links from `n`): the closest of them with a free slot, unless one already
  // links to `x`. Searches that reach `n` then reach `x`. Should none have room, `x` stays as it is
  // until the next sweep re-links it (relink_unreachable). Caller holds the exclusive lock.
  void rehome(Id x, Id n) {
    Id host = kInvalidId;
    Distance best = std::numeric_limits<Distance>::infinity();
    auto consider = [&](Id h) {  // true once some node near n is found to link to x already
      // A tombstone's list goes with it: neither a host nor an in-link that counts.
      if (h == x || !keys_.is_live(h)) return false;
      const Id* hl = links0(h);
      if (std::find(hl, hl + m0_, x) != hl + m0_) return true;
      if (hl[m0_ - 1] != kInvalidId) return false;
      const Distance d = distance_between(x, h);
      if (host == kInvalidId || d < best) best = d, host = h;
      return false;
    };
    const Id* first = links0(n);
    for (std::size_t i = 0; i < m0_ && first[i] != kInvalidId; ++i)
      if (consider(first[i])) return;
    for (std::size_t i = 0; host == kInvalidId && i < m0_ && first[i] != kInvalidId; ++i) {
      const Id* second = links0(first[i]);
      for (std::size_t j = 0; j < m0_ && second[j] != kInvalidId; ++j)
        if (second[j] != n && consider(second[j])) return;
    }
    if (host == kInvalidId) return;
    Id* hl = links0(host);
    store_link(hl, static_cast<std::size_t>(std::find(hl, hl + m0_, kInvalidId) - hl), x);
  }

  // The list `n` gets at `level` when `extra` (stored form `extra_v`) joins its full list `old`: the
  // heuristic's choice among them. On layer 0 a pruned node that none of its own neighbours links
  // back to (an orphan: this may be its last in-link) keeps its link, in a free slot while there is
  // one, else in place of the farthest chosen node that another neighbour does link back to
  // (rehome_dropped takes care of one dropped all the same). "Links back" is a local test: two
  // nodes that link only to each other pass it, so such a pair can still be cut off; the next
  // sweep re-links it (relink_unreachable). A planned node (kPlanned) is left to apply(), which
  // knows its links.
  void reprune(Id n, unsigned level, std::span<const Id> old, Id extra, const std::byte* extra_v,
               std::vector<Id>& kept) const {
    thread_local std::vector<Candidate> candidates;
    thread_local std::vector<Id> orphans;
    candidates.clear();
    for (Id o : old) candidates.push_back({distance_between(n, o), o});
    candidates.push_back({codec_.between(stored(n), extra_v, schema_.dim), extra});
    std::sort(candidates.begin(), candidates.end(), closer);
    select_by_heuristic(candidates, old.size(), kept, [&](Id c) { return c == extra ? extra_v : stored(c); });
    if (level != 0) return;
    orphans.clear();
    for (const Candidate& c : candidates)
      if (c.id != kPlanned && std::find(kept.begin(), kept.end(), c.id) == kept.end() && !linked_back(c.id, n))
        orphans.push_back(c.id);
    const std::size_t chosen = kept.size();
    std::size_t next = 0;
    for (; next < orphans.size() && kept.size() < old.size(); ++next) kept.push_back(orphans[next]);
    for (std::size_t victim = chosen; next < orphans.size() && victim-- > 0;)
      if (kept[victim] != kPlanned && linked_back(kept[victim], n)) kept[victim] = orphans[next++];
  }
};

}  // namespace vindex::detail
