// vindex/index/hnsw/maintenance.hpp — HNSW maintenance rounds as a state machine of bounded steps:
// repair the lists that link to tombstones, free the tombstones, re-link a few old nodes, and check
// that layer 0 still reaches every live node.
//
// `detail::HnswMaintenance<Codec>` adds the round state and its steps to the repair planning
// (index/hnsw/repair.hpp): the last base of HnswIndex, in the chain graph ← search ← linking ←
// repair ← maintenance ← façade. It takes no lock. Every step has three parts, and the façade's
// `advance` is the one place that locks around them:
//   plan_step   reads the graph and writes only round state   — caller holds the shared lock
//   apply_step  writes what the plan found into the graph     — caller holds the exclusive lock
//               (only when Step::writes())
//   finish_step moves the round on and returns the work used  — no lock (round state only)
// Round state belongs to the writer: the caller also holds HnswIndex's writer mutex throughout, so
// no other write runs between a plan and its apply and a plan's view of liveness still holds.
//
//   kRepair  The batch is retired_[0, round_.batch): the tombstones pending when the round
//            started (later ones wait for the next round), marked in round_.dead. A cursor visits
//            every id; a live node's list that links to a batch member is replaced by
//            repaired_list(), a tombstone's own list just loses those links, and each node a
//            repair added then links back to the list's owner (connect(), as a new node's
//            neighbours do; one per step, so one per exclusive lock). Lists the cursor has passed
//            never gain a link to a batch member: no write links to a tombstone (plan_links,
//            commit, rehome and the repairs take live nodes only).
//   kFree    So once the cursor has passed every id nothing links to the batch: the entry point
//            moves off it if it was on it, and the slots are freed, kFreeChunk per step.
//   kRefresh One local rebuild per kTombstonesPerRefresh slots freed: the next live nodes in id
//            order are linked into their neighbours' lists again, as if new (one per step).
//   kWalk    A depth-first walk of layer 0 from the entry point, through tombstones as searches
//            go (a node inserted meanwhile counts as reached and is walked from), then a cursor
//            over the ids: a live node the walk missed is searched for by its own vector. When a
//            node the walk reached, among those found, links to it, it is walked from (a link
//            appeared behind the walk); else it is linked from the closest reached node found that
//            has room (the entry point when none was found), or displaces that node's farthest link
//            to a node someone else also links to, and then the walk runs again (at most
//            kRelinkRounds walks per round). Only reached nodes count: the search also starts where
//            its descent lands, which the entry point may not reach.
// Work units: one per list visited, node walked or slot freed, and one per distance computed or
// neighbour list read by the repairs, links back and local rebuilds (hnsw_work_done); EF_CONSTRUCTION
// · M per relink or rebuild search. Next: index/hnsw/insert.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "vindex/core/types.hpp"
#include "vindex/index/hnsw/repair.hpp"
#include "vindex/index/hnsw/types.hpp"
#include "vindex/storage/growth.hpp"

namespace vindex::detail {

/// The repair planning of index/hnsw/repair.hpp with the maintenance rounds that apply it.
template <class Codec>
struct HnswMaintenance : HnswRepair<Codec> {
  using Graph = HnswGraph<Codec>;
  using Search = HnswSearch<Codec>;
  using Linking = HnswLinking<Codec>;
  using Repair = HnswRepair<Codec>;
  using typename Graph::Candidate;
  using Graph::closer;
  using Graph::distance;
  using Graph::entry_;
  using Graph::keys_;
  using Graph::level_of;
  using Graph::linked_back;
  using Graph::links0;
  using Graph::m0_;
  using Graph::m_;
  using Graph::max_level_;
  using Graph::neighbours;
  using Graph::params_;
  using Graph::retired_;
  using Graph::select_by_heuristic;
  using Graph::store_link;
  using Graph::upper_;
  using Search::greedy;
  using Search::scratch_;
  using Search::search_layer;
  using typename Linking::LinkPlan;
  using typename Linking::LinkUpdate;
  using Linking::apply;
  using Linking::connect;
  using Linking::plan_update;
  using typename Repair::Fix;
  using typename Repair::Relink;
  using Repair::best_live_entry;
  using Repair::bit;
  using Repair::grow_bits;
  using Repair::kRelinkRounds;
  using Repair::plan_relink;
  using Repair::plan_relinks_of;
  using Repair::repaired_list;
  using Repair::set_bit;

