// vindex/source/filter_expression.hpp — structured filters over attribute fields, and their text form.
//
// A `FilterExpr` is a small tree: TAG field in a set of values, NUMERIC field in a range (each end
// open or closed, ±inf allowed), AND, OR, NOT, and "everything". Semantics: a tag test matches an
// entry that has at least one of the values (compared as the field normalises them); a range test
// matches an entry whose number lies in the range; an entry without the field matches neither, so
// `NOT` of such a test matches it. `parse_filter` reads the RediSearch query syntax for these:
//
//   @genre:{jazz | blues}   @year:[1990 (2000]   -@lang:{en}   (@a:{x} | @b:[0 +inf])   *
//
// Juxtaposition is AND and binds tighter than `|` (OR); `-` (NOT) binds tightest; parentheses group.
// In a tag list, `\` escapes the next byte and blanks around values are trimmed; a numeric bound is a
// number, `inf`, `+inf` or `-inf`, exclusive when prefixed by `(`. Evaluation lives in
// source/attribute_index.hpp. Plain value types and pure functions; thread-safe.
//
// Bounds (text is client input): `parse_filter` refuses, with ErrorCode::kLimit naming the limit, a
// text longer than Limits::max_filter_bytes, nesting (groups and negations) deeper than
// max_filter_depth, a tree (AND, OR, NOT levels: `filter_depth`) deeper than max_filter_depth, or
// more than max_filter_terms tests. So its recursion is at most max_filter_depth deep, and so is
// every recursive walk of a parsed tree (evaluation, printing, destruction); evaluation under the
// same limits never refuses a parsed filter for its depth.
// Next: source/attribute_index.hpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/source/index_definition.hpp"

namespace vindex {

/// A range of doubles; each end is inclusive or exclusive and may be infinite.
struct NumericRange {
  double min = -std::numeric_limits<double>::infinity();  ///< lower end
  double max = std::numeric_limits<double>::infinity();   ///< upper end
  bool min_inclusive = true;                              ///< `[min` rather than `(min`
  bool max_inclusive = true;                              ///< `max]` rather than `max)`

  /// True when `x` lies in the range.
  bool contains(double x) const noexcept {
    return (min_inclusive ? x >= min : x > min) && (max_inclusive ? x <= max : x < max);
  }

  friend bool operator==(const NumericRange&, const NumericRange&) = default;
};

/// A structured filter over an index definition's attribute fields.
class FilterExpr {
 public:
  /// Node kinds.
  enum class Kind : std::uint8_t {
    kAll,      ///< matches every entry
    kTagIn,    ///< TAG field holds at least one of values()
    kNumeric,  ///< NUMERIC field lies in range()
    kAnd,      ///< every child matches (no children: everything)
    kOr,       ///< some child matches (no children: nothing)
    kNot,      ///< the single child does not match
  };

  /// Matches everything (`*`).
  FilterExpr() = default;
  /// Matches everything (`*`).
  static FilterExpr all() { return {}; }
  /// `@field:{v1 | v2 …}`: the TAG field holds one of `values` (compared after the field's case
  /// folding).
  static FilterExpr tag_in(std::string field, std::vector<std::string> values) {
    FilterExpr e(Kind::kTagIn);
    e.field_ = std::move(field);
    e.values_ = std::move(values);
    return e;
  }
  /// `@field:[min max]`: the NUMERIC field lies in `range`.
  static FilterExpr numeric(std::string field, NumericRange range) {
    FilterExpr e(Kind::kNumeric);
    e.field_ = std::move(field);
    e.range_ = range;
    return e;
  }
  /// AND of `children`.
  static FilterExpr all_of(std::vector<FilterExpr> children) {
    FilterExpr e(Kind::kAnd);
    e.children_ = std::move(children);
    return e;
  }
  /// OR of `children`.
  static FilterExpr any_of(std::vector<FilterExpr> children) {
    FilterExpr e(Kind::kOr);
    e.children_ = std::move(children);
    return e;
  }
  /// NOT `child`; also matches entries that lack the fields `child` tests.
  static FilterExpr negate(FilterExpr child) {
    FilterExpr e(Kind::kNot);
    e.children_.push_back(std::move(child));
    return e;
  }

