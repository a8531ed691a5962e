// vindex/source/attribute_index.hpp — per-entry TAG and NUMERIC values, indexed for filtering.
//
// `AttributeIndex` keeps, for every indexed key, the parsed values of the definition's attribute
// fields (an `AttributeRow`), an inverted index per TAG field (value → entries) and an ordered index
// per NUMERIC field ((number, entry) pairs). `evaluate` turns a `FilterExpr` into the set of matching
// keys, and `to_filter` turns that set into the `vindex::Filter` a vector index understands: an
// allow-list of keys when it is small (the index then scans exactly those entries), otherwise a
// predicate with its match count (the index then filters inside its normal search).
//
// Thread-safety: none of its own. The owner (source/keyspace_index.hpp) serialises writers and
// excludes them from readers; `evaluate` and the predicate of `to_filter` only read, and may run on
// several threads at once while no writer runs. The predicate refers to this index: it must not
// outlive it or be used across a write. Next: source/backfill.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/storage/key_map.hpp"

namespace vindex {

/// The parsed value of one attribute field of one entry.
struct AttributeValue {
  bool present = false;           ///< the entry has the field
  std::vector<std::string> tags;  ///< TAG: sorted, unique, case-normalised values
  double number = 0;              ///< NUMERIC: the parsed number

  friend bool operator==(const AttributeValue&, const AttributeValue&) = default;
};

/// An entry's attribute values, one per attribute field of the definition, in definition order.
using AttributeRow = std::vector<AttributeValue>;

/// Outcome of reading an entry's attribute fields.
struct ParsedAttributes {
  AttributeRow row;                          ///< the values (meaningful when bad_field is empty)
  std::optional<std::size_t> bad_field;      ///< first NUMERIC field whose text did not parse
};

/// Reads and parses the attribute fields of one entry; `get(name) -> std::optional<string_view>`
/// returns a field's bytes. A missing field is simply absent; an unparsable NUMERIC is reported.
template <class GetField>
ParsedAttributes parse_attributes(const IndexDefinition& definition, GetField&& get) {
  ParsedAttributes out;
  out.row.resize(definition.attributes.size());
  for (std::size_t i = 0; i < definition.attributes.size(); ++i) {
    const AttributeField& field = definition.attributes[i];
    const std::optional<std::string_view> text = get(std::string_view(field.name));
    if (!text) continue;
    AttributeValue& value = out.row[i];
    if (field.type == AttributeType::kTag) {
      value.present = true;
      value.tags = parse_tags(*text, field);
    } else if (const auto number = parse_numeric(*text)) {
      value.present = true;
      value.number = *number;
    } else if (!out.bad_field) {
      out.bad_field = i;
    }
  }
  return out;
}

/// A set of indexed entries, as a bitmap over the attribute index's internal entry numbers.
struct MatchSet {
  std::vector<std::uint64_t> bits;  ///< bit i set: entry number i matches
  std::size_t count = 0;            ///< number of bits set
};

/// TAG and NUMERIC values of every indexed entry, with the indexes that evaluate filters.
class AttributeIndex {
 public:
  /// An empty index for `definition`'s attribute fields (the definition must be valid).
  explicit AttributeIndex(const IndexDefinition& definition)
      : fields_(definition.attributes), per_field_(definition.attributes.size()) {}

  /// The attribute fields, in definition order.
  const std::vector<AttributeField>& fields() const noexcept { return fields_; }

  /// Stores `row` for `key` (inserting the key when new). Returns false when the key already held
  /// an equal row. Throws kInvalidArgument when the row does not have one value per field.
  bool set(KeyView key, AttributeRow row) {
    if (row.size() != fields_.size())
      throw Error(ErrorCode::kInvalidArgument,
                  "attribute row for key " + printable_key(key) + " has " +
                      std::to_string(row.size()) + " values, expected " +
                      std::to_string(fields_.size()));
    Id id;
    if (const auto existing = docs_.find(key)) {
      id = *existing;
      if (rows_[id] == row) return false;
      unindex(id);
    } else {
      id = docs_.insert(key);
      if (id >= rows_.size()) rows_.resize(std::size_t{id} + 1);
    }
    rows_[id] = std::move(row);
    index(id);
    return true;
  }

  /// Forgets `key`; returns false when it was absent.
  bool erase(KeyView key) {
    const auto id = docs_.find(key);
    if (!id) return false;
    unindex(*id);
    rows_[*id].clear();
    docs_.erase(key);
    return true;
  }

