// vindex/index/hnsw/repair.hpp — the planning half of HNSW maintenance: the list a node gets when
// the tombstones it links to leave (repaired_list), the lists an export writes while tombstones are
// pending (plan_export_repair, export_nodes), the relinking of live nodes layer 0 no longer reaches
// from the entry point (relink_unreachable for an export, plan_relink for a round), a local rebuild
// (plan_relinks_of), and the choice of a new entry point (best_live_entry).
//
// `detail::HnswRepair<Codec>` adds these to the linking code (index/hnsw/linking.hpp); the
// maintenance rounds (index/hnsw/maintenance.hpp) apply what these plan. Thread-safety: const,
// takes no lock; callers hold HnswIndex's shared lock. Next: index/hnsw/maintenance.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/index/hnsw/graph_order.hpp"
#include "vindex/index/hnsw/linking.hpp"
#include "vindex/index/hnsw/types.hpp"

namespace vindex::detail {

/// The linking code of index/hnsw/linking.hpp with maintenance's repair planning.
template <class Codec>
struct HnswRepair : HnswLinking<Codec> {
  using Graph = HnswGraph<Codec>;
  using typename Graph::Candidate;
  using Graph::closer;
  using Graph::codec_;
  using Graph::distance;
  using Graph::entry_;
  using Graph::linked_back;
  using Graph::m_;
  using Graph::params_;
  using Graph::select_by_heuristic;
  using Graph::extend_by_heuristic;
  using Graph::keys_;
  using Graph::level_of;
  using Graph::links0;
  using Graph::m0_;
  using Graph::magnitudes_;
  using Graph::max_level_;
  using Graph::neighbours;
  using Graph::retired_;
  using Graph::schema_;
  using Graph::upper_;
  using Graph::distance_between;
  using Graph::query_of;
  using Graph::measure_exactly;
  using Graph::stored;

  using typename HnswLinking<Codec>::LinkPlan;
  using HnswLinking<Codec>::plan_update;
  using HnswSearch<Codec>::greedy;
  using HnswSearch<Codec>::scratch_;
  using HnswSearch<Codec>::search_layer;
  using HnswSearch<Codec>::walk_layer;

  using HnswLinking<Codec>::HnswLinking;

  // Walks of layer 0 relink_unreachable (and a maintenance round) makes at most: a displacement
  // can cut off the displaced node, so each walk after the first checks the last one's relinks.
  static constexpr int kRelinkRounds = 4;

  /// Whether bit `i` is set (bits past the end are clear).
  static bool bit(const std::vector<std::uint64_t>& bits, std::size_t i) noexcept {
    return i / 64 < bits.size() && ((bits[i / 64] >> (i % 64)) & 1) != 0;
  }
  /// Makes room for bits [0, count), new ones clear.
  static void grow_bits(std::vector<std::uint64_t>& bits, std::size_t count) {
    if ((count + 63) / 64 > bits.size()) bits.resize((count + 63) / 64, 0);
  }
  /// Sets bit `i`, growing `bits` as needed.
  static void set_bit(std::vector<std::uint64_t>& bits, std::size_t i) {
    grow_bits(bits, i + 1);
    bits[i / 64] |= std::uint64_t{1} << (i % 64);
  }

  // A list maintenance or an export rewrites: the new links of `node` on `level`, and which of
  // them a repair added.
  struct Fix {
    Id node = kInvalidId;
    unsigned level = 0;
    std::vector<Id> links = {};
    std::vector<Id> added = {};
  };

