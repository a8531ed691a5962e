// vindex/index/hnsw/search.hpp — searching an HNSW graph: greedy descent through the upper layers,
// the best-first walk of one layer (the hot loop), KNN and range walks, and the exact scan that
// replaces a filtered walk when few entries match.
//
// `detail::HnswSearch<Codec>` adds these to the graph state (index/hnsw/graph.hpp) and owns the
// pool of per-query scratch. It is a base of HnswIndex, not an interface: no virtual function, and
// every call is resolved at compile time, as when these were members of HnswIndex.
//
// Thread-safety: takes no lock. Callers hold HnswIndex's shared lock (or more) for a walk; inserting
// threads of a batch may run walk_layer on layer 0 without it (see plan_links in
// index/hnsw/insert.hpp): it loads each link once with an atomic load. Errors: a walk past its
// deadline throws kTimeout unless the caller asked for partial results. Next: index/hnsw/linking.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/hnsw/graph.hpp"
#include "vindex/index/results.hpp"
#include "vindex/index/top_k.hpp"
#include "vindex/index/vector_index.hpp"
#include "vindex/storage/visited_set.hpp"

namespace vindex::detail {

/// The acceptance of a walk that keeps every node it meets (no filter, no tombstone): such a walk
/// runs on a CandidatePool (see index/hnsw/candidate_pool.hpp).
struct AcceptEvery {
  bool operator()(Id) const noexcept { return true; }
};

/// The graph of index/hnsw/graph.hpp with its search walks and the query scratch pool.
template <class Codec>
struct HnswSearch : HnswGraph<Codec> {
  using Graph = HnswGraph<Codec>;
  using typename Graph::Candidate;
  using typename Graph::Scratch;
  using Graph::closer;
  using Graph::codec_;
  using Graph::distance;
  using Graph::exact_distance;
  using Graph::with_query_form;
  using Graph::entry_;
  using Graph::farther;
  using Graph::keys_;
  using Graph::load_link;
  using Graph::m_;
  using Graph::max_level_;
  using Graph::measure_below;
  using Graph::neighbours;
  using Graph::params_;
  using Graph::prefetch_list;
  using Graph::retired_;
  using Graph::schema_;
  using Graph::stored;

  using Graph::Graph;


  /// Moves `ep` (at distance `d_ep`) to a closer neighbour on `level` until none is closer.
  void greedy(const float* q, Id& ep, Distance& d_ep, unsigned level, Scratch& s) const {
    for (bool moved = true; moved;) {
      moved = false;
      const auto [list, cap] = neighbours(ep, level);
      std::size_t count = 0;
      while (count < cap && list[count] != kInvalidId) ++count;
      ++s.expansions;
      s.distances += count;
      measure_below(q, {list, count}, d_ep, [&](Id n, Distance d) {
        if (d < d_ep) {
          d_ep = d;
          ep = n;
          moved = true;
        }
      });
    }
  }

