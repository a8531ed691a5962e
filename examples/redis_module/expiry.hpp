// examples/redis_module/expiry.hpp — which indexed keys have a TTL, so no search returns a key past it.
//
// Redis deletes an expired key lazily (when something touches it) or from its active-expire cycle,
// and only then does the module hear "expired" and take the key out of the index. In between the
// key is logically gone. A search therefore passes vindex a KeyPredicate (ANDed inside the search,
// so k live hits still come back) built from this tracker: it knows when each indexed key with a TTL
// expires. A key that expires only after the search's deadline is kept without a look; one that may
// have expired is opened: a key past its TTL reads as absent (opening it makes Redis expire it, and
// the "expired" event, queued by Registry::Busy, removes it from the index). Keys without a TTL cost
// one hash-set lookup, and nothing at all while no indexed key has a TTL.
//
// The module notes a key's expiry time whenever it reads the key for an index (every write and
// every scan step reads it; RENAME, RESTORE, COPY… send events that make it read the key again),
// reads just the TTL on `expire` and `persist` events (they change nothing an index holds, so the
// indexes are not told), and forgets it when the key is deleted, expires, is evicted or renamed away. An index
// loaded from an RDB snapshot holds keys the module has not read yet: until its reconcile scan
// completes, every candidate is opened (SnapshotLoad::expiry_unknown). Main thread only.
// Next: ft_search.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "module_api.hpp"

namespace vindex_redis {

/// The keys (database 0, covered by some index) that had a TTL when last read, with their expiry.
class ExpiryTracker {
 public:
  /// Records that `key` expires at `expire_at_ms` (Unix ms).
  void note(std::string_view key, long long expire_at_ms) {
    if (auto it = keys_.find(key); it != keys_.end()) {
      it->second = expire_at_ms;
    } else {
      keys_.emplace(std::string(key), expire_at_ms);
    }
  }
  /// The key has no TTL any more, or is gone (deleted, expired, evicted, renamed away).
  void forget(std::string_view key) {
    if (auto it = keys_.find(key); it != keys_.end()) keys_.erase(it);
  }
  /// Forgets every key (flush, SWAPDB, load).
  void clear() { keys_.clear(); }
  /// True unless `key` has a TTL ending at or before `horizon_ms`.
  bool outlives(std::string_view key, long long horizon_ms) const {
    auto it = keys_.find(key);
    return it == keys_.end() || it->second > horizon_ms;
  }
  /// Number of keys with a TTL.
  std::size_t size() const noexcept { return keys_.size(); }

 private:
  // Not noexcept on purpose: libstdc++ then stores each node's hash code, so a lookup hashes the
  // key it looks for once instead of rehashing the stored keys it walks past (measured: lookups
  // were 16 % of an HNSW KNN 10 with 20,000 tracked keys).
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, long long, Hash, std::equal_to<>> keys_;
};

/// The module's tracker.
ExpiryTracker& expiring_keys();

/// Notes the TTL of `key`, just read: `ttl_ms` as RedisModule_GetExpire gives it (remaining ms, or
/// rm::kNoExpire). Keys no index covers are not kept.
void note_key_ttl(std::string_view key, long long ttl_ms);

/// After an `expire` or `persist` event (only the TTL changed): reads the key's TTL into the tracker.
void refresh_key_ttl(rm::Ctx* ctx, std::string_view key);

/// True when `key` exists for Redis right now in the context's database (a key past its TTL does
/// not; opening it for reading lets Redis expire it). Leaves the key's LRU/LFU untouched.
bool key_alive(rm::Ctx* ctx, std::string_view key);

}  // namespace vindex_redis