  using Repair::HnswRepair;

  static constexpr std::size_t kMinSweep = 16;
  static constexpr std::size_t kSweepFraction = 16;  // writes maintain from 1/16 (see write_round_due)
  static constexpr std::size_t kRoundFraction = 64;  // maintain() starts a round from 1/64
  static constexpr std::size_t kQuietCalls = 8;      // ... or after this many calls with no write
  static constexpr std::size_t kMaintainStep = 512;  // maintain_for's step, in work units
  static constexpr std::size_t kFreeChunk = 256;     // slots freed per step
  static constexpr std::size_t kTombstonesPerRefresh = 2;  // local rebuilds: one per this many freed

  enum class Phase : std::uint8_t { kIdle, kRepair, kFree, kRefresh, kWalk };

  // A link a repair planned back to `to` from `from`, a node it added to the list of `to`.
  struct LinkBack {
    Id from;
    Id to;
    unsigned level;
  };

  struct Round {
    Phase phase = Phase::kIdle;
    bool urgent = false;                 // writes maintain until it ends (see write_round_due)
    bool displaced = false;              // a relink displaced a link: walk again
    int walks = 0;                       // walks started in this round
    std::size_t batch = 0;               // retired_[0, batch) is freed by this round
    std::size_t cursor = 0;              // next id (kRepair, kWalk) or batch position (kFree)
    std::vector<std::uint64_t> dead;     // bit per id: a batch member
    std::vector<std::uint64_t> reached;  // bit per id: reached by the walk
    std::vector<Id> stack;               // the walk's frontier
    std::vector<LinkBack> links_back;    // planned by repairs, done from next_link on
    std::size_t next_link = 0;
    std::size_t refreshes = 0;           // local rebuilds left (kRefresh)
    std::size_t memory_bytes() const noexcept {
      return (dead.capacity() + reached.capacity()) * sizeof(std::uint64_t) + stack.capacity() * sizeof(Id) +
             links_back.capacity() * sizeof(LinkBack);
    }
  };

  struct StatCounters {
    std::atomic<std::uint64_t> rounds{0}, work{0}, lists_repaired{0}, back_links{0}, nodes_relinked{0},
        tombstones_freed{0}, refreshed{0}, write_ns{0}, longest_write_ns{0}, maintain_ns{0};
  };
  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  // What plan_step found for apply_step to write. Fields by phase; the rest stay as they are.
  struct Step {
    Phase phase = Phase::kIdle;
    std::size_t budget = 0;      // units the step may use
    std::size_t used = 0;        // units charged by the plan and the apply (beyond hnsw_work_done)
    std::size_t work_start = 0;  // hnsw_work_done when the plan began
    // kRepair: a link back to make, or lists to rewrite.
    bool has_link = false;
    LinkBack link{kInvalidId, kInvalidId, 0};
    std::vector<Fix> fixes;
    // kFree: a new entry point first.
    bool move_entry = false;
    Id entry = kInvalidId;
    // kRefresh: the node re-linked and the updates of its neighbours' lists.
    Id refreshed = kInvalidId;
    LinkPlan plan;
    // kWalk: a live node the walk missed, and where it gets linked from.
    bool walk_done = false;
    Id missed = kInvalidId;
    Relink relink;

    /// Whether apply_step has anything to write (else the exclusive lock is not needed).
    bool writes() const noexcept {
      switch (phase) {
        case Phase::kRepair: return has_link || !fixes.empty();
        case Phase::kFree: return true;
        case Phase::kRefresh: return !plan.updates.empty();
        case Phase::kWalk: return missed != kInvalidId && !relink.found && relink.host != kInvalidId;
        case Phase::kIdle: return false;
      }
      return false;
    }
  };

  // ---------------------------------------------------------------------------------------------
  // When a round is due, starting and ending one (writer's state; the locks each needs are named).

  /// Whether a round is in progress (writer's view).
  bool round_active() const noexcept { return round_.phase != Phase::kIdle; }

