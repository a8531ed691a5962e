// vindex/index/hnsw/insert.hpp — inserting one node into an HNSW graph: reserving what a batch
// will take (reserve_batch), planning the new node's lists and its neighbours' (plan_links), and
// writing them (commit).
//
// `detail::HnswInsert<Codec>` adds these to the maintenance rounds (index/hnsw/maintenance.hpp),
// whose walk a commit tells about the new node: the last base of HnswIndex, in the chain graph ←
// search ← linking ← repair ← maintenance ← insert ← façade. The façade keeps the orchestration
// (levels, batches, threads, memory failures) and takes the locks; each function here says which
// it needs. Next: index/hnsw/restore.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/index/hnsw/maintenance.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/storage/growth.hpp"
#include "vindex/storage/key_map.hpp"

namespace vindex::detail {

/// The maintenance rounds of index/hnsw/maintenance.hpp with the insert of one node.
template <class Codec>
struct HnswInsert : HnswMaintenance<Codec> {
  using Graph = HnswGraph<Codec>;
  using Linking = HnswLinking<Codec>;
  using Maintenance = HnswMaintenance<Codec>;
  using typename Graph::Candidate;
  using typename Graph::NodeGrowth;
  using Graph::closer;
  using Graph::codec_;
  using Graph::distance;
  using Graph::entry_;
  using Graph::grow_nodes;
  using Graph::keys_;
  using Graph::linked_back;
  using Graph::links0;
  using Graph::m0_;
  using Graph::m_;
  using Graph::max_level_;
  using Graph::measure_exactly;
  using Graph::with_query_form;
  using Graph::neighbours;
  using Graph::nodes_;
  using Graph::params_;
  using Graph::retired_;
  using Graph::same_vector;
  using Graph::schema_;
  using Graph::select_by_heuristic;
  using Graph::upper_;
  using Graph::write_vector;
  using HnswSearch<Codec>::greedy;
  using HnswSearch<Codec>::scratch_;
  using HnswSearch<Codec>::search_layer;
  using HnswSearch<Codec>::walk_layer;
  using typename Linking::LinkPlan;
  using typename Linking::LinkUpdate;
  using Linking::apply;
  using Linking::plan_update;
  using Linking::rehome;
  using HnswRepair<Codec>::bit;
  using HnswRepair<Codec>::set_bit;
  using Maintenance::note_inserted;
  using Maintenance::reserve_for_insert;

  using Maintenance::HnswMaintenance;

  /// Reserves everything inserting `keys` at `levels` can take from the memory resource: a node
  /// slot per entry (each takes a new id), their upper-layer lists, tombstone room for the entries
  /// they replace, key-table room and each new long key's copy (into `rooms`), so that the inserts
  /// allocate nothing from it. On failure nothing changes and nothing stays allocated. Caller holds
  /// the exclusive lock.
  void reserve_batch(std::span<const KeyView> keys, std::span<const unsigned> levels,
                     std::vector<KeyMap::Insertion>& rooms) {
    std::size_t fresh = 0, replaced = 0, long_keys = 0, lists = 0;
    rooms.clear();
    rooms.reserve(keys.size());
    for (std::size_t j = 0; j < keys.size(); ++j) {
      lists += levels[j];
      if (keys_.find(keys[j])) {
        ++replaced;
        rooms.emplace_back();
      } else {
        ++fresh;
        long_keys += KeyMap::stored_inline(keys[j]) ? 0 : 1;
        rooms.push_back(keys_.copy_key(keys[j]));
      }
    }
    NodeGrowth nodes = grow_nodes(keys_.id_bound() + keys.size());
    auto upper = upper_.grow(lists);
    GrowGuard retired(retired_, retired_.size() + replaced);
    keys_.reserve(keys_.size() + fresh, keys_.id_bound() + keys.size(), long_keys);  // strong: last
    nodes.commit();
    upper.commit();
    retired.commit();
  }

  /// Marks the tombstones now as the ones planners of a concurrent batch, which hold no lock, tell
  /// by (the batch frees none; those it makes itself are left out at commit). Caller holds the
  /// exclusive lock.
  void snapshot_tombstones() {
    batch_tombstones_.clear();
    for (Id r : retired_) set_bit(batch_tombstones_, r);
  }
  /// Forgets snapshot_tombstones()'s marks once the batch is done.
  void drop_tombstone_snapshot() noexcept { batch_tombstones_ = {}; }

  /// Finds the neighbours of the new node (prepared vector `q`, given length `magnitude`) on each of
  /// its layers and the lists those neighbours will have with it, so that commit() only writes.
  /// Caller holds the shared lock and passes `release`, called once before layer 0: with
  /// `concurrent` (insert_batch's threads, node storage reserved up front so no id's record moves)
  /// it drops the lock, and the layer-0 part, nearly all of the work, runs without it: other
  /// threads' commits go on meanwhile, and commit() applies an update only to a list still as it
  /// was read, re-planning the others under the exclusive lock.
  template <class Release>
  LinkPlan plan_links(const float* q, float magnitude, unsigned level, Id replaced, bool concurrent,
                      Release&& release) const {
    if (entry_ == kInvalidId) return {};
    const auto encoded = codec_.encoded(q, magnitude, schema_.dim);  // the new vector as lists compare it
    return with_query_form(q, [&](const float* form) {
      return plan_links_form(form, encoded.data(), level, replaced, concurrent, release);
    });
  }

