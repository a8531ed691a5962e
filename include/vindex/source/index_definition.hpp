// vindex/source/index_definition.hpp — which host entries an index covers, and how to read them.
//
// An `IndexDefinition` names the key prefixes that belong to the index (several; none means every
// key; binary-safe), the hash field holding the vector, and the attribute fields used for filtering:
// TAG (a list of values split on a separator, `,` by default; case-insensitive unless asked) and
// NUMERIC (a double parsed from the field's text). `parse_tags` and `parse_numeric` are the exact
// rules the attribute index applies. Plain value types and pure functions; thread-safe.
// Next: source/memory_source.hpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/core/types.hpp"

namespace vindex {

/// Kind of an attribute field. Codes are frozen (snapshots store them).
enum class AttributeType : std::uint8_t {
  kTag = 1,      ///< a set of strings split on a separator
  kNumeric = 2,  ///< one double
};

/// Redis-style name of an attribute type ("TAG", "NUMERIC").
constexpr std::string_view to_string(AttributeType type) noexcept {
  return type == AttributeType::kTag ? "TAG" : type == AttributeType::kNumeric ? "NUMERIC" : "?";
}

/// One attribute field of a definition.
struct AttributeField {
  std::string name;                       ///< hash field name (binary-safe)
  AttributeType type = AttributeType::kTag;
  char separator = ',';                   ///< TAG: splits the field's text into values
  bool case_sensitive = false;            ///< TAG: false folds ASCII letters to lower case

  friend bool operator==(const AttributeField&, const AttributeField&) = default;
};

/// Which keys an index covers, and which fields it reads.
struct IndexDefinition {
  std::vector<std::string> prefixes;         ///< key prefixes (binary-safe); empty means every key
  std::string vector_field;                  ///< hash field holding the vector blob
  std::vector<AttributeField> attributes;    ///< TAG and NUMERIC fields for filtering

  /// True when `key` starts with one of the prefixes (always true without prefixes).
  bool matches_key(KeyView key) const noexcept {
    if (prefixes.empty()) return true;
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [&](const std::string& p) { return key.substr(0, p.size()) == p; });
  }

  /// Position of the attribute field called `name`, or nullopt.
  std::optional<std::size_t> attribute_index(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < attributes.size(); ++i)
      if (attributes[i].name == name) return i;
    return std::nullopt;
  }

  /// Throws kInvalidArgument for an empty vector field, a duplicate or empty attribute name, an
  /// attribute named like the vector field, or a TAG separator that is a space or control byte.
  void validate() const {
    if (vector_field.empty())
      throw Error(ErrorCode::kInvalidArgument, "index definition has no vector field");
    for (std::size_t i = 0; i < attributes.size(); ++i) {
      const AttributeField& a = attributes[i];
      if (a.name.empty())
        throw Error(ErrorCode::kInvalidArgument, "attribute " + std::to_string(i) + " has no name");
      if (a.name == vector_field)
        throw Error(ErrorCode::kInvalidArgument,
                    "attribute " + printable_key(a.name) + " is also the vector field");
      if (a.type != AttributeType::kTag && a.type != AttributeType::kNumeric)
        throw Error(ErrorCode::kInvalidArgument, "attribute " + printable_key(a.name) +
                                                     " has unknown type code " +
                                                     std::to_string(static_cast<int>(a.type)));
      if (a.type == AttributeType::kTag && static_cast<unsigned char>(a.separator) <= ' ')
        throw Error(ErrorCode::kInvalidArgument,
                    "TAG attribute " + printable_key(a.name) + " has a blank separator");
      for (std::size_t j = 0; j < i; ++j)
        if (attributes[j].name == a.name)
          throw Error(ErrorCode::kInvalidArgument,
                      "attribute " + printable_key(a.name) + " is defined twice");
    }
  }

  friend bool operator==(const IndexDefinition&, const IndexDefinition&) = default;
};

namespace detail {
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace detail

/// Normalises one tag value the way `field` compares them: ASCII lower case unless case-sensitive.
inline std::string normalize_tag(std::string_view value, const AttributeField& field) {
  std::string out(value);
  if (!field.case_sensitive)
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Splits a TAG field's text on the separator, trims blanks around each value, drops empty values
/// and duplicates, and normalises case. Returns the values sorted.
inline std::vector<std::string> parse_tags(std::string_view text, const AttributeField& field) {
  std::vector<std::string> out;
  while (true) {
    const std::size_t at = text.find(field.separator);
    const std::string_view value = detail::trim(text.substr(0, at));
    if (!value.empty()) out.push_back(normalize_tag(value, field));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// Parses a NUMERIC field's text: a decimal or exponent number, `inf`/`-inf`, surrounding blanks
/// allowed, an optional leading `+`. Returns nullopt for anything else (including NaN and empty).
inline std::optional<double> parse_numeric(std::string_view text) noexcept {
  text = detail::trim(text);
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (!text.empty() && text.front() == '-') return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || std::isnan(value))
    return std::nullopt;
  return value;
}

}  // namespace vindex