  /// Counts `writes` writes (entries of a batch count one each).
  void note_writes(std::size_t writes) noexcept { writes_ += writes; }

  /// Counts a maintain() call: calls in a row that saw no write make a round due sooner.
  void note_maintain_call() noexcept {
    quiet_calls_ = writes_ == writes_at_maintain_ ? quiet_calls_ + 1 : 0;
    writes_at_maintain_ = writes_;
  }

  /// Whether writes must maintain now: tombstones, or inserts since the last round, reach 1/16 of
  /// the live entries (or the round in progress was started by writes). Caller holds the shared lock.
  bool write_round_due() const {
    const std::size_t threshold = std::max(kMinSweep, keys_.size() / kSweepFraction);
    return round_.phase == Phase::kIdle ? retired_.size() >= threshold || inserted_since_round_ >= threshold
                                        : round_.urgent || retired_.size() >= threshold;
  }

  /// Whether maintain() starts a round: tombstones at 1/64 of the live entries, inserts at 1/16,
  /// or anything pending once kQuietCalls calls in a row saw no write. Caller holds the shared lock.
  bool round_due() const {
    const std::size_t live = keys_.size();
    return retired_.size() >= std::max<std::size_t>(1, live / kRoundFraction) ||
           inserted_since_round_ >= std::max(kMinSweep, live / kSweepFraction) ||
           (anything_pending() && quiet_calls_ >= kQuietCalls);
  }

  /// Tombstones or inserts a round has not dealt with yet. Caller holds the shared lock.
  bool anything_pending() const noexcept { return !retired_.empty() || inserted_since_round_ > 0; }

  /// Whether maintain() has anything to do (maintenance_pending). Caller holds the shared lock.
  bool maintenance_pending_locked() const noexcept {
    return round_active_.load(std::memory_order_relaxed) || anything_pending();
  }

  /// Marks the round in progress as started by writes (they maintain until it ends).
  void mark_urgent() noexcept { round_.urgent = true; }

  /// Starts a round over the tombstones pending now. Caller holds the exclusive lock
  /// (inserted_since_round_ and round_active_ are read under the shared one).
  void begin_round() {
    round_.batch = retired_.size();
    round_.dead.assign((keys_.id_bound() + 63) / 64, 0);
    for (std::size_t i = 0; i < round_.batch; ++i) set_bit(round_.dead, retired_[i]);
    round_.cursor = 0;
    round_.walks = 0;
    round_.urgent = false;
    inserted_since_round_ = 0;
    round_active_.store(true, std::memory_order_relaxed);
    if (round_.batch > 0) {
      round_.phase = Phase::kRepair;
    } else {
      start_walk();
    }
    note_round_bytes();
  }

  /// Forgets the round in progress and what is pending (clear()). Caller holds the exclusive lock.
  void reset_maintenance() {
    inserted_since_round_ = 0;
    refresh_cursor_ = 0;
    end_round();
  }

  /// Makes room for an insert of id `next_id` in a walk in progress (may throw; capacity only).
  /// Caller holds the exclusive lock.
  void reserve_for_insert(std::size_t next_id) {
    if (round_.phase != Phase::kWalk) return;
    grow_bits(round_.reached, next_id + 1);
    reserve_for(round_.stack, round_.stack.size() + 1);
    note_round_bytes();
  }

  /// Counts node `id` as inserted: a walk in progress counts it as reached and walks on from it.
  /// After reserve_for_insert; caller holds the exclusive lock.
  void note_inserted(Id id) {
    ++inserted_since_round_;
    if (round_.phase != Phase::kWalk) return;
    set_bit(round_.reached, id);
    round_.stack.push_back(id);
    note_round_bytes();
  }

  /// What maintenance has done and what is pending. Caller holds the shared lock.
  HnswMaintenanceStats maintenance_stats_locked() const {
    HnswMaintenanceStats s;
    s.pending_tombstones = retired_.size();
    s.round_in_progress = round_active_.load(std::memory_order_relaxed);
    const auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    s.rounds = get(stats_.rounds);
    s.work = get(stats_.work);
    s.lists_repaired = get(stats_.lists_repaired);
    s.back_links = get(stats_.back_links);
    s.nodes_relinked = get(stats_.nodes_relinked);
    s.tombstones_freed = get(stats_.tombstones_freed);
    s.refreshed = get(stats_.refreshed);
    s.write_ns = get(stats_.write_ns);
    s.longest_write_ns = get(stats_.longest_write_ns);
    s.maintain_ns = get(stats_.maintain_ns);
    return s;
  }