  // plan_links with the new vector in the codec's query form (`q`) and its stored form (`encoded`).
  template <class Release>
  LinkPlan plan_links_form(const float* q, const std::byte* encoded, unsigned level, Id replaced, bool concurrent,
                           Release& release) const {
    LinkPlan plan;
    auto scratch = scratch_.take();
    scratch->start_walk({});
    const std::size_t id_bound = concurrent ? nodes_.capacity_slots() : keys_.id_bound();
    Id ep = entry_;
    Distance d_ep = distance(q, ep);
    for (int l = max_level_; l > static_cast<int>(level); --l)
      greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
    const int top = std::min(static_cast<int>(level), max_level_);
    plan.links.resize(static_cast<std::size_t>(top) + 1);
    std::vector<Candidate> sorted;
    std::vector<Candidate> live;
    for (int l = top; l >= 0; --l) {
      if (l == 0) release();
      // The walk goes through tombstones, but the new node links to live nodes only, and not to the
      // node it replaces: no write ever links to a tombstone, which is what lets a maintenance round
      // free one once its cursor has passed every list. (Choosing the replaced node, the closest
      // one after a small update, and dropping it at commit would leave the new node with few
      // links: the heuristic skips whatever that node dominated.)
      walk_layer(q, ep, d_ep, params_.ef_construction, static_cast<unsigned>(l), *scratch, AcceptEvery{}, id_bound);
      sorted = scratch->results;
      std::sort(sorted.begin(), sorted.end(), closer);
      live.clear();
      for (const Candidate& c : sorted)
        if (c.id != replaced && is_live_now(c.id, concurrent)) live.push_back(c);
      measure_exactly(encoded, live);  // lists are chosen on exact distances
      std::vector<Id>& chosen = plan.links[static_cast<std::size_t>(l)];
      select_by_heuristic(live, m_, chosen);
      for (Id n : chosen) plan_update(encoded, n, static_cast<unsigned>(l), plan);
      if (!sorted.empty()) {
        ep = sorted.front().id;
        d_ep = sorted.front().distance;
      }
    }
    return plan;
  }

  /// Writes the node of `key` (a new node: an existing key's node becomes a tombstone) with vector
  /// `v` at `level` and the lists `plan` found. `room`: what reserve_batch set aside for this key,
  /// or null. Allocates first, so a failure leaves everything as it was. Caller holds the exclusive
  /// lock.
  UpsertResult commit(KeyView key, const float* v, float magnitude, unsigned level, const LinkPlan& plan,
                      KeyMap::Insertion* room = nullptr) {
    UpsertOutcome outcome = UpsertOutcome::kInserted;
    const auto old = keys_.find(key);
    if (old) {
      if (same_vector(*old, v, magnitude)) return {UpsertOutcome::kUnchanged, VectorFailure::kNone, *old};
      outcome = UpsertOutcome::kUpdated;
    }
    // Allocate everything first: past this point nothing throws. Should one allocation fail, the
    // guards give back what the earlier ones took, so the index is exactly as it was. (A walk's
    // bitset and stack growing first is harmless: capacity only.)
    reserve_for_insert(keys_.next_id());
    NodeGrowth nodes = grow_nodes(keys_.next_id() + std::size_t{1});  // one block at most
    auto upper = upper_.grow(level);
    GrowGuard retired(retired_, retired_.size() + (old ? 1 : 0));
    KeyMap::Insertion key_room = room ? std::move(*room) : old ? keys_.prepare_move() : keys_.prepare(key);
    nodes.commit();
    upper.commit();
    retired.commit();
    Id id;
    if (old) {
      id = keys_.reinsert(key, std::move(key_room)).second;  // the old id becomes a tombstone
      retired_.push_back(*old);
    } else {
      id = keys_.insert(key, std::move(key_room));
    }

    // The new node's own vector and lists first: nothing links to it yet. Neighbours that are
    // tombstones by now (another thread of the batch replaced their key, or this key's old node)
    // are left out: no write links to a tombstone.
    write_vector(id, v, magnitude);
    std::fill_n(links0(id), m0_, kInvalidId);
    upper_.add(id, level);
    for (std::size_t l = 0; l < plan.links.size(); ++l)
      std::copy_if(plan.links[l].begin(), plan.links[l].end(), neighbours(id, static_cast<unsigned>(l)).first,
                   [&](Id n) { return keys_.is_live(n); });
    for (const LinkUpdate& u : plan.updates)
      if (keys_.is_live(u.node)) apply(u, plan, id);
    note_inserted(id);  // a maintenance walk in progress counts it as reached and walks on from it
    // Every neighbour may have pruned the new node (full lists of closer nodes): link it from near one.
    if (links0(id)[0] != kInvalidId && !linked_back(id, kInvalidId)) rehome(id, links0(id)[0]);
    if (entry_ == kInvalidId || static_cast<int>(level) > max_level_) {
      entry_ = id;
      max_level_ = static_cast<int>(level);
    }
    return {outcome, VectorFailure::kNone, id};
  }

  // Whether `id` may be linked to by a new node: live (concurrent planners, which hold no lock, ask
  // batch_tombstones_ instead; commit() checks again).
  bool is_live_now(Id id, bool concurrent) const noexcept {
    return concurrent ? !bit(batch_tombstones_, id) : keys_.is_live(id);
  }

  std::vector<std::uint64_t> batch_tombstones_;  // tombstones when a concurrent batch began
};

}  // namespace vindex::detail