  // Best-first search of one layer from `ep` keeping the `ef` closest accepted nodes in
  // scratch.results (a max-heap). Rejected nodes (tombstones, filtered out) are still expanded, so
  // the walk goes through them; it stops once the closest unexpanded candidate is farther than the
  // worst of ef accepted results (by distance, then id), or, setting s.timed_out, once s.deadline has passed (looked at
  // at the first expansion and every kDeadlineStride after: a few hundred distances).
  template <class Accept>
  void search_layer(const float* q, Id ep, Distance d_ep, std::size_t ef, unsigned level, Scratch& s,
                    Accept&& accept, std::size_t id_bound, Candidate also = {0, kInvalidId}) const {
    s.visited.begin(id_bound);
    s.candidates.clear();
    s.results.clear();
    if (s.fresh.size() < 2 * m_) s.fresh.resize(2 * m_);
    Id* const fresh = s.fresh.data();
    Distance bound = std::numeric_limits<Distance>::infinity();
    auto seed = [&](Candidate c) {
      s.visited.insert(c.id);
      s.candidates.push_back(c);
      std::push_heap(s.candidates.begin(), s.candidates.end(), farther);
      if (!accept(c.id)) return;
      s.results.push_back(c);
      std::push_heap(s.results.begin(), s.results.end(), closer);
      if (s.results.size() > ef) {
        std::pop_heap(s.results.begin(), s.results.end(), closer);
        s.results.pop_back();
      }
      if (s.results.size() == ef) bound = s.results.front().distance;
    };
    seed({d_ep, ep});
    if (also.id != kInvalidId && also.id != ep) seed(also);
    while (!s.candidates.empty()) {
      const Candidate c = s.candidates.front();
      // Past the ef-th result (ties by id, as a CandidatePool drops them): so is every other.
      if (s.results.size() == ef && closer(s.results.front(), c)) break;
      if (++s.expansions % kDeadlineStride == 1 && s.deadline.passed()) {
        s.timed_out = true;
        break;
      }
      std::pop_heap(s.candidates.begin(), s.candidates.end(), farther);
      s.candidates.pop_back();
      // The next candidate's list is needed soon: start fetching it now.
      if (!s.candidates.empty()) prefetch_list(s.candidates.front().id, level);

      // (fresh holds room for the longest list: written by index, no push_back in the hot loop.)
      const std::size_t count = unvisited_neighbours(c.id, level, s, fresh);
      s.distances += count;
      measure_below(q, {fresh, count}, bound, [&](Id n, Distance d) {
        if (!(d < bound)) return;
        s.candidates.push_back({d, n});
        std::push_heap(s.candidates.begin(), s.candidates.end(), farther);
        if (!accept(n)) return;
        s.results.push_back({d, n});
        std::push_heap(s.results.begin(), s.results.end(), closer);
        if (s.results.size() > ef) {
          std::pop_heap(s.results.begin(), s.results.end(), closer);
          s.results.pop_back();
        }
        if (s.results.size() == ef) bound = s.results.front().distance;
      });
    }
  }

  /// search_layer, on a CandidatePool for a walk that accepts every node (Accept is AcceptEvery) at
  /// ef up to kPoolMaxEf: then s.results is left sorted closest first. Callers that need the results
  /// in order sort them either way.
  template <class Accept>
  void walk_layer(const float* q, Id ep, Distance d_ep, std::size_t ef, unsigned level, Scratch& s, Accept&& accept,
                  std::size_t id_bound, Candidate also = {0, kInvalidId}) const {
    if constexpr (std::is_same_v<std::decay_t<Accept>, AcceptEvery>) {
      if (ef <= kPoolMaxEf) return search_layer_every(q, ep, d_ep, ef, level, s, id_bound, also);
    }
    search_layer(q, ep, d_ep, ef, level, s, accept, id_bound, also);
  }

  // search_layer for a walk that accepts every node: the same expansions and results (ties by id,
  // as search_layer breaks them), kept in s.pool instead of the two heaps and left in s.results
  // closest first.
  void search_layer_every(const float* q, Id ep, Distance d_ep, std::size_t ef, unsigned level, Scratch& s,
                          std::size_t id_bound, Candidate also) const {
    s.visited.begin(id_bound);
    s.pool.reset(ef);
    if (s.fresh.size() < 2 * m_) s.fresh.resize(2 * m_);
    Id* const fresh = s.fresh.data();
    Distance bound = std::numeric_limits<Distance>::infinity();
    auto add = [&](Candidate c) {
      s.pool.insert(c);
      if (s.pool.full()) bound = s.pool.farthest().distance;
    };
    s.visited.insert(ep);
    add({d_ep, ep});
    if (also.id != kInvalidId && also.id != ep) {
      s.visited.insert(also.id);
      add(also);
    }
    for (Candidate c; s.pool.expand_next(c);) {
      if (++s.expansions % kDeadlineStride == 1 && s.deadline.passed()) {
        s.timed_out = true;
        break;
      }
      // The next candidate's list is needed soon, unless a closer node turns up: fetch it now.
      if (const Candidate* next = s.pool.peek_next()) prefetch_list(next->id, level);
      const std::size_t count = unvisited_neighbours(c.id, level, s, fresh);
      s.distances += count;
      measure_below(q, {fresh, count}, bound, [&](Id n, Distance d) {
        if (d < bound) add({d, n});
      });
    }
    s.results.assign(s.pool.begin(), s.pool.end());
  }

  // Writes the neighbours of `id` on `level` not visited yet to `out` (room for 2·M), marking them
  // visited; returns their count. Each link is loaded once: inserting threads may be rewriting this
  // list (see plan_links in index/hnsw/insert.hpp).
  std::size_t unvisited_neighbours(Id id, unsigned level, Scratch& s, Id* out) const noexcept {
    const auto [list, cap] = neighbours(id, level);
    std::size_t links = 0;
    for (; links < cap; ++links) {
      const Id n = load_link(list, links);
      if (n == kInvalidId) break;
      s.visited.prefetch(n);
      out[links] = n;
    }
    std::size_t count = 0;
    for (std::size_t i = 0; i < links; ++i) {  // without a branch on the mark: it is data, not a pattern
      const Id n = out[i];
      out[count] = n;
      count += s.visited.insert(n) ? 1 : 0;
    }
    return count;
  }

