// vindex/index/front_end.hpp — what FlatIndex and HnswIndex do the same way before their storage
// is touched: the upsert family (a vector or a blob, throwing or reporting) and a query made ready
// for the metric.
//
// The schema and storage parameter checks both constructors start with are here too, and the
// check of a query's re-ranking factor.
//
// `detail::IndexFrontEnd<Index, MetricT>` is a base of both (the curiously recurring template
// pattern: no virtual function). An index gives it `schema()`, `limits()` and a private
// `UpsertResult store(KeyView, std::vector<float>& prepared)` (befriending the front end), which
// takes a validated vector not yet prepared for the metric. Thread-safety: the front end takes no
// lock and keeps no state; store() and the caller's search take the index's locks. Next:
// index/filter.hpp.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/schema.hpp"
#include "vindex/core/types.hpp"
#include "vindex/distance/metric.hpp"
#include "vindex/distance/sq8_codec.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/index/vector_index.hpp"

namespace vindex::detail {

/// The upsert family and query preparation shared by FlatIndex and HnswIndex (see the header).
template <class Index, class MetricT>
class IndexFrontEnd {
 public:
  /// Inserts or replaces the vector of `key`. Returns what happened; throws kSchemaMismatch or
  /// kInvalidVector (index unchanged) for a vector that fails validation.
  UpsertOutcome upsert(KeyView key, std::span<const float> vector) {
    const UpsertResult r = try_upsert(key, vector);
    throw_if_failed(r.failure, index().schema(), key, vector.size(), false);
    return r.outcome;
  }

  /// Inserts or replaces the vector of `key` from a blob of the schema's element type.
  UpsertOutcome upsert_blob(KeyView key, std::string_view blob) {
    const UpsertResult r = try_upsert_blob(key, blob);
    throw_if_failed(r.failure, index().schema(), key, blob.size(), true);
    return r.outcome;
  }

  /// Like upsert, but reports an invalid vector as kRejected with its reason instead of throwing.
  /// Still throws kInvalidArgument for an over-long key. (HnswIndex: a replaced vector gets a new id.)
  UpsertResult try_upsert(KeyView key, std::span<const float> vector) {
    index().limits().check_key(key.size());
    std::vector<float> prepared(vector.begin(), vector.end());
    if (auto failure = check_vector(index().schema(), prepared); failure != VectorFailure::kNone)
      return {UpsertOutcome::kRejected, failure, kInvalidId};
    return index().store(key, prepared);
  }

  /// Like upsert_blob, but reports an invalid blob as kRejected with its reason.
  UpsertResult try_upsert_blob(KeyView key, std::string_view blob) {
    index().limits().check_key(key.size());
    std::vector<float> prepared(index().schema().dim);
    if (auto failure = decode_blob(index().schema(), blob, prepared); failure != VectorFailure::kNone)
      return {UpsertOutcome::kRejected, failure, kInvalidId};
    return index().store(key, prepared);
  }

 protected:
  /// Throws kInvalidArgument (or the limit's error) unless `schema` is valid within `limits` and
  /// names this index's metric.
  static void check_schema(const VectorSchema& schema, const Limits& limits) {
    schema.validate(limits);
    if (schema.metric != MetricT::kind)
      throw Error(ErrorCode::kInvalidArgument,
                  "schema metric " + std::string(to_string(schema.metric)) +
                      " does not match the index's metric " + std::string(to_string(MetricT::kind)));
  }
  /// Throws unless BLOCK_SIZE is within `limits` and INITIAL_CAP at most 2^32 (ids are 32-bit).
  static void check_storage(std::size_t block_size, std::size_t initial_cap, const Limits& limits) {
    limits.check_block_size(block_size);
    if (initial_cap > (std::size_t{1} << 32)) throw Error(ErrorCode::kInvalidArgument, "INITIAL_CAP exceeds 2^32");
  }

  /// Throws kInvalidArgument unless SearchOptions::rerank, when given, is 1..Sq8::kMaxRerank.
  static void check_rerank(const SearchOptions& options) {
    if (options.rerank && (*options.rerank == 0 || *options.rerank > Sq8::kMaxRerank))
      throw Error(ErrorCode::kInvalidArgument, "rerank must be between 1 and " + std::to_string(Sq8::kMaxRerank));
  }

  /// `query` checked against the schema (kSchemaMismatch for a wrong size, kInvalidVector for a
  /// non-finite element) and prepared for the metric (COSINE: normalised).
  std::vector<float> prepare_query(std::span<const float> query) const {
    const VectorSchema& schema = index().schema();
    std::vector<float> q(query.begin(), query.end());
    const VectorFailure failure = check_vector(schema, q);
    if (failure != VectorFailure::kNone) {
      if (failure == VectorFailure::kWrongSize)
        throw Error(ErrorCode::kSchemaMismatch, "query has " + std::to_string(query.size()) +
                                                    " elements, expected DIM " + std::to_string(schema.dim));
      throw Error(ErrorCode::kInvalidVector, "query " + std::string(to_string(failure)));
    }
    metric::prepare<MetricT>(q);
    return q;
  }

 private:
  Index& index() noexcept { return static_cast<Index&>(*this); }
  const Index& index() const noexcept { return static_cast<const Index&>(*this); }
};

}  // namespace vindex::detail
