// libFuzzer target for the filter parser and evaluator (FT.SEARCH's filter text is client input).
// Any text must either parse or throw vindex::Error — never crash, recurse past the nesting limit,
// or allocate without bound. A parsed filter must print to a text that parses back to the same
// expression, and AttributeIndex's bitmap evaluation must equal a plain per-entry evaluation on a
// small attribute table (or both refuse it: an unknown field, a test of the wrong kind).
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
// Run:   build-fuzz/tests/fuzz/fuzz_filter -max_total_time=60 tests/fuzz/filter_corpus
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/vindex.hpp"

namespace {

[[noreturn]] void bug() { std::abort(); }

const vindex::IndexDefinition& definition() {
  static const vindex::IndexDefinition d{{},
                                         "vec",
                                         {{"t", vindex::AttributeType::kTag},
                                          {"n", vindex::AttributeType::kNumeric},
                                          {"c", vindex::AttributeType::kTag, '|', true}}};
  return d;
}

// A fixed table of 40 entries with overlapping tags, numbers around 0 and missing fields.
struct Table {
  vindex::AttributeIndex index{definition()};
  std::vector<std::pair<std::string, vindex::AttributeRow>> rows;
  Table() {
    static const char* tags[] = {"a", "b", "A", "x y", "b,c", "-", "*", "{", ""};
    for (int i = 0; i < 40; ++i) {
      const std::string key = "k" + std::to_string(i);
      std::string t = tags[i % 9], c = std::string(tags[(i * 7) % 9]) + "|" + tags[(i * 5) % 9];
      const std::string n = std::to_string((i % 11) - 5) + (i % 4 == 0 ? ".5" : "");
      auto parsed = vindex::parse_attributes(definition(), [&](std::string_view name) -> std::optional<std::string_view> {
        if (name == "t" && i % 6 != 0) return std::string_view(t);
        if (name == "n" && i % 5 != 0) return std::string_view(n);
        if (name == "c" && i % 3 != 0) return std::string_view(c);
        return std::nullopt;
      });
      if (parsed.bad_field) bug();
      index.set(key, parsed.row);
      rows.emplace_back(key, std::move(parsed.row));
    }
  }
};

// Per-entry evaluation straight from the semantics in filter_expression.hpp; throws like evaluate.
bool matches(const vindex::FilterExpr& e, const vindex::AttributeRow& row) {
  using K = vindex::FilterExpr::Kind;
  const auto& fields = definition().attributes;
  auto field_index = [&](vindex::AttributeType want) {
    for (std::size_t f = 0; f < fields.size(); ++f)
      if (fields[f].name == e.field()) {
        if (fields[f].type != want) throw vindex::Error(vindex::ErrorCode::kInvalidArgument, "kind");
        return f;
      }
    throw vindex::Error(vindex::ErrorCode::kInvalidArgument, "field");
  };
  switch (e.kind()) {
    case K::kAll: return true;
    case K::kTagIn: {
      const std::size_t f = field_index(vindex::AttributeType::kTag);
      bool hit = false;
      for (const std::string& v : e.values()) {
        const std::string want = vindex::normalize_tag(v, fields[f]);
        for (const std::string& have : row[f].tags) hit |= row[f].present && have == want;
      }
      return hit;
    }
    case K::kNumeric: {
      const std::size_t f = field_index(vindex::AttributeType::kNumeric);
      return row[f].present && e.range().contains(row[f].number);
    }
    case K::kAnd: {
      bool all = true;
      for (const auto& c : e.children()) all &= matches(c, row);  // every child is checked (errors)
      return all;
    }
    case K::kOr: {
      bool any = false;
      for (const auto& c : e.children()) any |= matches(c, row);
      return any;
    }
    case K::kNot: return !matches(e.children().front(), row);
  }
  bug();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Table table;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<vindex::FilterExpr> expr;
  try {
    expr = vindex::parse_filter(text);
  } catch (const vindex::Error&) {
    return 0;
  }
  // Printing adds a group per AND / OR, so the printed form may nest deeper than the original text.
  vindex::Limits wide;
  wide.max_filter_depth = 2 * wide.max_filter_depth + 2;
  wide.max_filter_bytes = 1u << 24;
  try {
    if (!(vindex::parse_filter(expr->to_string(), wide) == *expr)) bug();
  } catch (const vindex::Error&) {
    bug();
  }
  std::optional<vindex::MatchSet> got;
  try {
    got = table.index.evaluate(*expr);
  } catch (const vindex::Error&) {
  }
  std::size_t want_count = 0;
  bool refused = false;
  try {
    for (const auto& [key, row] : table.rows) want_count += matches(*expr, row) ? 1 : 0;
  } catch (const vindex::Error&) {
    refused = true;
  }
  if (refused != !got.has_value()) bug();
  if (got) {
    if (got->count != want_count) bug();
    std::size_t i = 0;
    for (const auto& [key, row] : table.rows) {
      const bool bit = (got->bits.size() > i / 64) && ((got->bits[i / 64] >> (i % 64)) & 1);
      if (bit != matches(*expr, row)) bug();
      ++i;
    }
  }
  return 0;
}