  // The list live node `u` gets on `level` in place of `list` once the nodes `gone` marks leave
  // the graph: its other links stay, in order; into the freed places go nodes the gone ones link to
  // (live, not u, not linked already), first those the HNSW heuristic keeps against the list so far
  // (closest first; one closer to a link already there than to u is skipped), then the closest
  // others, until the list is as long as it was. Keeping the length (and connect()'s links back) is
  // what keeps the graph as good as a fresh build under churn: re-choosing the whole list by the
  // heuristic, as sweeps did before, shrank the mean layer-0 degree on siftsmall from 16.6 (fresh)
  // to 9.2 and recall@10 at EF 10 from 0.93 to 0.87 (bench_churn). `added` gets the new links.
  // Counts its distance computations in hnsw_work_done. Caller holds the shared lock.
  template <class Gone>
  void repaired_list(Id u, unsigned level, std::span<const Id> list, Gone&& gone, std::vector<Id>& out,
                            std::vector<Id>& added) const {
    thread_local std::vector<Id> pool;
    thread_local std::vector<Candidate> candidates;
    out.clear();
    added.clear();
    pool.clear();
    candidates.clear();
    std::size_t size = 0;
    for (; size < list.size() && list[size] != kInvalidId; ++size) {
      const Id n = list[size];
      if (!gone(n)) {
        out.push_back(n);
        continue;
      }
      const auto [via, via_cap] = neighbours(n, level);
      for (std::size_t t = 0; t < via_cap && via[t] != kInvalidId; ++t)
        if (via[t] != u && keys_.is_live(via[t])) pool.push_back(via[t]);
    }
    std::sort(pool.begin(), pool.end());
    pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
    for (Id c : pool)
      if (std::find(out.begin(), out.end(), c) == out.end()) candidates.push_back({distance_between(u, c), c});
    std::sort(candidates.begin(), candidates.end(), closer);
    const std::size_t kept = out.size();
    extend_by_heuristic(candidates, size, out, [this](Id c) { return stored(c); },
                        [&](std::size_t i) { candidates[i].id = kInvalidId; });  // taken
    for (const Candidate& c : candidates) {
      if (out.size() >= size) break;
      if (c.id != kInvalidId) out.push_back(c.id);
    }
    added.assign(out.begin() + static_cast<std::ptrdiff_t>(kept), out.end());
  }

  // ---------------------------------------------------------------------------------------------
  // Export with tombstones pending: the lists export_graph() writes instead of the stored ones.

  struct ExportRepair {
    std::vector<Fix> fixes;  // sorted by (node, level)
    const std::vector<Id>* find(Id node, unsigned level) const {
      const auto it = std::lower_bound(fixes.begin(), fixes.end(), std::pair{node, level}, [](const Fix& f, const auto& k) {
        return f.node != k.first ? f.node < k.first : f.level < k.second;
      });
      return it != fixes.end() && it->node == node && it->level == level ? &it->links : nullptr;
    }
  };

  // Every live node's list that links to a tombstone, repaired as a round repairs it (without the
  // links back, which would rewrite other lists), then relink_unreachable from `entry`. Caller
  // holds the shared lock.
  ExportRepair plan_export_repair(Id entry) const {
    ExportRepair r;
    const auto gone = [this](Id n) { return !keys_.is_live(n); };
    std::vector<Id> added;
    for (std::size_t i = 0; i < keys_.id_bound(); ++i) {
      const Id u = static_cast<Id>(i);
      if (!keys_.is_live(u)) continue;
      const unsigned top = level_of(u);
      for (unsigned l = 0; l <= top; ++l) {
        const auto [list, cap] = neighbours(u, l);
        if (std::none_of(list, list + cap, [&](Id n) { return n != kInvalidId && gone(n); })) continue;
        Fix& fix = r.fixes.emplace_back(Fix{u, l, {}, {}});
        repaired_list(u, l, {list, cap}, gone, fix.links, added);
      }
    }
    relink_unreachable(entry, r.fixes);
    std::sort(r.fixes.begin(), r.fixes.end(),
              [](const Fix& a, const Fix& b) { return a.node != b.node ? a.node < b.node : a.level < b.level; });
    return r;
  }

