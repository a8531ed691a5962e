// vindex/index/hnsw/types.hpp — the plain types of HnswIndex's interface: parameters, memory
// breakdown, maintenance counters and the saved-graph data of the persistence hook.
//
// Values only, no behaviour; they live apart from index/hnsw_index.hpp so that the parts under
// index/hnsw/ (which that header includes) can name them without including it. Thread-safety: plain
// values. Next: index/hnsw/graph.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vindex/core/types.hpp"

namespace vindex {

/// HNSW parameters (Redis names in brackets).
struct HnswParams {
  std::size_t m = 16;                 ///< [M] links per node on upper layers; 2·M on layer 0
  std::size_t ef_construction = 200;  ///< [EF_CONSTRUCTION] candidate list size while inserting
  std::size_t ef_runtime = 10;        ///< [EF_RUNTIME] default candidate list size of a query
  /// [INITIAL_CAP] expected number of nodes: a hint kept for compatibility (0..2^32), never
  /// allocated up front; storage grows a block at a time.
  std::size_t initial_cap = 1024;
  /// [BLOCK_SIZE] nodes per storage block; clamped so that a block takes at most
  /// Limits::max_block_bytes (see Limits::effective_block_size).
  std::size_t block_size = 1024;
  std::uint64_t seed = 100;           ///< seed of the level generator
  double epsilon = 0.01;              ///< [EPSILON] default range-search boundary widening
  /// HnswIndex<float, M, Sq8> only: where re-ranking reads exact vectors (see HnswIndex's header
  /// comment); other indexes reject kHost.
  ExactVectors exact_vectors = ExactVectors::kIndex;
};

/// Where an index's memory goes (bytes); `total()` equals memory_bytes().
struct HnswMemory {
  std::size_t vectors = 0;  ///< vector elements (and COSINE magnitudes); SQ8: the float copy
  std::size_t codes = 0;    ///< SQ8: the 8-bit codes the walk reads (0 for other indexes)
  std::size_t links = 0;    ///< layer-0 and upper-layer neighbour lists
  std::size_t keys = 0;     ///< key bytes and the key ↔ id map
  std::size_t other = 0;    ///< block directories, cached block addresses, tombstone list
  std::size_t scratch = 0;  ///< idle query scratch: operator new, not in total() (see the header)
  /// Sum of the parts taken from the memory resource (scratch excluded).
  std::size_t total() const noexcept { return vectors + codes + links + keys + other; }
};

/// One node of a saved graph (persistence hook): its id, key, stored vector (COSINE: normalised),
/// magnitude (1 unless COSINE) and neighbour ids per layer (`links[0]` is layer 0; the node's level
/// is links.size() - 1).
struct HnswNodeData {
  Id id = kInvalidId;
  Key key;
  std::vector<float> vector;
  float magnitude = 1.0f;
  std::vector<std::vector<Id>> links;
};

/// What HNSW maintenance has done and what is pending (HnswIndex::maintenance_stats()). Counters
/// are cumulative since the index was made.
struct HnswMaintenanceStats {
  std::size_t pending_tombstones = 0;  ///< erased or replaced entries whose slots are not free yet
  bool round_in_progress = false;      ///< a maintenance round has started and not finished
  std::uint64_t rounds = 0;            ///< rounds completed
  std::uint64_t work = 0;              ///< work units done (about one distance computation each)
  std::uint64_t lists_repaired = 0;    ///< live nodes' lists repaired because they linked to a tombstone
  std::uint64_t back_links = 0;        ///< links back to a repaired list's node from a node it gained
  std::uint64_t nodes_relinked = 0;    ///< live nodes the reachability walk linked back in
  std::uint64_t tombstones_freed = 0;  ///< tombstone slots freed
  std::uint64_t refreshed = 0;         ///< live nodes re-linked into their neighbours' lists (local rebuilds)
  std::uint64_t write_ns = 0;          ///< time spent maintaining inside writes
  std::uint64_t longest_write_ns = 0;  ///< the longest maintenance inside one write
  std::uint64_t maintain_ns = 0;       ///< time spent in maintain() / maintain_for()
};

/// Graph-wide state of a saved graph (persistence hook).
struct HnswGraphInfo {
  Id entry_point = kInvalidId;        ///< node searches start from; kInvalidId when empty
  int max_level = -1;                 ///< level of the entry point; -1 when empty
  std::string level_generator_state;  ///< std::mt19937_64 state as text; empty: re-seed
};

}  // namespace vindex
