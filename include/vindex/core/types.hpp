// vindex/core/types.hpp — the vocabulary types every layer shares.
//
// Keys are arbitrary byte strings (binary-safe, never NUL-terminated); ids are dense internal slot
// numbers that the storage layer hands out and reuses; distances are floats where smaller is closer.
// Plain value types: no thread-safety concerns. Next: core/error.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace vindex {

/// An owned key: any byte string, including embedded NULs.
using Key = std::string;
/// A borrowed key; must outlive the call it is passed to.
using KeyView = std::string_view;
/// A dense internal slot number; ids of erased entries are reused.
using Id = std::uint32_t;
/// A distance under the index's metric; smaller is closer.
using Distance = float;

/// The id that names no slot.
inline constexpr Id kInvalidId = std::numeric_limits<Id>::max();

/// Where an SQ8 index reads the exact vectors it re-ranks with (FlatParams::exact_vectors,
/// HnswParams::exact_vectors).
enum class ExactVectors {
  kIndex,  ///< a float copy the index keeps beside the codes
  kHost,   ///< the host's own copy, read per query through SearchOptions::host_vectors; the index
           ///< keeps floats only until its quantizer's training is final (Sq8Codes::training_final)
};

/// One search hit: the entry's key, its internal id and its distance to the query.
struct SearchResult {
  Key key;
  Id id = kInvalidId;
  Distance distance = 0;

  friend bool operator==(const SearchResult&, const SearchResult&) = default;
};

}  // namespace vindex