  // Walks the planned layer 0 (`fixes` applied, tombstones left out) from `entry` and links every
  // unreached live node back in: from the closest reached node with a free slot among its own
  // neighbours, else among all live nodes; only when no reached node has a free slot does it
  // displace the farthest link of the closest one (the displaced node is then handled in turn).
  // O(entries) time and memory, plus O(entries) per node relinked (rare). Caller holds the shared
  // lock.
  void relink_unreachable(Id entry, std::vector<Fix>& fixes) const {
    if (entry == kInvalidId) return;
    const std::size_t bound = keys_.id_bound();
    constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> fix_of(bound, kNone);  // index in `fixes` of each node's layer-0 fix
    for (std::size_t i = 0; i < fixes.size(); ++i)
      if (fixes[i].level == 0) fix_of[fixes[i].node] = i;
    // The layer-0 list of `u` as it will be exported.
    std::vector<Id> current;
    auto planned = [&](Id u) -> const std::vector<Id>& {
      if (fix_of[u] != kNone) return fixes[fix_of[u]].links;
      current.clear();
      const Id* list = links0(u);
      for (std::size_t j = 0; j < m0_ && list[j] != kInvalidId; ++j)
        if (keys_.is_live(list[j])) current.push_back(list[j]);
      return current;
    };
    std::vector<std::uint8_t> reached(bound, 0);
    std::vector<Id> queue;
    auto reach_from = [&](Id start) {
      reached[start] = 1;
      queue.assign(1, start);
      while (!queue.empty()) {
        const Id u = queue.back();
        queue.pop_back();
        for (Id n : planned(u))
          if (!reached[n]) {
            reached[n] = 1;
            queue.push_back(n);
          }
      }
    };
    // Makes the layer-0 list of `host` a fix (if it is not one yet) and returns it.
    auto fix_for = [&](Id host) -> std::vector<Id>& {
      if (fix_of[host] == kNone) {
        Fix fix{host, 0, planned(host), {}};
        fix_of[host] = fixes.size();
        fixes.push_back(std::move(fix));
      }
      return fixes[fix_of[host]].links;
    };
    auto has_room = [&](Id host) { return planned(host).size() < m0_; };
    std::vector<Id> own;
    // A displacement can cut off the displaced node: walk again, a bounded number of times.
    for (int round = 0; round < kRelinkRounds; ++round) {
      std::fill(reached.begin(), reached.end(), 0);
      reach_from(entry);
      bool displaced = false;
      for (std::size_t i = 0; i < bound; ++i) {
        const Id x = static_cast<Id>(i);
        if (!keys_.is_live(x) || reached[x]) continue;  // may be reached via a node re-linked before
        Id host = kInvalidId;
        Distance best = std::numeric_limits<Distance>::infinity();
        own = planned(x);
        for (Id n : own) {
          if (!reached[n] || !has_room(n)) continue;
          if (const Distance d = distance_between(x, n); d < best) {
            best = d;
            host = n;
          }
        }
        Id closest = kInvalidId;  // the closest reached node, whatever its room
        if (host == kInvalidId) {
          Distance closest_d = std::numeric_limits<Distance>::infinity();
          for (std::size_t j = 0; j < bound; ++j) {
            const Id n = static_cast<Id>(j);
            if (!reached[n]) continue;
            const Distance d = distance_between(x, n);
            // `closest == kInvalidId` first: even if a distance were not finite, some reached node
            // (the entry at least) is chosen, so no id below is ever kInvalidId.
            if (closest == kInvalidId || d < closest_d) {
              closest_d = d;
              closest = n;
            }
            if (d < best && has_room(n)) {
              best = d;
              host = n;
            }
          }
        }
        if (host != kInvalidId) {
          fix_for(host).push_back(x);
        } else {  // every reached list is full: displace the farthest link of the closest node
          std::vector<Id>& links = fix_for(closest);
          *std::max_element(links.begin(), links.end(), [&](Id a, Id b) {
            return distance_between(closest, a) < distance_between(closest, b);
          }) = x;
          displaced = true;
        }
        reach_from(x);
      }
      if (!displaced) return;
    }
  }

