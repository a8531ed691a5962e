// vindex/core/limits.hpp — the bounds every request is checked against.
//
// A request outside these bounds is an `ErrorCode::kInvalidArgument`, never a crash or a giant
// allocation. The defaults follow the Redis-compatible vector search modules; a host can tighten or
// widen them per index. Memory itself is bounded by a MemoryAccount (core/memory.hpp); these bounds
// keep any one allocation a client's parameters ask for small. Plain value type. Next: core/memory.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vindex/core/error.hpp"

namespace vindex {

/// Configurable bounds on dimensions, graph and query parameters.
struct Limits {
  std::uint32_t max_dim = 32768;      ///< largest DIM accepted
  std::uint32_t min_m = 2;            ///< smallest HNSW M
  std::uint32_t max_m = 512;          ///< largest HNSW M
  std::uint32_t max_ef = 4096;        ///< largest EF_CONSTRUCTION / EF_RUNTIME
  std::uint32_t max_k = 10000;        ///< largest k of a KNN query
  std::uint32_t max_block_size = 1u << 20;  ///< largest BLOCK_SIZE (vectors per block)
  /// Largest storage block, in bytes: BLOCK_SIZE × the bytes of one entry (a FLAT vector; an HNSW
  /// node's vector and layer-0 links). A larger BLOCK_SIZE is not refused but clamped (see
  /// effective_block_size), so that FT.CREATE's default BLOCK_SIZE 1024 keeps working at any DIM
  /// while one insert into an empty index allocates at most this much: 16 MiB, where DIM 32768 ×
  /// 1024 would take 128 MiB (1.28 GB for ten indexes' first inserts). Blocks of 16 MiB are far above
  /// the sizes where block boundaries cost anything measurable (a scan crosses one per 16 MiB read;
  /// search_batch works in 256 KiB tiles).
  std::uint64_t max_block_bytes = std::uint64_t{16} << 20;
  std::uint64_t max_key_bytes = 1ull << 20; ///< longest key accepted (1 MiB)
  /// Filters (source/filter_expression.hpp): the deepest nesting of groups and negations, the most
  /// tests (tag values, numeric ranges, `*`) and the longest text a filter may have. They bound the
  /// parser's recursion and the work and memory of evaluating a filter a client sends.
  std::uint32_t max_filter_depth = 128;
  std::uint32_t max_filter_terms = 1024;  ///< see max_filter_depth
  std::uint32_t max_filter_bytes = 65536; ///< see max_filter_depth

  /// Throws kInvalidArgument unless 1 <= k <= max_k.
  void check_k(std::size_t k) const {
    if (k < 1 || k > max_k)
      throw Error(ErrorCode::kInvalidArgument,
                  "k = " + std::to_string(k) + " is outside 1.." + std::to_string(max_k));
  }
  /// Throws kInvalidArgument unless 1 <= ef <= max_ef.
  void check_ef(std::size_t ef, const char* what = "ef") const {
    if (ef < 1 || ef > max_ef)
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + " = " + std::to_string(ef) +
                                                   " is outside 1.." + std::to_string(max_ef));
  }
  /// Throws kInvalidArgument unless min_m <= m <= max_m.
  void check_m(std::size_t m) const {
    if (m < min_m || m > max_m)
      throw Error(ErrorCode::kInvalidArgument, "M = " + std::to_string(m) + " is outside " +
                                                   std::to_string(min_m) + ".." +
                                                   std::to_string(max_m));
  }
  /// Throws kInvalidArgument unless 1 <= block_size <= max_block_size.
  void check_block_size(std::size_t block_size) const {
    if (block_size < 1 || block_size > max_block_size)
      throw Error(ErrorCode::kInvalidArgument, "BLOCK_SIZE = " + std::to_string(block_size) +
                                                   " is outside 1.." +
                                                   std::to_string(max_block_size));
  }
  /// The block size an index uses for entries of `entry_bytes` bytes when BLOCK_SIZE `block_size` is
  /// asked for: `block_size` itself when block_size × entry_bytes <= max_block_bytes, else the largest
  /// power of two that fits (a power of two keeps HNSW's id → block arithmetic a shift), at least 1.
  std::size_t effective_block_size(std::size_t block_size, std::size_t entry_bytes) const noexcept {
    if (entry_bytes == 0 || block_size <= max_block_bytes / entry_bytes) return block_size;
    std::size_t fits = 1;
    while (fits * 2 <= max_block_bytes / entry_bytes) fits *= 2;
    return fits;
  }
  /// Throws kInvalidArgument when a key is longer than max_key_bytes.
  void check_key(std::size_t key_bytes) const {
    if (key_bytes > max_key_bytes)
      throw Error(ErrorCode::kInvalidArgument, "key of " + std::to_string(key_bytes) +
                                                   " bytes exceeds the limit of " +
                                                   std::to_string(max_key_bytes));
  }
};

}  // namespace vindex