  /// Bytes the round in progress holds (reported as scratch), as of the end of the last step. Safe
  /// under the shared lock: the round's own vectors change under it, so readers get a copy.
  std::size_t round_memory_bytes() const noexcept { return round_bytes_.load(std::memory_order_relaxed); }

  // ---------------------------------------------------------------------------------------------
  // Steps: plan (shared lock), apply (exclusive lock, when the plan writes), finish (no lock).

  /// Plans the next step of the round in progress within `budget` units (at least 1).
  Step plan_step(std::size_t budget) {
    Step s;
    s.phase = round_.phase;
    s.budget = budget;
    s.work_start = hnsw_work_done;
    switch (s.phase) {
      case Phase::kRepair: plan_repair(s); break;
      case Phase::kFree: plan_free(s); break;
      case Phase::kRefresh: plan_refresh(s); break;
      case Phase::kWalk: plan_walk(s); break;
      case Phase::kIdle: break;
    }
    return s;
  }

  /// Writes what `s` planned.
  void apply_step(Step& s) {
    switch (s.phase) {
      case Phase::kRepair: apply_repair(s); break;
      case Phase::kFree: apply_free(s); break;
      case Phase::kRefresh:
        for (const LinkUpdate& u : s.plan.updates) apply(u, s.plan, s.refreshed);
        break;
      case Phase::kWalk: store_link(links0(s.relink.host), s.relink.slot, s.missed); break;
      case Phase::kIdle: break;
    }
  }

  /// Moves the round on past `s` and returns the work units it used.
  std::size_t finish_step(Step& s) {
    std::size_t used = 0;
    switch (s.phase) {
      case Phase::kRepair: used = finish_repair(s); break;
      case Phase::kFree: used = std::max<std::size_t>(s.used, 1); break;
      case Phase::kRefresh: used = finish_refresh(s); break;
      case Phase::kWalk: used = finish_walk(s); break;
      case Phase::kIdle: break;
    }
    note_round_bytes();
    return used;
  }

  /// Counts `units` of work done by steps.
  void count_work(std::size_t units) noexcept { add(stats_.work, units); }

  // kRepair ---------------------------------------------------------------------------------------

  // The next link back whose ends are both live (one per step), or, once none is left, the lists
  // of the next ids that link to the batch, within the budget.
  void plan_repair(Step& s) {
    if (skip_dead_links()) {
      s.has_link = true;
      s.link = round_.links_back[round_.next_link++];
      return;
    }
    round_.links_back.clear();
    round_.next_link = 0;
    const auto dead = [this](Id n) { return bit(round_.dead, n); };
    const std::size_t bound = keys_.id_bound();
    while (hnsw_work_done - s.work_start + s.used < s.budget && round_.cursor < bound) {
      const Id u = static_cast<Id>(round_.cursor++);
      ++s.used;
      if (dead(u)) continue;  // a batch member: its lists go with it
      const bool live = keys_.is_live(u);
      const unsigned top = level_of(u);
      for (unsigned l = 0; l <= top; ++l) {
        const auto [list, cap] = neighbours(u, l);
        std::size_t j = 0;
        while (j < cap && list[j] != kInvalidId && !dead(list[j])) ++j;
        if (j == cap || list[j] == kInvalidId) continue;
        Fix& fix = s.fixes.emplace_back(Fix{u, l, {}, {}});
        if (live) {
          repaired_list(u, l, {list, cap}, dead, fix.links, fix.added);
        } else {
          for (std::size_t i = 0; i < cap && list[i] != kInvalidId; ++i)
            if (!dead(list[i])) fix.links.push_back(list[i]);
        }
      }
    }
  }

  // Moves next_link past links back whose ends are no longer both live (a write since the repair
  // that planned them tombstoned one); true when one is left.
  bool skip_dead_links() noexcept {
    while (round_.next_link < round_.links_back.size()) {
      const LinkBack& b = round_.links_back[round_.next_link];
      if (keys_.is_live(b.from) && keys_.is_live(b.to)) return true;
      ++round_.next_link;
    }
    return false;
  }

