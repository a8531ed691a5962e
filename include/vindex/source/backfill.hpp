// vindex/source/backfill.hpp — the vocabulary of backfill and reconcile: states, progress, failure
// counters, the executor a host supplies, and the checkpoint a snapshot stores.
//
// A backfill scans the host's keyspace in bounded steps and indexes every entry that belongs to the
// index; a reconcile is the same scan over an index that already holds entries (after a snapshot
// load), which also removes the entries the scan did not find. Both are driven by
// `KeyspaceIndex` (source/keyspace_index.hpp); this header holds only plain value types.
//
// Failure counters. `FailureCounts` from `KeyspaceIndex::failures()` counts *keys currently failing*,
// by reason: a key is counted while its latest known value belongs to the index (prefix matches, the
// vector field exists) but cannot be indexed; it stops being counted when it is fixed, deleted or no
// longer belongs. Re-reading the same bad value (a scan's duplicate, a reconcile, a repeated write)
// does not count again. `failure_events()` counts every rejection ever made, like RediSearch's
// `hash_indexing_failures`, duplicates included. Thread-safe value types. Next:
// source/keyspace_index.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/executor.hpp"
#include "vindex/core/types.hpp"
#include "vindex/source/key_value_source.hpp"

namespace vindex {

/// Why an entry that belongs to the index is not indexed. Codes 1-3 equal VectorFailure's; codes
/// are frozen (snapshots store them).
enum class IndexingFailure : std::uint8_t {
  kWrongSize = 1,    ///< vector blob length differs from dim × element size
  kNonFinite = 2,    ///< vector holds NaN or ±Inf
  kZeroVector = 3,   ///< zero vector under COSINE
  kBadNumeric = 4,   ///< a NUMERIC attribute field does not parse as a number
  kKeyTooLong = 5,   ///< the key exceeds Limits::max_key_bytes
  kOutOfRange = 6,   ///< vector too long: its distances could overflow (VectorFailure::kOutOfRange)
  kOutOfMemory = 7,  ///< storing it needed memory the index could not get (allocation failure or limit)
};

/// One past the highest IndexingFailure code, for counter arrays indexed by code.
inline constexpr std::size_t kIndexingFailureCodes = 8;
/// Failure counters a snapshot's BKFL section holds (codes 0-5, its frozen layout); the counters of
/// later codes travel in a FEVX section (docs/snapshot-format.md).
inline constexpr std::size_t kBackfillFailureCodes = 6;

/// Human-readable reason ("wrong size", …).
constexpr std::string_view to_string(IndexingFailure failure) noexcept {
  switch (failure) {
    case IndexingFailure::kWrongSize: return "wrong size";
    case IndexingFailure::kNonFinite: return "NaN or Inf element";
    case IndexingFailure::kZeroVector: return "zero vector under COSINE";
    case IndexingFailure::kBadNumeric: return "unparsable NUMERIC";
    case IndexingFailure::kKeyTooLong: return "key too long";
    case IndexingFailure::kOutOfRange: return "magnitude out of range";
    case IndexingFailure::kOutOfMemory: return "out of memory";
  }
  return "?";
}

/// The IndexingFailure of a vector rejection (kNone has none; callers never pass it).
constexpr IndexingFailure to_indexing_failure(VectorFailure failure) noexcept {
  switch (failure) {
    case VectorFailure::kWrongSize: return IndexingFailure::kWrongSize;
    case VectorFailure::kNonFinite: return IndexingFailure::kNonFinite;
    case VectorFailure::kZeroVector: return IndexingFailure::kZeroVector;
    case VectorFailure::kOutOfRange: return IndexingFailure::kOutOfRange;
    case VectorFailure::kNone: break;
  }
  return IndexingFailure::kWrongSize;
}

/// Counters by IndexingFailure code.
struct FailureCounts {
  std::array<std::uint64_t, kIndexingFailureCodes> by_code{};  ///< by_code[0] is unused

