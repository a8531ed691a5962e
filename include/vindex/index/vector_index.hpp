// vindex/index/vector_index.hpp — what every index type shares: upsert results and the concept.
//
// `FlatIndex` and `HnswIndex` have the same public shape, so host code (and the source and persist
// layers) can be generic over them. The `VectorIndex` concept names that shape. Next:
// index/capabilities.hpp.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"

namespace vindex {

/// What an upsert did.
enum class UpsertOutcome : std::uint8_t {
  kInserted,   ///< the key was new
  kUpdated,    ///< the key existed with another vector, now replaced
  kUnchanged,  ///< the key existed with this exact vector: nothing done
  kRejected,   ///< the vector failed validation: nothing done (see `failure`)
  kOutOfMemory,  ///< storing it needed memory the index could not get (std::bad_alloc or a
                 ///< MemoryAccount's limit): nothing done (only HnswIndex::try_upsert_blobs reports
                 ///< this; single upserts throw the exception instead)
};

/// Result of a non-throwing upsert.
struct UpsertResult {
  UpsertOutcome outcome = UpsertOutcome::kRejected;
  VectorFailure failure = VectorFailure::kNone;  ///< why, when rejected
  Id id = kInvalidId;                            ///< the entry's id, when not rejected
};

/// The public shape shared by FlatIndex and HnswIndex.
template <class I>
concept VectorIndex = requires(I& index, const I& cindex, KeyView key, std::span<const float> v,
                               std::string_view blob, const SearchOptions& options) {
  { cindex.schema() } -> std::convertible_to<const VectorSchema&>;
  { index.upsert(key, v) } -> std::same_as<UpsertOutcome>;
  { index.upsert_blob(key, blob) } -> std::same_as<UpsertOutcome>;
  { index.try_upsert(key, v) } -> std::same_as<UpsertResult>;
  { index.try_upsert_blob(key, blob) } -> std::same_as<UpsertResult>;
  { index.erase(key) } -> std::same_as<bool>;
  { cindex.contains(key) } -> std::same_as<bool>;
  { cindex.size() } -> std::same_as<std::size_t>;
  { cindex.get_vector(key) } -> std::same_as<std::optional<std::vector<float>>>;
  { cindex.memory_bytes() } -> std::same_as<std::size_t>;
  { cindex.deleted_memory_bytes() } -> std::same_as<std::size_t>;
  { cindex.search(v, std::size_t{10}, options) } -> std::same_as<std::vector<SearchResult>>;
  { cindex.range_search(v, 1.0, options) } -> std::same_as<std::vector<SearchResult>>;
};

}  // namespace vindex