  /// The row stored for `key`, or null. Valid until the next write.
  const AttributeRow* find(KeyView key) const {
    const auto id = docs_.find(key);
    return id ? &rows_[*id] : nullptr;
  }

  /// True when `key` has a row.
  bool contains(KeyView key) const { return docs_.find(key).has_value(); }
  /// Number of entries.
  std::size_t size() const noexcept { return docs_.size(); }

  /// Calls `visit(key, row)` for every entry.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (std::size_t id = 0; id < docs_.id_bound(); ++id)
      if (docs_.is_live(static_cast<Id>(id))) visit(docs_.key(static_cast<Id>(id)), rows_[id]);
  }

  /// Removes every entry.
  void clear() {
    docs_.clear();
    rows_.clear();
    per_field_.assign(fields_.size(), {});
  }

  /// The entries matching `expr`. Throws kInvalidArgument for a field the definition does not have
  /// or a test of the wrong kind (a tag set on a NUMERIC field, a range on a TAG field), kLimit for an
  /// expression nested deeper than `max_depth` (checked first, without recursion: evaluation recurses
  /// once per level and holds one bitmap of the entries per level), and kTimeout once `deadline`
  /// passes (looked at per test and every few thousand entries a test visits).
  MatchSet evaluate(const FilterExpr& expr, const Deadline& deadline = {},
                    std::size_t max_depth = Limits{}.max_filter_depth) const {
    if (const std::size_t depth = filter_depth(expr); depth > max_depth)
      throw Error(ErrorCode::kLimit, "filter nests " + std::to_string(depth) + " levels deep, more than the limit of " +
                                         std::to_string(max_depth) + " (max_filter_depth)");
    MatchSet out;
    out.bits = eval(expr, deadline);
    for (std::uint64_t word : out.bits) out.count += static_cast<std::size_t>(std::popcount(word));
    return out;
  }

  /// Keys of the entries in `matches`.
  std::vector<Key> keys(const MatchSet& matches) const {
    std::vector<Key> out;
    out.reserve(matches.count);
    for_each_bit(matches.bits, [&](Id id) { out.emplace_back(docs_.key(id)); });
    return out;
  }

  /// A vector-index filter keeping exactly `matches`: an allow-list of keys when there are at most
  /// `allow_list_max` of them, else a predicate (with the match count as its estimate) that looks
  /// keys up in this index — valid only while this index is neither written nor destroyed.
  Filter to_filter(MatchSet matches, std::size_t allow_list_max) const {
    if (matches.count <= allow_list_max) return Filter::allow_keys(keys(matches));
    auto bits = std::make_shared<const std::vector<std::uint64_t>>(std::move(matches.bits));
    return Filter::by_predicate(
        [this, bits](KeyView key, Id) {
          const auto id = docs_.find(key);
          return id && *id / 64 < bits->size() && ((*bits)[*id / 64] >> (*id % 64)) & 1;
        },
        matches.count);
  }

  /// Approximate heap bytes held.
  std::size_t memory_bytes() const {
    std::size_t bytes = docs_.memory_bytes() + rows_.capacity() * sizeof(AttributeRow);
    for (const AttributeRow& row : rows_) {
      bytes += row.capacity() * sizeof(AttributeValue);
      for (const AttributeValue& v : row)
        for (const std::string& t : v.tags) bytes += sizeof(std::string) + t.capacity();
    }
    for (const FieldIndex& f : per_field_) {
      for (const auto& [tag, ids] : f.tags) bytes += tag.capacity() + ids.size() * 2 * sizeof(void*) + 64;
      bytes += f.numbers.size() * (sizeof(std::pair<double, Id>) + 4 * sizeof(void*));
    }
    return bytes;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct FieldIndex {
    std::unordered_map<std::string, std::unordered_set<Id>, Hash, std::equal_to<>> tags;
    std::set<std::pair<double, Id>> numbers;
  };
  using Bits = std::vector<std::uint64_t>;
  // Entries a numeric test visits between two looks at the deadline.
  static constexpr std::size_t kDeadlineStride = 4096;

  template <class F>
  static void for_each_bit(const Bits& bits, F&& f) {
    for (std::size_t w = 0; w < bits.size(); ++w)
      for (std::uint64_t word = bits[w]; word; word &= word - 1)
        f(static_cast<Id>(w * 64 + static_cast<std::size_t>(std::countr_zero(word))));
  }

  void index(Id id) {
    const AttributeRow& row = rows_[id];
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      if (!row[f].present) continue;
      if (fields_[f].type == AttributeType::kTag) {
        for (const std::string& t : row[f].tags) per_field_[f].tags[t].insert(id);
      } else {
        per_field_[f].numbers.emplace(row[f].number, id);
      }
    }
  }