  // Where a maintenance walk links a live node it did not reach (plan_relink).
  struct Relink {
    bool found = false;     // a reached node links to it now (a link appeared behind the walk)
    Id host = kInvalidId;   // else the node to link it from (a reached one; kInvalidId: none)
    std::size_t slot = 0;   // the slot of host's layer-0 list to write
    bool displace = false;  // that slot holds a link now (every reached host found was full)
  };

  // Live node `x`, which a maintenance walk did not reach, is searched for by its own vector (layer
  // 0 seeded at the entry point too). Only nodes the walk reached (`reached(id)`) count: the search
  // also starts where its descent lands, from where it may find nodes, x among them, that the entry
  // point does not reach (layer 0 is directed; under IP this is common). When a reached node found
  // links to x, x is reachable after all; else x is to be linked from the closest reached node found
  // that has room, or, when none has, in place of that node's farthest link to a node another
  // neighbour also links to (then the walk runs again: the displaced node may be cut off). When the
  // search found no reached node, the entry point is the host. Caller holds the shared lock.
  template <class Reached>
  Relink plan_relink(Id x, Reached&& reached) const {
    Relink r;
    if (entry_ == kInvalidId || entry_ == x) {
      r.found = true;
      return r;
    }
    auto scratch = search_own_vector(x, true);
    std::vector<Id> hosts;  // reached live nodes found, closest first; the entry point last
    for (const Candidate& c : scratch->results)
      if (c.id != x && keys_.is_live(c.id) && reached(c.id)) hosts.push_back(c.id);
    if (std::find(hosts.begin(), hosts.end(), entry_) == hosts.end()) hosts.push_back(entry_);
    r.found = std::any_of(hosts.begin(), hosts.end(), [&](Id h) {
      const Id* hl = links0(h);
      return std::find(hl, hl + m0_, x) != hl + m0_;
    });
    for (std::size_t pass = 0; !r.found && r.host == kInvalidId && pass < 2; ++pass)
      for (const Id h : hosts) {
        const Id* hl = links0(h);
        if (pass == 0 && hl[m0_ - 1] != kInvalidId) continue;
        r.host = h;
        if (pass == 0) {
          r.slot = static_cast<std::size_t>(std::find(hl, hl + m0_, kInvalidId) - hl);
        } else {  // every host found is full: displace
          r.displace = true;
          Distance worst = -std::numeric_limits<Distance>::infinity();
          for (bool shared : {true, false}) {
            for (std::size_t j = 0; j < m0_; ++j)
              if ((!shared || linked_back(hl[j], h)) && distance_between(h, hl[j]) > worst) {
                worst = distance_between(h, hl[j]);
                r.slot = j;
              }
            if (worst > -std::numeric_limits<Distance>::infinity()) break;
          }
        }
        break;
      }
    return r;
  }

  // A local rebuild of live node `v` (maintenance's kRefresh): into `plan`, the updates that link
  // it into the lists of the M nodes the heuristic chooses among what a search for its own vector
  // finds, as an insert links a new node (those lists that hold it already are left). Caller holds
  // the shared lock.
  void plan_relinks_of(Id v, LinkPlan& plan) const {
    auto scratch = search_own_vector(v);
    std::vector<Candidate> live;
    for (const Candidate& c : scratch->results)
      if (c.id != v && keys_.is_live(c.id)) live.push_back(c);
    std::vector<Id> chosen;
    select_by_heuristic(live, m_, chosen);
    for (Id n : chosen) {
      const Id* list = links0(n);
      if (std::find(list, list + m0_, v) == list + m0_) plan_update(stored(v), n, 0, plan);
    }
  }