  /// The k closest accepted nodes to `q` (prepared), walking with `ef` candidates; ties by key.
  template <class Accept>
  std::vector<SearchResult> knn(const float* q, std::size_t k, std::size_t ef, const SearchOptions& options,
                                Accept&& accept) const {
    auto scratch = scratch_.take();
    scratch->start_walk(options.deadline);
    Id ep = entry_;
    Distance d_ep = distance(q, ep);
    const Candidate entry{d_ep, entry_};
    for (int l = max_level_; l > 0; --l) greedy(q, ep, d_ep, static_cast<unsigned>(l), *scratch);
    // The entry point is a second seed on layer 0: the sweep guarantees that every live node is
    // reachable from it, while the descent may land on a node from which some are not (layer 0 is
    // a directed graph). Far from the query, it is only expanded when ef leaves room, so with ef at
    // least the entry count the walk is exhaustive.
    walk_layer(q, ep, d_ep, ef, 0, *scratch, accept, keys_.id_bound(), entry);
    finish_walk(*scratch, options, "HNSW search");
    auto& r = scratch->results;
    if constexpr (is_approximate_codec_v<Codec>) rerank(q, k * options.rerank.value_or(Sq8::kDefaultRerank), r);
    // Keep the k closest (and anything tied with the k-th), then order them by distance and key.
    if (r.size() > k) {
      std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(k - 1), r.end(), closer);
      const Distance kth = r[k - 1].distance;
      r.erase(std::partition(r.begin() + static_cast<std::ptrdiff_t>(k), r.end(),
                             [&](const Candidate& c) { return c.distance <= kth; }),
              r.end());
    }
    std::vector<std::pair<Distance, Id>> hits;
    hits.reserve(r.size());
    for (const Candidate& c : r) hits.emplace_back(c.distance, c.id);
    sort_by_distance_then_key(keys_, hits);
    if (hits.size() > k) hits.resize(k);
    return to_results(keys_, hits);
  }