  void apply_repair(Step& s) {
    if (s.has_link) {
      connect(s.link.from, s.link.to, s.link.level);
      return;
    }
    std::size_t repaired = 0;
    for (const Fix& fix : s.fixes) {
      const auto [list, cap] = neighbours(fix.node, fix.level);
      std::copy(fix.links.begin(), fix.links.end(), list);
      std::fill(list + fix.links.size(), list + cap, kInvalidId);
      repaired += keys_.is_live(fix.node) ? 1 : 0;
    }
    add(stats_.lists_repaired, repaired);
  }

  std::size_t finish_repair(Step& s) {
    if (s.has_link) {
      add(stats_.back_links, 1);
      const std::size_t used = hnsw_work_done - s.work_start + 1;
      // Links back whose ends died cost nothing: within the budget, pass them now. With none
      // left, the phase ends here if the cursor has passed every id.
      if (used < s.budget) skip_dead_links();
      if (round_.next_link == round_.links_back.size()) end_repair_if_done();
      return used;
    }
    // Each node a repair added links back, as a new node's neighbours do (in the next steps):
    // without this the graph drifts away from a fresh build's under churn (bench_churn, 64-d
    // Gaussian: own-vector rate at EF 200 0.981 against 0.998 fresh; with it 0.998).
    for (const Fix& fix : s.fixes)
      for (Id c : fix.added) round_.links_back.push_back({c, fix.node, fix.level});
    if (round_.links_back.empty()) end_repair_if_done();
    return std::max<std::size_t>(hnsw_work_done - s.work_start + s.used, 1);
  }

  // With no link back left: once the cursor has passed every id, on to kFree.
  void end_repair_if_done() {
    round_.links_back.clear();
    round_.next_link = 0;
    if (round_.cursor >= keys_.id_bound()) {
      round_.phase = Phase::kFree;
      round_.cursor = 0;
    }
  }

  // kFree -----------------------------------------------------------------------------------------

  void plan_free(Step& s) {
    if (round_.cursor == 0 && entry_ != kInvalidId && bit(round_.dead, entry_)) {
      s.move_entry = true;
      s.entry = best_live_entry();
      s.used += upper_.list_count() + 1;
    }
  }

  void apply_free(Step& s) {
    if (s.move_entry) {
      entry_ = s.entry;
      max_level_ = s.entry == kInvalidId ? -1 : static_cast<int>(level_of(s.entry));
    }
    const std::size_t end =
        std::min(round_.batch, round_.cursor + std::clamp<std::size_t>(s.budget, 1, kFreeChunk));
    for (; round_.cursor < end; ++round_.cursor, ++s.used) {
      const Id r = retired_[round_.cursor];
      upper_.remove(r);
      std::fill_n(links0(r), m0_, kInvalidId);
      keys_.release_retired(r);
    }
    if (round_.cursor == round_.batch) {
      retired_.erase(retired_.begin(), retired_.begin() + static_cast<std::ptrdiff_t>(round_.batch));
      add(stats_.tombstones_freed, round_.batch);
      round_.refreshes = (round_.batch + kTombstonesPerRefresh - 1) / kTombstonesPerRefresh;
      round_.batch = 0;
      round_.dead = {};
      round_.phase = Phase::kRefresh;
    }
  }

  // kRefresh --------------------------------------------------------------------------------------

  // Local rebuilds: a churned graph ages its old nodes. Every write adds links to lists and every
  // full list then drops one, by the heuristic; a node inserted long ago has lived through more of
  // that than the average node of a fresh build, so fewer of its near neighbours still link to it
  // and a search at a small ef misses it more often (bench_churn, 64-d Gaussian, 30,000 keys,
  // 10,000 writes: own-vector top-10 at EF 10 of untouched keys 0.711 against 0.752 fresh, of keys
  // written during the churn 0.839). So each round re-links one live node per kTombstonesPerRefresh
  // tombstones it freed, in id order across rounds (every node in turn), as an insert links a new
  // node into its neighbours' lists: search for its own vector, choose M of what the search finds
  // by the heuristic, and add it to those lists (plan_update / apply, as for an insert).
  void plan_refresh(Step& s) {
    if (round_.refreshes == 0) return;
    --round_.refreshes;
    const std::size_t bound = keys_.id_bound();
    if (keys_.size() < 2) return;
    Id v;
    do {
      v = static_cast<Id>(refresh_cursor_++ % bound);
      ++s.used;
    } while (!keys_.is_live(v));
    s.refreshed = v;
    plan_relinks_of(v, s.plan);
  }