  /// The node kind.
  Kind kind() const noexcept { return kind_; }
  /// Field name of a kTagIn or kNumeric node.
  const std::string& field() const noexcept { return field_; }
  /// Values of a kTagIn node.
  std::span<const std::string> values() const noexcept { return values_; }
  /// Range of a kNumeric node.
  const NumericRange& range() const noexcept { return range_; }
  /// Children of kAnd, kOr (any number) and kNot (one).
  std::span<const FilterExpr> children() const noexcept { return children_; }

  /// The expression in the syntax `parse_filter` reads (parses back to an equivalent expression).
  std::string to_string() const {
    switch (kind_) {
      case Kind::kAll: return "*";
      case Kind::kTagIn: {
        std::string out = "@" + escape(field_, ":{[") + ":{";
        for (std::size_t i = 0; i < values_.size(); ++i)
          out += (i ? " | " : "") + escape(values_[i], "|}{\\ ");
        return out + "}";
      }
      case Kind::kNumeric:
        return "@" + escape(field_, ":{[") + ":[" + (range_.min_inclusive ? "" : "(") +
               number(range_.min) + " " + (range_.max_inclusive ? "" : "(") + number(range_.max) + "]";
      case Kind::kAnd:
      case Kind::kOr: {
        if (children_.empty()) return kind_ == Kind::kAnd ? "*" : "-*";
        std::string out = "(";
        for (std::size_t i = 0; i < children_.size(); ++i)
          out += (i ? (kind_ == Kind::kAnd ? " " : " | ") : "") + children_[i].to_string();
        return out + ")";
      }
      case Kind::kNot: return "-" + children_.front().to_string();
    }
    return "*";
  }

  friend bool operator==(const FilterExpr&, const FilterExpr&) = default;

 private:
  explicit FilterExpr(Kind kind) : kind_(kind) {}

  static std::string escape(std::string_view s, std::string_view special) {
    std::string out;
    for (char c : s) {
      if (c == '\\' || special.find(c) != std::string_view::npos || detail::is_blank(c)) out += '\\';
      out += c;
    }
    return out;
  }
  static std::string number(double x) {
    if (std::isinf(x)) return x > 0 ? "+inf" : "-inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    return std::string(buf, r.ptr);
  }

