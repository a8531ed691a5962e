// vindex/source/attribute_index.hpp — per-entry TAG and NUMERIC values, indexed for filtering.
//
// `AttributeIndex` keeps, for every indexed key, the parsed values of the definition's attribute
// fields (an `AttributeRow`), an inverted index per TAG field (value → entries) and an ordered index
// per NUMERIC field ((number, entry) pairs). `evaluate` turns a `FilterExpr` into the set of matching
// keys, and `to_filter` turns that set into the `vindex::Filter` a vector index understands: an
// allow-list of keys when it is small (the index then scans exactly those entries), otherwise a
// predicate with its match count (the index then filters inside its normal search).
//
// Memory: rows (encoded compactly, one allocation each), keys and the per-field indexes (ordered
// trees: a tree allocates one node per entry and never a bucket array, so an insert can be undone
// exactly) come from the memory resource given to the constructor (core/memory.hpp), and
// memory_bytes() is exactly what the index holds from it. `set` is strong and exact: `stage` allocates
// everything a change needs (the row, the new index nodes, room in the key map and the row table)
// without changing anything visible, and `commit` applies it without allocating, so a host can stage
// a row, make another change that may fail, and then commit or drop the row. Per-query bitmaps
// (evaluate, to_filter) use operator new.
//
// Thread-safety: none of its own. The owner (source/keyspace_index.hpp) serialises writers and
// excludes them from readers (stage, commit and dropping a Staged are writes); `evaluate` and the
// predicate of `to_filter` only read, and may run on several threads at once while no writer runs.
// The predicate refers to this index: it must not outlive it or be used across a write.
// Next: source/backfill.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vindex/core/deadline.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/core/memory.hpp"
#include "vindex/core/types.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/index_definition.hpp"
#include "vindex/storage/block_array.hpp"
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
  struct Less {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a < b; }
  };
  using IdSet = std::pmr::set<Id>;
  using TagMap = std::pmr::map<std::pmr::string, IdSet, Less>;
  using NumberSet = std::pmr::set<std::pair<double, Id>>;

 public:
  /// An empty index for `definition`'s attribute fields (the definition must be valid), taking its
  /// memory from `memory` (null: operator new), which must outlive it.
  explicit AttributeIndex(const IndexDefinition& definition, std::pmr::memory_resource* memory = nullptr)
      : memory_(std::make_unique<MemoryAccount>(memory, MemoryAccount::kUnlimited, "the attribute index")),
        fields_(definition.attributes),
        docs_(memory_.get()),
        rows_(1, kRowBlock, memory_.get()) {
    per_field_.reserve(fields_.size());
    for (std::size_t f = 0; f < fields_.size(); ++f) per_field_.emplace_back(memory_.get());
  }
  AttributeIndex(const AttributeIndex&) = delete;
  AttributeIndex& operator=(const AttributeIndex&) = delete;
  /// Takes over `other`'s entries (and its memory account); `other` is left unusable but destructible.
  AttributeIndex(AttributeIndex&&) noexcept = default;
  AttributeIndex& operator=(AttributeIndex&&) = delete;
  ~AttributeIndex() { free_rows(); }

  /// The attribute fields, in definition order.
  const std::vector<AttributeField>& fields() const noexcept { return fields_; }

  /// A change set() would make, with all the memory it needs allocated (see stage()). Dropping it
  /// uncommitted gives that memory back and changes nothing. Move-only.
  class Staged {
   public:
    /// A change that changes nothing.
    Staged() = default;
    /// Takes over `other`'s change.
    Staged(Staged&& other) noexcept { swap(other); }
    /// Drops this change (giving its memory back), then takes over `other`'s.
    Staged& operator=(Staged&& other) noexcept {
      if (this != &other) {
        Staged dropped;
        swap(dropped);  // this change is dropped (given back) first
        swap(other);
      }
      return *this;
    }
    /// Gives back what an uncommitted change holds.
    ~Staged() {
      if (row_) memory_->deallocate(row_, row_bytes_, alignof(std::uint32_t));
    }
    /// False for a change that changes nothing (the key already holds an equal row).
    bool changes() const noexcept { return changes_; }

   private:
    friend class AttributeIndex;
    void swap(Staged& o) noexcept {
      std::swap(memory_, o.memory_);
      std::swap(key_, o.key_);
      std::swap(id_, o.id_);
      std::swap(changes_, o.changes_);
      std::swap(fresh_, o.fresh_);
      std::swap(key_room_, o.key_room_);
      std::swap(rows_growth_, o.rows_growth_);
      std::swap(row_, o.row_);
      std::swap(row_bytes_, o.row_bytes_);
      tags_.swap(o.tags_);
      numbers_.swap(o.numbers_);
      removals_.swap(o.removals_);
    }
    struct TagNode {  // one new (tag, id) entry: a whole map node for a new tag, else a set node
      std::size_t field;
      std::string tag;
      TagMap::node_type tag_node;
      IdSet::node_type id_node;
    };
    struct Removal {  // one (tag, id) or (number, id) entry the old row has and the new one lacks
      std::size_t field;
      std::string tag;
      double number;
    };
    std::pmr::memory_resource* memory_ = nullptr;
    KeyView key_;
    Id id_ = kInvalidId;
    bool changes_ = false;
    bool fresh_ = false;
    KeyMap::Insertion key_room_;
    BlockArray<char*>::Growth rows_growth_;
    char* row_ = nullptr;
    std::size_t row_bytes_ = 0;
    std::vector<TagNode> tags_;
    std::vector<std::pair<std::size_t, NumberSet::node_type>> numbers_;
    std::vector<Removal> removals_;
  };

  /// Stages set(key, row): checks the row and allocates everything storing it takes (the encoded
  /// row, the index entries it adds, room for a new key), changing nothing visible. Throws
  /// kInvalidArgument when the row does not have one value per field, std::bad_alloc /
  /// MemoryLimitExceeded when memory runs out (nothing changed, nothing held). Commit or drop it
  /// before any other write to this index; `key` must stay valid until then.
  Staged stage(KeyView key, const AttributeRow& row) {
    if (row.size() != fields_.size())
      throw Error(ErrorCode::kInvalidArgument,
                  "attribute row for key " + printable_key(key) + " has " +
                      std::to_string(row.size()) + " values, expected " +
                      std::to_string(fields_.size()));
    Staged st;
    st.memory_ = memory_.get();
    st.key_ = key;
    const std::string encoded = encode(row);
    const auto existing = docs_.find(key);
    const char* old = existing ? *rows_.slot(*existing) : nullptr;
    if (old && std::string_view(old + sizeof(std::uint32_t), load_u32(old)) == encoded) return st;
    st.changes_ = true;
    st.fresh_ = !existing;
    st.id_ = existing ? *existing : docs_.next_id();
    if (st.fresh_) {
      st.key_room_ = docs_.prepare(key);
      st.rows_growth_ = rows_.grow(std::size_t{st.id_} + 1);
    }
    st.row_bytes_ = sizeof(std::uint32_t) + encoded.size();
    st.row_ = static_cast<char*>(memory_->allocate(st.row_bytes_, alignof(std::uint32_t)));
    const auto length = static_cast<std::uint32_t>(encoded.size());
    std::memcpy(st.row_, &length, sizeof length);
    std::memcpy(st.row_ + sizeof length, encoded.data(), encoded.size());
    // The entries to add (in the new row, not the old) and to remove (the other way round).
    const AttributeRow before = old ? decode(old) : AttributeRow(fields_.size());
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      const AttributeValue& was = before[f];
      const AttributeValue& now = row[f];
      if (fields_[f].type == AttributeType::kTag) {
        const std::vector<std::string_view> a = distinct_tags(was), b = distinct_tags(now);
        for (std::string_view t : b) {
          if (std::binary_search(a.begin(), a.end(), t)) continue;
          Staged::TagNode n{f, std::string(t), {}, {}};
          if (per_field_[f].tags.find(t) == per_field_[f].tags.end()) {
            TagMap one(memory_.get());
            one.try_emplace(std::pmr::string(t, memory_.get())).first->second.insert(st.id_);
            n.tag_node = one.extract(one.begin());
          } else {
            IdSet one(memory_.get());
            one.insert(st.id_);
            n.id_node = one.extract(one.begin());
          }
          st.tags_.push_back(std::move(n));
        }
        for (std::string_view t : a)
          if (!std::binary_search(b.begin(), b.end(), t)) st.removals_.push_back({f, std::string(t), 0});
      } else if (was.present != now.present || (now.present && !(was.number == now.number))) {
        if (now.present) {
          NumberSet one(memory_.get());
          one.emplace(now.number, st.id_);
          st.numbers_.emplace_back(f, one.extract(one.begin()));
        }
        if (was.present) st.removals_.push_back({f, {}, was.number});
      }
    }
    return st;
  }

  /// Applies a staged change; allocates nothing and never throws. Returns false when it changed
  /// nothing (the key already held an equal row).
  bool commit(Staged&& st) noexcept {
    if (!st.changes_) return false;
    const Id id = st.fresh_ ? docs_.insert(st.key_, std::move(st.key_room_)) : st.id_;  // == st.id_
    st.rows_growth_.commit();
    for (Staged::TagNode& n : st.tags_) {
      TagMap& tags = per_field_[n.field].tags;
      if (!n.tag_node.empty()) {
        tags.insert(std::move(n.tag_node));
      } else {
        tags.find(std::string_view(n.tag))->second.insert(std::move(n.id_node));
      }
    }
    for (auto& [f, node] : st.numbers_) per_field_[f].numbers.insert(std::move(node));
    for (const Staged::Removal& r : st.removals_) {
      if (fields_[r.field].type == AttributeType::kTag) {
        remove_tag(r.field, r.tag, id);
      } else {
        per_field_[r.field].numbers.erase({r.number, id});
      }
    }
    char*& slot = *rows_.slot(id);
    free_row(slot);
    slot = std::exchange(st.row_, nullptr);
    return true;
  }

  /// Stores `row` for `key` (inserting the key when new). Returns false when the key already held
  /// an equal row. Throws kInvalidArgument when the row does not have one value per field. Strong
  /// and exact: when memory runs out nothing changes and nothing stays allocated.
  bool set(KeyView key, const AttributeRow& row) { return commit(stage(key, row)); }

  /// Forgets `key`; returns false when it was absent. Allocates nothing.
  bool erase(KeyView key) {
    const auto id = docs_.find(key);
    if (!id) return false;
    char*& slot = *rows_.slot(*id);
    unindex(*id, slot);
    free_row(slot);
    docs_.erase(key);
    return true;
  }

  /// A copy of the row stored for `key`, or nullopt.
  std::optional<AttributeRow> find(KeyView key) const {
    const auto id = docs_.find(key);
    if (!id) return std::nullopt;
    return decode(*rows_.slot(*id));
  }

  /// True when `key` has a row.
  bool contains(KeyView key) const { return docs_.find(key).has_value(); }
  /// Number of entries.
  std::size_t size() const noexcept { return docs_.size(); }

  /// Calls `visit(key, row)` for every entry (the row is a decoded copy, reused between calls).
  template <class Visit>
  void for_each(Visit&& visit) const {
    AttributeRow row;
    for (std::size_t id = 0; id < docs_.id_bound(); ++id)
      if (docs_.is_live(static_cast<Id>(id))) {
        decode(*rows_.slot(id), row);
        visit(docs_.key(static_cast<Id>(id)), static_cast<const AttributeRow&>(row));
      }
  }

  /// Removes every entry and releases all memory (memory_bytes() is 0 afterwards).
  void clear() noexcept {
    free_rows();
    docs_.clear();
    rows_.shrink_slots(0);
    for (FieldIndex& f : per_field_) {
      f.tags.clear();
      f.numbers.clear();
    }
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

  /// Bytes the index holds from its memory resource (rows, keys, index nodes): exact.
  std::size_t memory_bytes() const noexcept { return memory_ ? memory_->in_use() : 0; }
  /// The memory resource the index allocates from.
  std::pmr::memory_resource* memory_resource() const noexcept { return memory_ ? memory_->upstream() : nullptr; }

 private:
  struct FieldIndex {
    explicit FieldIndex(std::pmr::memory_resource* memory) : tags(memory), numbers(memory) {}
    TagMap tags;        // tag → entries
    NumberSet numbers;  // (number, entry), ordered
  };
  using Bits = std::vector<std::uint64_t>;
  // Entries a numeric test visits between two looks at the deadline.
  static constexpr std::size_t kDeadlineStride = 4096;
  // Row pointers per block of the row table.
  static constexpr std::size_t kRowBlock = 1024;

  template <class F>
  static void for_each_bit(const Bits& bits, F&& f) {
    for (std::size_t w = 0; w < bits.size(); ++w)
      for (std::uint64_t word = bits[w]; word; word &= word - 1)
        f(static_cast<Id>(w * 64 + static_cast<std::size_t>(std::countr_zero(word))));
  }

  // ---- encoded rows: [u32 length] then per field: u8 present, f64 number, u32 tag count, tags as
  // [u32 length][bytes]. Every field of AttributeValue is kept, so a row decodes to what was stored.

  static std::uint32_t load_u32(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

  static std::string encode(const AttributeRow& row) {
    std::string out;
    for (const AttributeValue& v : row) {
      out.push_back(v.present ? 1 : 0);
      out.append(reinterpret_cast<const char*>(&v.number), sizeof v.number);
      put_u32(out, static_cast<std::uint32_t>(v.tags.size()));
      for (const std::string& t : v.tags) {
        put_u32(out, static_cast<std::uint32_t>(t.size()));
        out += t;
      }
    }
    return out;
  }
  void decode(const char* blob, AttributeRow& row) const {
    row.resize(fields_.size());
    const char* p = blob + sizeof(std::uint32_t);
    for (AttributeValue& v : row) {
      v.present = *p++ != 0;
      std::memcpy(&v.number, p, sizeof v.number);
      p += sizeof v.number;
      v.tags.resize(load_u32(p));
      p += sizeof(std::uint32_t);
      for (std::string& t : v.tags) {
        const std::uint32_t n = load_u32(p);
        t.assign(p + sizeof n, n);
        p += sizeof n + n;
      }
    }
  }
  AttributeRow decode(const char* blob) const {
    AttributeRow row;
    decode(blob, row);
    return row;
  }

  // The tags a value puts in the index: none when absent; sorted, without repeats.
  static std::vector<std::string_view> distinct_tags(const AttributeValue& v) {
    std::vector<std::string_view> out;
    if (!v.present) return out;
    out.assign(v.tags.begin(), v.tags.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void free_row(char*& row) noexcept {
    if (!row) return;
    memory_->deallocate(row, sizeof(std::uint32_t) + load_u32(row), alignof(std::uint32_t));
    row = nullptr;
  }
  void free_rows() noexcept {
    if (!memory_) return;
    for (std::size_t id = 0; id < rows_.capacity_slots(); ++id) free_row(*rows_.slot(id));
  }

  void remove_tag(std::size_t f, std::string_view tag, Id id) noexcept {
    auto it = per_field_[f].tags.find(tag);
    if (it == per_field_[f].tags.end()) return;
    it->second.erase(id);
    if (it->second.empty()) per_field_[f].tags.erase(it);
  }

  // Removes the index entries of the row stored at `id`, reading the encoded row in place.
  void unindex(Id id, const char* blob) noexcept {
    if (!blob) return;
    const char* p = blob + sizeof(std::uint32_t);
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      const bool present = *p++ != 0;
      double number;
      std::memcpy(&number, p, sizeof number);
      p += sizeof number;
      const std::uint32_t tags = load_u32(p);
      p += sizeof(std::uint32_t);
      if (present && fields_[f].type == AttributeType::kNumeric) per_field_[f].numbers.erase({number, id});
      for (std::uint32_t t = 0; t < tags; ++t) {
        const std::uint32_t n = load_u32(p);
        if (present && fields_[f].type == AttributeType::kTag) remove_tag(f, {p + sizeof n, n}, id);
        p += sizeof n + n;
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
          auto it = per_field_[f].tags.find(std::string_view(normalize_tag(v, fields_[f])));
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

  std::unique_ptr<MemoryAccount> memory_;  // on the heap, so that moving the index moves no resource
  std::vector<AttributeField> fields_;
  KeyMap docs_;
  BlockArray<char*> rows_;  // encoded row of each id (null: none)
  std::vector<FieldIndex> per_field_;
};

}  // namespace vindex