  // With an approximate codec: keeps the `count` closest of `r` by walk distance and gives them
  // their exact distances, each kernel fetching the next candidate's exact vector while it runs
  // (the exact vectors are not in cache: the walk read only the codes).
  void rerank(const float* q, std::size_t count, std::vector<Candidate>& r) const {
    if (r.size() > count) {
      std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(count - 1), r.end(), closer);
      r.resize(count);
    }
    if constexpr (is_approximate_codec_v<Codec>) {  // (an explicit instantiation compiles this for every codec)
      if (r.empty() || !this->exact_in_index()) return;  // released: the caller re-ranks on the host
      hnsw_work_done += r.size();
      for (std::size_t i = 0; i + 1 < r.size(); ++i)
        r[i].distance = codec_.exact_fetching(q, stored(r[i].id), schema_.dim, stored(r[i + 1].id));
      r.back().distance = codec_.exact(q, stored(r.back().id), schema_.dim);
    }
  }

  // Range search in the manner of RediSearch: a best-first walk whose boundary starts at the
  // entry's distance and shrinks towards radius × (1 + epsilon) as closer nodes are found. With an
  // approximate codec the walk goes by code distances out to the radius that holds every entry
  // within `radius` (Codec::approximate_radius), and a hit is kept by its exact distance.
  template <class Accept>
  void range_walk(const float* q, Distance radius, double epsilon, std::vector<std::pair<Distance, Id>>& hits,
                  const SearchOptions& options, Accept&& accept) const {
    auto scratch = scratch_.take();
    Scratch& s = *scratch;
    s.start_walk(options.deadline);
    Id ep = entry_;
    Distance d_ep = distance(q, ep);
    for (int l = max_level_; l > 0; --l) greedy(q, ep, d_ep, static_cast<unsigned>(l), s);
    Distance walk_radius = radius;
    if constexpr (is_approximate_codec_v<Codec>) walk_radius = codec_.approximate_radius(q, radius, schema_.dim);
    // Released floats: hits are kept by code distance out to walk_radius; the caller measures them on
    // the host's vectors.
    const Distance keep = this->exact_in_index() ? radius : walk_radius;
    auto hit = [&](Distance d, Id id) {
      if constexpr (is_approximate_codec_v<Codec>) {
        if (const Distance exact = exact_distance(q, id); exact <= keep) hits.emplace_back(exact, id);
      } else {
        if (d <= radius) hits.emplace_back(d, id);
      }
    };
    s.visited.begin(keys_.id_bound());
    s.candidates.clear();
    s.visited.insert(ep);
    s.candidates.push_back({d_ep, ep});
    Distance dynamic = std::max(d_ep, walk_radius);
    auto boundary = [&] { return static_cast<Distance>(dynamic + std::abs(dynamic) * epsilon); };
    if (d_ep <= walk_radius && accept(ep)) hit(d_ep, ep);
    while (!s.candidates.empty()) {
      const Candidate c = s.candidates.front();
      if (c.distance > boundary()) break;
      if (++s.expansions % kDeadlineStride == 1 && s.deadline.passed()) {
        s.timed_out = true;
        break;
      }
      std::pop_heap(s.candidates.begin(), s.candidates.end(), farther);
      s.candidates.pop_back();
      const auto [list, cap] = neighbours(c.id, 0);
      for (std::size_t i = 0; i < cap && list[i] != kInvalidId; ++i) {
        const Id n = list[i];
        if (!s.visited.insert(n)) continue;
        ++s.distances;
        const Distance d = distance(q, n);
        if (d > boundary()) continue;
        s.candidates.push_back({d, n});
        std::push_heap(s.candidates.begin(), s.candidates.end(), farther);
        if (d < dynamic) dynamic = std::max(d, walk_radius);
        if (d <= walk_radius && accept(n)) hit(d, n);
      }
    }
    finish_walk(s, options, "HNSW range search");
  }

  // Reports a finished walk: its counters into options.stats, and a passed deadline as kTimeout
  // unless the caller asked for partial results.
  void finish_walk(const Scratch& s, const SearchOptions& options, const char* what) const {
    if (options.stats) *options.stats = {s.distances, s.expansions, false, s.timed_out};
    if (s.timed_out && !options.partial_on_timeout) throw timeout_error(what);
  }

  // ---------------------------------------------------------------------------------------------
  // Filters: an exact scan of the matches when that is cheaper than a filtered graph walk.

  /// `filter` with a key list turned into the ids of those keys (other filters as they are).
  Filter resolve(const Filter& filter) const {
    if (filter.is_key_list()) return filter.resolve_keys([&](KeyView k) { return keys_.find(k); });
    return filter;
  }

  // A filtered walk visits roughly ef·M·N / matches nodes, an exact scan `matches`; pick the cheaper.
  bool prefer_exact(const Filter& filter, std::size_t ef) const {
    const double live = static_cast<double>(keys_.size());
    double matches;
    if (const auto estimate = filter.estimated_matches()) {
      matches = static_cast<double>(*estimate);
    } else {  // sample the predicate on evenly spread ids
      const std::size_t bound = keys_.id_bound();
      const std::size_t step = std::max<std::size_t>(1, bound / kFilterSample);
      std::size_t sampled = 0, matched = 0;
      for (std::size_t i = 0; i < bound; i += step) {
        const Id id = static_cast<Id>(i);
        if (!keys_.is_live(id)) continue;
        ++sampled;
        matched += filter.matches(keys_.key(id), id) ? 1 : 0;
      }
      matches = sampled ? live * static_cast<double>(matched) / static_cast<double>(sampled) : 0;
    }
    return matches <= 2.0 * static_cast<double>(ef) ||
           matches * matches <= static_cast<double>(ef) * static_cast<double>(m_) * live;
  }

  // Calls emit(distance, id) for every live entry that passes `filter`, looking at the deadline
  // every kScanStride ids; reports what it did like finish_walk (a passed deadline: kTimeout, or the
  // entries emitted so far with partial_on_timeout).
  template <class Emit>
  void exact_scan(const float* q, const Filter& filter, const SearchOptions& options, Emit&& emit) const {
    std::size_t distances = 0;
    bool timed_out = false;
    auto visit = [&](std::size_t i, Id id) {
      if (i % kScanStride == 0 && options.deadline.passed()) return !(timed_out = true);
      if (keys_.is_live(id) && filter.matches(keys_.key(id), id)) {
        ++distances;
        emit(exact_distance(q, id), id);
      }
      return true;
    };
    if (filter.is_id_list()) {
      const auto ids = filter.ids();
      for (std::size_t i = 0; i < ids.size() && visit(i, ids[i]);) ++i;
    } else {
      for (std::size_t i = 0; i < keys_.id_bound() && visit(i, static_cast<Id>(i));) ++i;
    }
    if (options.stats) *options.stats = {distances, 0, true, timed_out};
    if (timed_out && !options.partial_on_timeout) throw timeout_error("exact scan");
  }

  /// The k closest entries that pass `filter`, by exact_scan.
  std::vector<SearchResult> exact_search(const float* q, std::size_t k, const Filter& filter,
                                         const SearchOptions& options) const {
    TopK top(k, KeyOf{&keys_});
    exact_scan(q, filter, options, [&](Distance d, Id id) { top.push(d, id); });
    return to_results(keys_, top.take_sorted());
  }

  /// HnswIndex::search past its checks: the k nearest live entries to prepared query `q` that pass
  /// options.filter, by a walk at `ef` or, for a selective filter, an exact scan. Caller holds the
  /// shared lock.
  std::vector<SearchResult> search_graph(const float* prepared, std::size_t k, std::size_t ef,
                                         const SearchOptions& options) const {
    if (entry_ == kInvalidId) return {};
    return with_query_form(prepared, [&](const float* q) { return search_form(q, k, ef, options); });
  }
  // search_graph with the query in the codec's form.
  std::vector<SearchResult> search_form(const float* q, std::size_t k, std::size_t ef,
                                        const SearchOptions& options) const {
    if (options.filter) {
      const Filter filter = resolve(*options.filter);
      if (prefer_exact(filter, ef)) return exact_search(q, k, filter, options);
      return knn(q, k, ef, options, [&](Id id) { return keys_.is_live(id) && filter.matches(keys_.key(id), id); });
    }
    // Without tombstones every reachable node is live (nothing links to a freed slot).
    if (retired_.empty()) return knn(q, k, ef, options, AcceptEvery{});
    return knn(q, k, ef, options, [&](Id id) { return keys_.is_live(id); });
  }

  /// HnswIndex::range_search past its checks: the live entries within `r` of prepared query `q`
  /// that pass options.filter, closest first, ties by key. Caller holds the shared lock.
  std::vector<SearchResult> range_search_graph(const float* prepared, Distance r, double epsilon,
                                               const SearchOptions& options) const {
    if (entry_ == kInvalidId) return {};
    return with_query_form(prepared, [&](const float* q) { return range_search_form(q, r, epsilon, options); });
  }
  // range_search_graph with the query in the codec's form.
  std::vector<SearchResult> range_search_form(const float* q, Distance r, double epsilon,
                                              const SearchOptions& options) const {
    std::vector<std::pair<Distance, Id>> hits;
    if (options.filter) {
      const Filter filter = resolve(*options.filter);
      if (prefer_exact(filter, params_.ef_runtime)) {
        Distance keep = r;  // released floats: by code distance, as range_walk keeps them
        if constexpr (is_approximate_codec_v<Codec>)
          if (!this->exact_in_index()) keep = codec_.approximate_radius(q, r, schema_.dim);
        exact_scan(q, filter, options, [&](Distance d, Id id) {
          if (d <= keep) hits.emplace_back(d, id);
        });
      } else {
        range_walk(q, r, epsilon, hits, options,
                   [&](Id id) { return keys_.is_live(id) && filter.matches(keys_.key(id), id); });
      }
    } else {
      range_walk(q, r, epsilon, hits, options, [&](Id id) { return keys_.is_live(id); });
    }
    sort_by_distance_then_key(keys_, hits);
    return to_results(keys_, hits);
  }

  // Largest ef walked on a CandidatePool: beyond it the pool's moves cost more than the heaps
  // (index/hnsw/candidate_pool.hpp).
  static constexpr std::size_t kPoolMaxEf = 256;
  // Expansions of a graph walk between two looks at the deadline (each reads up to 2·M vectors).
  static constexpr std::size_t kDeadlineStride = 16;
  // Ids an exact scan visits between two looks at the deadline.
  static constexpr std::size_t kScanStride = 1024;
  static constexpr std::size_t kFilterSample = 256;

  mutable ScratchPool<Scratch> scratch_;  // per-query scratch (see HnswIndex's header: Memory)
};

}  // namespace vindex::detail
