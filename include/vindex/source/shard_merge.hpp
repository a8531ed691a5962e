// vindex/source/shard_merge.hpp — one page of a global top-k from the top-k lists of several shards.
//
// A host that splits its keyspace over shards (a Redis Cluster, a partitioned store) runs the same
// KNN query on every shard and merges the answers. `merge_shard_hits` does that the way one index
// holding every entry would answer: entries ordered by (distance as float, then key bytes) — the
// order `TopK` keeps inside an index — a key seen on two shards counted once, the top k kept, the
// list reversed for a descending sort, then the page [offset, offset + count) cut out. Each shard
// must return its first `shard_hits_needed(page)` hits in that order (and say how many it matched):
// the global first m entries are among the union of every shard's first m, so for an exact index
// (FlatIndex) the merged page equals the single index's page entry for entry. Pure functions;
// thread-safe. Next: persist/serializer.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"

namespace vindex {

/// One shard's answer to a KNN query.
struct ShardHits {
  /// Its first hits, closest first, ties by key (SearchResult::id is the host's; merging ignores it).
  std::span<const SearchResult> hits;
  /// How many entries it matched, at most k (hits.size() when it returned all of them).
  std::size_t found = 0;
};

/// Which part of the global top-k a host replies with (RediSearch: KNN k, LIMIT offset count,
/// SORTBY score DESC).
struct PageRequest {
  std::size_t k = 10;          ///< size of the global top-k
  std::size_t offset = 0;      ///< first entry of the page, in reply order
  std::size_t count = 10;      ///< entries in the page at most
  bool descending = false;     ///< reply farthest first (the top-k reversed)
};

/// An entry of a merged page: the shard it came from and its position in that shard's hits.
struct MergedHit {
  std::size_t shard = 0;  ///< index into the span given to merge_shard_hits
  std::size_t index = 0;  ///< index into that shard's hits
};

/// A merged page.
struct MergedPage {
  /// Entries in the global top-k: min(k, sum of found - keys seen on two shards). This is what a
  /// single index returns as its result count.
  std::size_t total = 0;
  /// The page, in reply order.
  std::vector<MergedHit> hits;
};

/// How many hits each shard must return for merge_shard_hits to be exact: min(k, offset + count),
/// or k when descending (the page then comes from the far end of the top-k).
inline std::size_t shard_hits_needed(const PageRequest& page) noexcept {
  if (page.descending) return page.k;
  const std::size_t end = page.offset > page.k ? page.k : page.offset + std::min(page.count, page.k);
  return std::min(page.k, end);
}

/// Merges the shards' hits into one page of the global top-k (see the header comment). A key on
/// two shards keeps its closer entry (the first shard's on a tie) and counts once. Throws
/// kInvalidArgument when a shard returned more hits than it found, or fewer than
/// min(found, shard_hits_needed(page)) (the page could then be wrong without anyone knowing).
inline MergedPage merge_shard_hits(std::span<const ShardHits> shards, const PageRequest& page) {
  struct Candidate {
    Distance distance;
    std::string_view key;
    MergedHit at;
  };
  const std::size_t needed = shard_hits_needed(page);
  std::size_t returned = 0, found = 0;
  for (const ShardHits& s : shards) {
    if (s.hits.size() > s.found)
      throw Error(ErrorCode::kInvalidArgument, "a shard returned " + std::to_string(s.hits.size()) +
                                                   " hits but found only " + std::to_string(s.found));
    if (s.hits.size() < std::min(s.found, needed))
      throw Error(ErrorCode::kInvalidArgument,
                  "a shard returned " + std::to_string(s.hits.size()) + " hits of the " +
                      std::to_string(std::min(s.found, needed)) + " the page needs");
    returned += s.hits.size();
    found += s.found;
  }
  const auto before = [](const Candidate& a, const Candidate& b) {
    if (a.distance != b.distance) return a.distance < b.distance;
    if (a.key != b.key) return a.key < b.key;
    return a.at.shard < b.at.shard;
  };
  std::vector<Candidate> all;
  all.reserve(returned);
  for (std::size_t s = 0; s < shards.size(); ++s)
    for (std::size_t i = 0; i < shards[s].hits.size(); ++i)
      all.push_back({shards[s].hits[i].distance, shards[s].hits[i].key, {s, i}});
  std::sort(all.begin(), all.end(), before);

  // A key returned twice (a shard answering for keys it no longer owns, a moved key seen at both
  // ends): keep its first entry in the order, which is its closest.
  std::size_t duplicates = 0;
  if (shards.size() > 1) {
    std::unordered_map<std::string_view, std::size_t> seen;
    seen.reserve(all.size());
    std::vector<Candidate> unique;
    unique.reserve(all.size());
    for (const Candidate& c : all) {
      if (seen.emplace(c.key, unique.size()).second) {
        unique.push_back(c);
      } else {
        ++duplicates;
      }
    }
    all.swap(unique);
  }

  MergedPage out;
  out.total = std::min(page.k, found - duplicates);
  // `all` holds the first `kept` entries of the global order exactly (each shard sent its first m).
  const std::size_t kept = std::min(out.total, all.size());
  std::size_t first = std::min(page.offset, kept);
  std::size_t last = std::min(kept, first + std::min(page.count, kept));
  if (page.descending) {
    // Reply order is the top-k reversed: reply position p is entry total - 1 - p.
    first = std::min(page.offset, out.total);
    last = std::min(out.total, first + std::min(page.count, out.total));
    for (std::size_t p = first; p < last; ++p) out.hits.push_back(all[out.total - 1 - p].at);
    return out;
  }
  for (std::size_t p = first; p < last; ++p) out.hits.push_back(all[p].at);
  return out;
}

}  // namespace vindex