  void unindex(Id id) {
    const AttributeRow& row = rows_[id];
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      if (!row[f].present) continue;
      if (fields_[f].type == AttributeType::kTag) {
        for (const std::string& t : row[f].tags) {
          auto it = per_field_[f].tags.find(t);
          it->second.erase(id);
          if (it->second.empty()) per_field_[f].tags.erase(it);
        }
      } else {
        per_field_[f].numbers.erase({row[f].number, id});
      }
    }
  }

  Bits live_bits() const {
    Bits bits((docs_.id_bound() + 63) / 64, 0);
    for (std::size_t id = 0; id < docs_.id_bound(); ++id)
      if (docs_.is_live(static_cast<Id>(id))) bits[id / 64] |= std::uint64_t{1} << (id % 64);
    return bits;
  }

  std::size_t field_of(const FilterExpr& expr, AttributeType want) const {
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      if (fields_[f].name != expr.field()) continue;
      if (fields_[f].type != want)
        throw Error(ErrorCode::kInvalidArgument,
                    "filter tests " + std::string(to_string(fields_[f].type)) + " field " +
                        printable_key(expr.field()) + " as " + std::string(to_string(want)));
      return f;
    }
    throw Error(ErrorCode::kInvalidArgument,
                "filter names unknown attribute field " + printable_key(expr.field()));
  }

  Bits eval(const FilterExpr& expr, const Deadline& deadline) const {
    if (deadline.passed()) throw timeout_error("filter evaluation");
    const std::size_t words = (docs_.id_bound() + 63) / 64;
    switch (expr.kind()) {
      case FilterExpr::Kind::kAll: return live_bits();
      case FilterExpr::Kind::kTagIn: {
        const std::size_t f = field_of(expr, AttributeType::kTag);
        Bits bits(words, 0);
        for (const std::string& v : expr.values()) {
          auto it = per_field_[f].tags.find(normalize_tag(v, fields_[f]));
          if (it == per_field_[f].tags.end()) continue;
          for (Id id : it->second) bits[id / 64] |= std::uint64_t{1} << (id % 64);
          if (deadline.passed()) throw timeout_error("filter evaluation");
        }
        return bits;
      }
      case FilterExpr::Kind::kNumeric: {
        const std::size_t f = field_of(expr, AttributeType::kNumeric);
        Bits bits(words, 0);
        const NumericRange& r = expr.range();
        const auto& numbers = per_field_[f].numbers;
        std::size_t visited = 0;
        for (auto it = numbers.lower_bound({r.min, Id{0}}); it != numbers.end(); ++it) {
          if (++visited % kDeadlineStride == 0 && deadline.passed()) throw timeout_error("filter evaluation");
          if (!r.contains(it->first)) {
            if (it->first > r.min) break;  // past the upper end
            continue;                      // equal to an exclusive lower end
          }
          bits[it->second / 64] |= std::uint64_t{1} << (it->second % 64);
        }
        return bits;
      }
      case FilterExpr::Kind::kAnd: {
        Bits bits = live_bits();
        for (const FilterExpr& child : expr.children()) {
          const Bits c = eval(child, deadline);
          for (std::size_t w = 0; w < words; ++w) bits[w] &= c[w];
        }
        return bits;
      }
      case FilterExpr::Kind::kOr: {
        Bits bits(words, 0);
        for (const FilterExpr& child : expr.children()) {
          const Bits c = eval(child, deadline);
          for (std::size_t w = 0; w < words; ++w) bits[w] |= c[w];
        }
        return bits;
      }
      case FilterExpr::Kind::kNot: {
        Bits bits = live_bits();
        const Bits c = eval(expr.children().front(), deadline);
        for (std::size_t w = 0; w < words; ++w) bits[w] &= ~c[w];
        return bits;
      }
    }
    return Bits(words, 0);
  }

  std::vector<AttributeField> fields_;
  KeyMap docs_;
  std::vector<AttributeRow> rows_;
  std::vector<FieldIndex> per_field_;
};

}  // namespace vindex
