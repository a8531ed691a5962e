// vindex/core/limits.hpp — the bounds every request is checked against.
//
// A request outside these bounds is an `ErrorCode::kInvalidArgument`, never a crash or a giant
// allocation. The defaults follow the Redis-compatible vector search modules; a host can tighten or
// widen them per index. Plain value type. Next: core/schema.hpp.
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
  /// Throws kInvalidArgument when a key is longer than max_key_bytes.
  void check_key(std::size_t key_bytes) const {
    if (key_bytes > max_key_bytes)
      throw Error(ErrorCode::kInvalidArgument, "key of " + std::to_string(key_bytes) +
                                                   " bytes exceeds the limit of " +
                                                   std::to_string(max_key_bytes));
  }
};

}  // namespace vindex