  // A search of layer 0 at EF_CONSTRUCTION for the vector of `x`, every node accepted, from where
  // the descent lands (and from the entry point too with `seed_entry`); its results sorted closest
  // first, in the returned scratch.
  auto search_own_vector(Id x, bool seed_entry = false) const {
    auto scratch = scratch_.take();
    scratch->start_walk({});  // no deadline: a pooled scratch may hold a query's
    const auto query = query_of(x);
    const float* q = query.data();
    Id ep = entry_;
    Distance d_ep = distance(q, ep);
    const Candidate entry = seed_entry ? Candidate{d_ep, entry_} : Candidate{0, kInvalidId};
    for (int l = max_level_; l > 0; --l) greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
    walk_layer(q, ep, d_ep, params_.ef_construction, 0, *scratch, AcceptEvery{}, keys_.id_bound(), entry);
    std::sort(scratch->results.begin(), scratch->results.end(), closer);
    measure_exactly(stored(x), scratch->results);  // lists are chosen on exact distances
    return scratch;
  }

  // The live node with the highest level (smallest id among equals), or kInvalidId.
  Id best_live_entry() const {
    Id best = kInvalidId;
    unsigned best_level = 0;
    upper_.for_each_node([&](Id id, unsigned levels) {
      if (!keys_.is_live(id)) return;
      if (best == kInvalidId || levels > best_level || (levels == best_level && id < best)) {
        best = id;
        best_level = levels;
      }
    });
    if (best != kInvalidId) return best;
    for (std::size_t i = 0; i < keys_.id_bound(); ++i)
      if (keys_.is_live(static_cast<Id>(i))) return static_cast<Id>(i);
    return kInvalidId;
  }

  /// HnswIndex::export_graph without the level generator's state: the graph as maintenance would
  /// leave it, every live node passed to `visit` in graph order (breadth first on layer 0 from the
  /// entry point, index/hnsw/graph_order.hpp). Caller holds the shared lock.
  template <class Visit>
  HnswGraphInfo export_nodes(Visit&& visit) const {
    HnswGraphInfo info;
    info.entry_point = entry_;
    info.max_level = max_level_;
    if (entry_ != kInvalidId && !keys_.is_live(entry_)) {
      info.entry_point = best_live_entry();
      info.max_level = info.entry_point == kInvalidId ? -1 : static_cast<int>(level_of(info.entry_point));
    }
    const ExportRepair repair = retired_.empty() ? ExportRepair{} : plan_export_repair(info.entry_point);
    // The links of `id` on layer `l` as exported: a repaired list, or the stored one without tombstones.
    auto exported_links = [&](Id id, unsigned l, auto&& f) {
      if (const std::vector<Id>* fixed = repair.find(id, l)) {
        for (const Id to : *fixed) f(to);
        return;
      }
      const auto [list, cap] = neighbours(id, l);
      for (std::size_t j = 0; j < cap && list[j] != kInvalidId; ++j)
        if (keys_.is_live(list[j])) f(list[j]);
    };
    const std::vector<Id> order = breadth_first_order(
        keys_.id_bound(), info.entry_point, [&](Id id) { return keys_.is_live(id); },
        [&](Id id, auto&& f) { exported_links(id, 0, f); });
    HnswNodeData node;
    for (const Id id : order) {
      node.id = id;
      node.key.assign(keys_.key(id));
      node.vector.resize(schema_.dim);
      codec_.decode(stored(id), node.vector.data(), schema_.dim);
      node.magnitude = Codec::Metric::kNormalizes ? *magnitudes_.slot(id) : 1.0f;
      const unsigned top = level_of(id);
      node.links.resize(top + 1);
      for (unsigned l = 0; l <= top; ++l) {
        node.links[l].clear();
        exported_links(id, l, [&](Id to) { node.links[l].push_back(to); });
      }
      visit(static_cast<const HnswNodeData&>(node));
    }
    return info;
  }
};

}  // namespace vindex::detail