  Kind kind_ = Kind::kAll;
  std::string field_;
  std::vector<std::string> values_;
  NumericRange range_;
  std::vector<FilterExpr> children_;
};

/// AND of two expressions.
inline FilterExpr operator&&(FilterExpr a, FilterExpr b) {
  std::vector<FilterExpr> both;
  both.push_back(std::move(a));
  both.push_back(std::move(b));
  return FilterExpr::all_of(std::move(both));
}
/// OR of two expressions.
inline FilterExpr operator||(FilterExpr a, FilterExpr b) {
  std::vector<FilterExpr> both;
  both.push_back(std::move(a));
  both.push_back(std::move(b));
  return FilterExpr::any_of(std::move(both));
}
/// NOT of an expression.
inline FilterExpr operator!(FilterExpr a) { return FilterExpr::negate(std::move(a)); }

/// Depth of an expression: 1 for a test or `*`, one more per AND / OR / NOT above. Iterative, so it
/// is safe on a tree of any depth (a host may build one programmatically).
inline std::size_t filter_depth(const FilterExpr& root) {
  std::size_t deepest = 0;
  std::vector<std::pair<const FilterExpr*, std::size_t>> stack{{&root, 1}};
  while (!stack.empty()) {
    const auto [e, depth] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, depth);
    for (const FilterExpr& child : e->children()) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

namespace detail {

// Recursive-descent parser for the grammar in the header comment.
class FilterParser {
 public:
  FilterParser(std::string_view text, const Limits& limits) : text_(text), limits_(limits) {}

  FilterExpr parse() {
    if (text_.size() > limits_.max_filter_bytes)
      throw Error(ErrorCode::kLimit, "filter of " + std::to_string(text_.size()) + " bytes exceeds the limit of " +
                                         std::to_string(limits_.max_filter_bytes) + " (max_filter_bytes)");
    skip_blanks();
    if (at_end()) fail("empty filter (use * for everything)");
    FilterExpr e = parse_union();
    skip_blanks();
    if (!at_end()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    // Juxtaposition and `|` build AND and OR nodes without a group, so the tree can be deeper than
    // the text's nesting: bound the tree too, so that evaluation (which bounds by tree depth) never
    // refuses what parsing accepted.
    if (const std::size_t depth = filter_depth(e); depth > limits_.max_filter_depth)
      throw Error(ErrorCode::kLimit, "filter nests " + std::to_string(depth) +
                                         " levels of AND, OR and NOT, more than the limit of " +
                                         std::to_string(limits_.max_filter_depth) + " (max_filter_depth)");
    return e;
  }

 private:
  // Entered once per nesting level: the top level, each group and each negation.
  struct Nesting {
    explicit Nesting(FilterParser& p) : parser(p) {
      if (++parser.depth_ > parser.limits_.max_filter_depth)
        parser.fail_limit("filter nests deeper than " + std::to_string(parser.limits_.max_filter_depth) +
                          " levels of groups and negations (max_filter_depth)");
    }
    ~Nesting() { --parser.depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
    FilterParser& parser;
  };

  void count_term() {
    if (++terms_ > limits_.max_filter_terms)
      fail_limit("filter has more than " + std::to_string(limits_.max_filter_terms) +
                 " tests (tag values, ranges, *) (max_filter_terms)");
  }

  FilterExpr parse_union() {
    const Nesting nesting(*this);
    std::vector<FilterExpr> terms;
    terms.push_back(parse_intersection());
    while (skip_blanks(), peek('|')) {
      ++pos_;
      terms.push_back(parse_intersection());
    }
    return terms.size() == 1 ? std::move(terms.front()) : FilterExpr::any_of(std::move(terms));
  }

  FilterExpr parse_intersection() {
    std::vector<FilterExpr> terms;
    while (skip_blanks(), !at_end() && !peek('|') && !peek(')')) terms.push_back(parse_unary());
    if (terms.empty()) fail("expected a term");
    return terms.size() == 1 ? std::move(terms.front()) : FilterExpr::all_of(std::move(terms));
  }

  FilterExpr parse_unary() {
    skip_blanks();
    if (peek('-')) {
      ++pos_;
      const Nesting nesting(*this);
      return FilterExpr::negate(parse_unary());
    }
    return parse_atom();
  }

  FilterExpr parse_atom() {
    skip_blanks();
    if (peek('*')) {
      ++pos_;
      count_term();
      return FilterExpr::all();
    }
    if (peek('(')) {
      ++pos_;
      FilterExpr inner = parse_union();
      skip_blanks();
      expect(')');
      return inner;
    }
    if (!peek('@')) fail("expected '@field:', '(', '-' or '*'");
    ++pos_;
    std::string field;
    while (!at_end() && text_[pos_] != ':') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      else if (is_blank(text_[pos_]) || text_[pos_] == '{' || text_[pos_] == '[') break;
      field += text_[pos_++];
    }
    if (field.empty()) fail("empty field name");
    expect(':');
    skip_blanks();
    if (peek('{')) return FilterExpr::tag_in(std::move(field), parse_tags());
    if (peek('[')) {
      count_term();
      return FilterExpr::numeric(std::move(field), parse_range());
    }
    fail("expected '{' or '[' after @" + field + ":");
  }

  std::vector<std::string> parse_tags() {
    expect('{');
    std::vector<std::string> values;
    std::string value;
    std::size_t trailing_blanks = 0;  // unescaped blanks at the end of `value`, trimmed
    auto finish = [&] {
      value.resize(value.size() - trailing_blanks);
      if (value.empty()) fail("empty tag value");
      count_term();
      values.push_back(std::move(value));
      value.clear();
      trailing_blanks = 0;
    };
    while (true) {
      if (at_end()) fail("unterminated tag list");
      const char c = text_[pos_++];
      if (c == '}') break;
      if (c == '|') {
        finish();
        continue;
      }
      if (c == '\\') {
        if (at_end()) fail("dangling escape");
        value += text_[pos_++];
        trailing_blanks = 0;
        continue;
      }
      if (is_blank(c)) {
        if (!value.empty()) {
          value += c;
          ++trailing_blanks;
        }
        continue;
      }
      value += c;
      trailing_blanks = 0;
    }
    finish();
    return values;
  }

  NumericRange parse_range() {
    expect('[');
    NumericRange r;
    std::tie(r.min, r.min_inclusive) = parse_bound();
    skip_blanks();
    if (peek(',')) ++pos_;
    std::tie(r.max, r.max_inclusive) = parse_bound();
    skip_blanks();
    expect(']');
    return r;
  }

  std::pair<double, bool> parse_bound() {
    skip_blanks();
    bool inclusive = true;
    if (peek('(')) {
      inclusive = false;
      ++pos_;
    }
    const std::size_t start = pos_;
    while (!at_end() && !is_blank(text_[pos_]) && text_[pos_] != ']' && text_[pos_] != ',') ++pos_;
    const std::string_view word = text_.substr(start, pos_ - start);
    const auto value = parse_numeric(word);
    if (!value) {
      pos_ = start;
      fail("bad numeric bound '" + std::string(word) + "'");
    }
    return {*value, inclusive};
  }

  bool at_end() const noexcept { return pos_ >= text_.size(); }
  bool peek(char c) const noexcept { return !at_end() && text_[pos_] == c; }
  void skip_blanks() noexcept {
    while (!at_end() && is_blank(text_[pos_])) ++pos_;
  }
  void expect(char c) {
    if (!peek(c)) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument,
                "filter syntax error at offset " + std::to_string(pos_) + ": " + what);
  }
  [[noreturn]] void fail_limit(const std::string& what) const {
    throw Error(ErrorCode::kLimit, what + ", at offset " + std::to_string(pos_));
  }

  std::string_view text_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::uint32_t depth_ = 0;
  std::uint32_t terms_ = 0;
};

}  // namespace detail

/// Parses the RediSearch filter syntax described at the top of this header. Throws
/// kInvalidArgument naming the offset of the first syntax error, kLimit when the text exceeds one of
/// `limits`' filter bounds (max_filter_bytes, max_filter_depth, max_filter_terms).
inline FilterExpr parse_filter(std::string_view text, const Limits& limits = {}) {
  return detail::FilterParser(text, limits).parse();
}

/// Truth value of an expression that tests no field (`*`, `-*` and combinations of them), else
/// nullopt: a search can then skip the attribute index (all keys) or answer at once (none).
inline std::optional<bool> constant_value(const FilterExpr& e) {
  switch (e.kind()) {
    case FilterExpr::Kind::kAll: return true;
    case FilterExpr::Kind::kTagIn:
    case FilterExpr::Kind::kNumeric: return std::nullopt;
    case FilterExpr::Kind::kNot: {
      const auto c = constant_value(e.children().front());
      return c ? std::optional<bool>(!*c) : std::nullopt;
    }
    case FilterExpr::Kind::kAnd:
    case FilterExpr::Kind::kOr: {
      const bool is_and = e.kind() == FilterExpr::Kind::kAnd;
      for (const FilterExpr& child : e.children()) {
        const auto c = constant_value(child);
        if (!c) return std::nullopt;
        if (*c != is_and) return !is_and;
      }
      return is_and;
    }
  }
  return std::nullopt;
}

}  // namespace vindex
