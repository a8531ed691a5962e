// examples/redis_module/cluster_messages.hpp — the bodies of the messages nodes exchange.
//
// One struct per message kind (see MessageKind in cluster_frame.hpp) with `encode` (to a body) and
// `decode_*` (from a body: every length and count checked against the bytes left, unknown enum
// values and trailing bytes refused with FrameError). Strings are u32 length + bytes, so keys and
// field values are binary-safe; distances travel as the raw bits of their float, never as text, so
// the coordinator orders exactly what the shard computed. Pure code (no Redis calls), fuzzed with
// the frames. Main thread only. Next: cluster_transport.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog.hpp"
#include "cluster_frame.hpp"
#include "key_slot.hpp"

namespace vindex_redis {

/// FT.SEARCH sent to one shard.
struct SearchRequestMsg {
  std::string index;
  std::uint64_t version = 0;       ///< catalog version the coordinator searched
  std::uint64_t fingerprint = 0;   ///< and its definition's fingerprint
  std::vector<SlotRange> slots;    ///< the slots this shard answers for: only their keys count
  /// 0: slots the node serves; 1: the importing follow-up (it also answers slots it is importing).
  std::uint8_t mode = 0;
  bool fallback = false;           ///< asked as a stand-in for a primary that cannot be reached
  std::uint32_t tag = 0;           ///< which of the coordinator's requests this is (echoed back)
  std::string blob;                ///< the query vector as the client sent it
  std::string filter = "*";        ///< filter text (the shard parses it again)
  std::uint32_t k = 0;             ///< KNN k
  std::uint32_t m = 0;             ///< hits to send back (with their fields)
  std::uint32_t ef = 0;            ///< EF_RUNTIME, 0 for the index's own
  bool no_content = false;         ///< NOCONTENT: keys and distances only
  bool partial_on_timeout = false; ///< at the deadline, answer with what was found (vindex.on-timeout)
  std::optional<std::vector<std::string>> return_fields;  ///< RETURN list (none: every field)
  std::string score_field;         ///< the score's name (skipped when reading RETURN fields)
  std::uint32_t timeout_ms = 0;    ///< the search's time budget (TIMEOUT or vindex.search-timeout-ms)
};

/// How a shard answered.
enum class ShardStatus : std::uint8_t {
  kOk = 0,
  kNoIndex = 1,      ///< no index of that name here
  kStaleIndex = 2,   ///< the index here has another version or definition
  kWrongSlots = 3,   ///< not sent since frame version 2 (a shard names the node of each slot it
                     ///< does not answer in `moved`); a coordinator still handles it
  kLoading = 4,      ///< the node is loading its data
  kBadRequest = 5,   ///< the request itself was refused (bad filter, bad blob ...)
  kTooLarge = 6,     ///< the answer would exceed the size limit
  kError = 7,        ///< anything else (message says)
  kTimeout = 8,      ///< the search ran out of its time budget (vindex.on-timeout fail)
};
std::string_view to_string(ShardStatus status) noexcept;

/// One hit of a shard, with its reply row's fields.
struct ShardHit {
  std::string key;
  float distance = 0;
  /// The (field, value) pairs of its reply row exactly as the single-node FT.SEARCH writes them
  /// (the score included); empty with NOCONTENT.
  std::vector<std::pair<std::string, std::string>> fields;
};

/// A shard's answer to a SearchRequestMsg.
struct SearchResponseMsg {
  ShardStatus status = ShardStatus::kOk;
  std::uint32_t tag = 0;           ///< the request's tag
  std::string message;             ///< why, when status is not kOk
  std::uint64_t version = 0;       ///< the shard's version of the index
  std::uint64_t fingerprint = 0;
  std::uint32_t found = 0;         ///< hits the shard matched (at most k)
  bool partial = false;            ///< cut short at the deadline (found is then what it returns)
  /// Slots it answered that it is migrating, with the importing node (40-character ids). When
  /// there are any, and in an importing follow-up, hits holds every hit it found (those past m with
  /// no fields), so the coordinator sees every key both ends of a migration return.
  std::vector<SlotRoute> migrating;
  /// Slots asked that it did not answer, with the node serving them as it sees it ("" unknown).
  std::vector<SlotRoute> moved;
  std::vector<ShardHit> hits;      ///< its first min(found, m)
};

/// FT.INFO sent to one shard.
struct InfoRequestMsg {
  std::string index;
};

/// What a shard's FT.INFO answer adds after `memory_bytes`: its memory by part, its memory account
/// and its HNSW maintenance (info_reply.hpp's InfoFigures). Shards of an earlier build send none.
struct InfoDetailMsg {
  std::uint64_t vectors = 0, codes = 0, links = 0, keys = 0, other = 0;  ///< vindex::HnswMemory
  std::uint64_t memory_peak = 0, memory_limit = 0, memory_limit_refusals = 0;
  std::uint64_t pending_tombstones = 0, maintenance_rounds = 0;
  std::uint64_t maintenance_write_ns = 0, maintenance_longest_write_ns = 0, maintenance_timer_ns = 0;
  bool operator==(const InfoDetailMsg&) const = default;
};

/// One shard's FT.INFO figures (see info_reply.hpp).
struct InfoResponseMsg {
  ShardStatus status = ShardStatus::kOk;
  std::string message;
  std::uint64_t version = 0;
  std::uint64_t fingerprint = 0;
  std::uint64_t num_docs = 0;
  std::uint64_t hash_indexing_failures = 0;
  std::vector<std::uint64_t> failures_by_code;  ///< by vindex IndexingFailure code ([0] unused)
  bool in_progress = false;
  double percent = 0;              ///< backfill_complete_percent
  std::string state;               ///< vindex::to_string(BackfillState)
  std::string backfill_error;
  bool reconciling = false;
  std::uint64_t counts[6] = {};    ///< scanned, inserted, updated, unchanged, removed, skipped
  bool snapshot_loaded = false;
  std::string snapshot_error;
  std::uint64_t snapshot_bytes = 0;
  double snapshot_ms = 0;
  std::uint64_t search_timeouts = 0;
  std::uint64_t search_partial = 0;
  std::uint64_t memory_bytes = 0;
  /// Absent when the shard's build predates it (its body ends at memory_bytes). An older node
  /// refuses a body that carries it, so during a rolling upgrade an older node's cluster-wide FT.INFO
  /// counts a newer shard as an error.
  std::optional<InfoDetailMsg> detail;
};

/// Periodic summary of a node's catalog.
struct CatalogDigestMsg {
  std::uint64_t digest = 0;
  std::uint32_t entries = 0;
  std::uint64_t max_version = 0;
  bool primary = false;            ///< sent by a primary
};

/// Catalog entries pushed to a node (a change, or the whole catalog on request).
struct CatalogPutMsg {
  bool wants_ack = false;          ///< the sender waits for a CatalogAckMsg (FT.CREATE / FT.DROPINDEX)
  std::vector<CatalogEntry> entries;
};

/// What a node did with the entries of a CatalogPutMsg.
enum class AckResult : std::uint8_t {
  kApplied = 0,    ///< it holds the pushed entry now
  kAlready = 1,    ///< it held it already
  kNewerHere = 2,  ///< it holds an entry that supersedes it (sent back in `ours`)
};

struct CatalogAckItem {
  std::string name;
  AckResult result = AckResult::kApplied;
  std::optional<CatalogEntry> ours;
};

struct CatalogAckMsg {
  std::vector<CatalogAckItem> items;
};

std::string encode(const SearchRequestMsg& m);
std::string encode(const SearchResponseMsg& m);
std::string encode(const InfoRequestMsg& m);
std::string encode(const InfoResponseMsg& m);
std::string encode(const CatalogDigestMsg& m);
std::string encode(const CatalogPutMsg& m);
std::string encode(const CatalogAckMsg& m);

SearchRequestMsg decode_search_request(std::string_view body);
SearchResponseMsg decode_search_response(std::string_view body);
InfoRequestMsg decode_info_request(std::string_view body);
InfoResponseMsg decode_info_response(std::string_view body);
CatalogDigestMsg decode_catalog_digest(std::string_view body);
CatalogPutMsg decode_catalog_put(std::string_view body);
CatalogAckMsg decode_catalog_ack(std::string_view body);

}  // namespace vindex_redis
