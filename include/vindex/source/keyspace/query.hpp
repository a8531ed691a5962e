// vindex/source/keyspace/query.hpp — query planning: a hybrid query's filter, as the vector index
// takes it.
//
// KeyspaceIndex::search turns a `FilterExpr` over the attribute fields, and the host's optional
// `KeyPredicate`, into one index `Filter`. A constant expression needs no attribute look-up
// (`constant_filter`: match nothing, no filter at all, or only the host's predicate). Otherwise the
// attribute index evaluates it (`attribute_filter`): at most `allow_list_max` matches become a key
// allow-list (the vector index then knows the match count and may scan the matches exactly), more
// become a predicate carrying the count as its estimate; the host's predicate narrows either
// (`restrict`). Free functions: they need only the attribute index, not the keyspace index's state.
//
// Thread-safety: `attribute_filter` reads the attribute index, and its predicate keeps reading it
// during the search, so the caller holds a lock that keeps the attribute index still (the keyspace
// index's data lock, shared) until the search returns. A returned filter refers to `keep`, which
// must outlive it. Errors: what AttributeIndex::evaluate throws (kInvalidArgument for an unknown
// field, kLimit past max_filter_depth, kTimeout at the deadline). Next: source/shard_merge.hpp.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/source/attribute_index.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/keyspace/types.hpp"

namespace vindex::detail {

/// `filter` (an attribute filter: a key allow-list or a predicate with its match count) narrowed to
/// the keys `keep` accepts. An allow-list is filtered at once (it is short), so the index still
/// knows the exact match count; a predicate is ANDed, keeping its estimate as an upper bound.
inline Filter restrict(Filter filter, const KeyPredicate& keep) {
  if (filter.is_key_list()) {
    std::vector<Key> keys;
    for (const Key& key : filter.keys())
      if (keep(key)) keys.push_back(key);
    return Filter::allow_keys(std::move(keys));
  }
  const auto estimate = filter.estimated_matches();
  return Filter::by_predicate(
      [inner = std::move(filter), &keep](KeyView key, Id id) { return inner.matches(key, id) && keep(key); },
      estimate);
}

/// The filter of a query whose expression is constant (see constant_value): `matches_all` false
/// matches nothing; true gives nullopt (no filter) without `keep`, else `keep` alone.
inline std::optional<Filter> constant_filter(bool matches_all, const KeyPredicate& keep) {
  if (!matches_all) return Filter::allow_keys({});
  if (!keep) return std::nullopt;
  return Filter::by_predicate([&keep](KeyView key, Id) { return keep(key); });
}

/// The filter of a query whose expression needs the attributes: `filter` evaluated over `attributes`
/// (within `deadline` and `max_filter_depth`), as an allow-list or a predicate by `allow_list_max`
/// (see AttributeIndex::to_filter), narrowed by `keep` when given.
inline Filter attribute_filter(const AttributeIndex& attributes, const FilterExpr& filter, const KeyPredicate& keep,
                               const Deadline& deadline, std::size_t max_filter_depth, std::size_t allow_list_max) {
  Filter f = attributes.to_filter(attributes.evaluate(filter, deadline, max_filter_depth), allow_list_max);
  if (keep) f = restrict(std::move(f), keep);
  return f;
}

}  // namespace vindex::detail