  std::size_t finish_refresh(Step& s) {
    std::size_t used = s.used;
    if (s.refreshed != kInvalidId) {
      add(stats_.refreshed, 1);
      used += hnsw_work_done - s.work_start + params_.ef_construction * m_;  // + the search, roughly
    }
    if (round_.refreshes == 0 || keys_.size() < 2) start_walk();
    return std::max<std::size_t>(used, 1);
  }

  // kWalk -----------------------------------------------------------------------------------------

  void start_walk() {
    round_.phase = Phase::kWalk;
    round_.cursor = 0;
    round_.displaced = false;
    ++round_.walks;
    round_.reached.assign((keys_.id_bound() + 63) / 64, 0);
    round_.stack.clear();
    if (entry_ != kInvalidId) {
      set_bit(round_.reached, entry_);
      round_.stack.push_back(entry_);
    }
  }

  void plan_walk(Step& s) {
    const std::size_t bound = keys_.id_bound();
    while (s.used < s.budget) {
      ++s.used;
      if (!round_.stack.empty()) {
        const Id u = round_.stack.back();
        round_.stack.pop_back();
        const Id* list = links0(u);
        for (std::size_t j = 0; j < m0_ && list[j] != kInvalidId; ++j)
          if (!bit(round_.reached, list[j])) {
            set_bit(round_.reached, list[j]);
            round_.stack.push_back(list[j]);
          }
        continue;
      }
      if (round_.cursor >= bound) {
        s.walk_done = true;
        break;
      }
      const Id x = static_cast<Id>(round_.cursor++);
      if (keys_.is_live(x) && !bit(round_.reached, x)) {
        s.missed = x;
        s.relink = plan_relink(x, [&](Id id) { return bit(round_.reached, id); });
        break;
      }
    }
  }

  std::size_t finish_walk(Step& s) {
    std::size_t used = s.used;
    if (s.missed != kInvalidId) {
      if (s.writes()) {
        round_.displaced |= s.relink.displace;
        add(stats_.nodes_relinked, 1);
      }
      set_bit(round_.reached, s.missed);
      round_.stack.push_back(s.missed);
      used += params_.ef_construction * m_;  // the search's distances, roughly (search_layer does not count)
    }
    if (s.walk_done) {
      if (round_.displaced && round_.walks < kRelinkRounds) {
        start_walk();
      } else {
        end_round();
        add(stats_.rounds, 1);
      }
    }
    return used;
  }

  void end_round() {
    round_ = Round{};
    round_active_.store(false, std::memory_order_relaxed);
    note_round_bytes();
  }

  // Publishes round_.memory_bytes() for readers (round_memory_bytes), after each change of it.
  void note_round_bytes() noexcept { round_bytes_.store(round_.memory_bytes(), std::memory_order_relaxed); }

  // The writer's maintenance state (HnswIndex's writer mutex held), read by the shared-lock
  // functions above under the shared lock and changed by the others.
  std::size_t inserted_since_round_ = 0;   // nodes inserted since the last round started
  Round round_;                             // maintenance in progress
  std::atomic<bool> round_active_{false};  // round_.phase != kIdle, for maintenance_pending()
  std::atomic<std::size_t> round_bytes_{0};  // round_.memory_bytes() after the last change
  std::uint64_t writes_ = 0;                // writes so far (entries of batches count one each)
  std::uint64_t writes_at_maintain_ = 0;    // writes_ at the last maintain() call
  std::size_t quiet_calls_ = 0;             // maintain() calls in a row that saw no write
  std::size_t refresh_cursor_ = 0;          // next id to consider for a local rebuild
  StatCounters stats_;
};

}  // namespace vindex::detail