  /// The counter of one reason.
  std::uint64_t operator[](IndexingFailure f) const noexcept {
    return by_code[static_cast<std::size_t>(f)];
  }
  /// The counter of one reason, for updates.
  std::uint64_t& operator[](IndexingFailure f) noexcept { return by_code[static_cast<std::size_t>(f)]; }
  /// Sum over all reasons.
  std::uint64_t total() const noexcept {
    return std::accumulate(by_code.begin(), by_code.end(), std::uint64_t{0});
  }

  friend bool operator==(const FailureCounts&, const FailureCounts&) = default;
};

/// Where a keyspace index's scan stands. Codes are frozen (snapshots store them).
enum class BackfillState : std::uint8_t {
  kIdle = 0,         ///< no scan was started: the index holds only what hooks put there
  kBackfilling = 1,  ///< a scan is in progress; `step` advances it
  kPaused = 2,       ///< a scan is paused; `resume` continues it
  kReady = 3,        ///< the last scan completed: the index covers the keyspace
  kFailed = 4,       ///< the source threw; entries done so far are kept; `resume` retries
  kCancelled = 5,    ///< the scan was abandoned; entries done so far are kept
};

/// Short name of a state ("backfilling", "ready", …).
constexpr std::string_view to_string(BackfillState state) noexcept {
  switch (state) {
    case BackfillState::kIdle: return "idle";
    case BackfillState::kBackfilling: return "backfilling";
    case BackfillState::kPaused: return "paused";
    case BackfillState::kReady: return "ready";
    case BackfillState::kFailed: return "failed";
    case BackfillState::kCancelled: return "cancelled";
  }
  return "?";
}

/// What a scan does with entries it does not find. Codes are frozen.
enum class ScanMode : std::uint8_t {
  kBackfill = 1,   ///< index what the scan finds; keep everything else
  kReconcile = 2,  ///< also remove indexed entries the scan did not find (mark and sweep)
};

/// Counts of what a scan did to the entries it visited.
struct ScanCounts {
  std::uint64_t keys_scanned = 0;  ///< entries the source visited, duplicates included
  std::uint64_t inserted = 0;      ///< entries added to the index
  std::uint64_t updated = 0;       ///< entries whose vector or attributes changed
  std::uint64_t unchanged = 0;     ///< entries already indexed as found (a read, no insert)
  std::uint64_t removed = 0;       ///< entries taken out (invalid, lost their vector, swept)
  std::uint64_t skipped = 0;       ///< visits skipped: a mutation hook had already applied the key

  friend bool operator==(const ScanCounts&, const ScanCounts&) = default;
};

/// A snapshot of a keyspace index's scan and counters, for progress bars and INFO replies.
struct BackfillProgress {
  BackfillState state = BackfillState::kIdle;
  ScanMode mode = ScanMode::kBackfill;
  ScanCounts counts;                       ///< of the current (or last) scan
  std::uint64_t entries_indexed = 0;       ///< entries the vector index holds now
  std::uint64_t approximate_total = 0;     ///< the source's approximate entry count
  double percent = 0;                      ///< scan progress, 0..100 (100 only when complete)
  FailureCounts failures;                  ///< keys currently failing, by reason
  std::string error;                       ///< why the scan failed (state kFailed)
};

/// What a snapshot stores to resume an unfinished scan (see KeyspaceIndex::checkpoint()).
struct BackfillCheckpoint {
  BackfillState state = BackfillState::kIdle;
  ScanMode mode = ScanMode::kBackfill;
  Cursor cursor = 0;                 ///< where the next step continues
  ScanCounts counts;                 ///< progress so far
  std::vector<Key> touched;          ///< keys mutation hooks applied since the scan started
  std::vector<Key> seen;             ///< reconcile: keys the scan has marked so far

  friend bool operator==(const BackfillCheckpoint&, const BackfillCheckpoint&) = default;
};

}  // namespace vindex
