// Specification of FilterExpr semantics (as evaluated by AttributeIndex), the RediSearch-syntax
// parser, and the conversion of match sets into vector-index filters.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

using namespace vindex;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

IndexDefinition definition() {
  return {{}, "vec",
          {{"genre", AttributeType::kTag},
           {"year", AttributeType::kNumeric},
           {"code", AttributeType::kTag, '|', true}}};
}

// A small world: key → raw fields (missing fields simply absent).
using Raw = std::map<std::string, std::map<std::string, std::string>>;

AttributeIndex build(const IndexDefinition& def, const Raw& raw) {
  AttributeIndex index(def);
  for (const auto& item : raw) {
    const auto& fields = item.second;
    auto parsed = parse_attributes(def, [&](std::string_view name) -> std::optional<std::string_view> {
      auto it = fields.find(std::string(name));
      if (it == fields.end()) return std::nullopt;
      return std::string_view(it->second);
    });
    REQUIRE_FALSE(parsed.bad_field.has_value());
    index.set(item.first, parsed.row);
  }
  return index;
}

std::set<std::string> matching(const AttributeIndex& index, const FilterExpr& e) {
  const auto keys = index.keys(index.evaluate(e));
  return {keys.begin(), keys.end()};
}

// Oracle: direct evaluation of an expression on one entry's parsed row.
bool oracle(const IndexDefinition& def, const AttributeRow& row, const FilterExpr& e) {
  switch (e.kind()) {
    case FilterExpr::Kind::kAll: return true;
    case FilterExpr::Kind::kTagIn: {
      const std::size_t f = *def.attribute_index(e.field());
      if (!row[f].present) return false;
      for (const auto& v : e.values())
        if (std::count(row[f].tags.begin(), row[f].tags.end(), normalize_tag(v, def.attributes[f])))
          return true;
      return false;
    }
    case FilterExpr::Kind::kNumeric: {
      const std::size_t f = *def.attribute_index(e.field());
      return row[f].present && e.range().contains(row[f].number);
    }
    case FilterExpr::Kind::kAnd:
      for (const auto& c : e.children())
        if (!oracle(def, row, c)) return false;
      return true;
    case FilterExpr::Kind::kOr:
      for (const auto& c : e.children())
        if (oracle(def, row, c)) return true;
      return false;
    case FilterExpr::Kind::kNot: return !oracle(def, row, e.children().front());
  }
  return false;
}

const Raw kWorld = {
    {"a", {{"genre", "Jazz, blues"}, {"year", "1995"}, {"code", "X|y"}}},
    {"b", {{"genre", "rock"}, {"year", "2000"}}},
    {"c", {{"genre", "jazz"}, {"year", "2000.5"}}},
    {"d", {{"year", "-inf"}}},
    {"e", {{"genre", "pop"}, {"code", "x"}}},
    {"f", {}},
};

}  // namespace

TEST_CASE("tag-in-set matches entries holding any of the values, case-folded per field") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  CHECK(matching(index, FilterExpr::tag_in("genre", {"jazz"})) == std::set<std::string>{"a", "c"});
  CHECK(matching(index, FilterExpr::tag_in("genre", {"BLUES", "rock"})) == std::set<std::string>{"a", "b"});
  CHECK(matching(index, FilterExpr::tag_in("genre", {"classical"})).empty());
  // "code" is case-sensitive with separator '|'.
  CHECK(matching(index, FilterExpr::tag_in("code", {"X"})) == std::set<std::string>{"a"});
  CHECK(matching(index, FilterExpr::tag_in("code", {"x"})) == std::set<std::string>{"e"});
}

TEST_CASE("numeric ranges honour open and closed ends and infinities") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  auto range = [&](double lo, bool lo_in, double hi, bool hi_in) {
    return matching(index, FilterExpr::numeric("year", {lo, hi, lo_in, hi_in}));
  };
  CHECK(range(1995, true, 2000, true) == std::set<std::string>{"a", "b"});
  CHECK(range(1995, false, 2000, true) == std::set<std::string>{"b"});
  CHECK(range(1995, true, 2000, false) == std::set<std::string>{"a"});
  CHECK(range(2000, false, kInf, true) == std::set<std::string>{"c"});
  CHECK(range(-kInf, true, 0, true) == std::set<std::string>{"d"});
  CHECK(range(-kInf, false, 0, true).empty());  // (-inf excludes -inf itself
  CHECK(range(-kInf, true, kInf, true) == std::set<std::string>{"a", "b", "c", "d"});
  CHECK(range(2001, true, 1990, true).empty());
}

TEST_CASE("AND, OR and NOT combine; NOT also matches entries that lack the field") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  const auto jazz = FilterExpr::tag_in("genre", {"jazz"});
  const auto y2000 = FilterExpr::numeric("year", {2000, kInf, true, true});
  CHECK(matching(index, jazz && y2000) == std::set<std::string>{"c"});
  CHECK(matching(index, jazz || y2000) == std::set<std::string>{"a", "b", "c"});
  CHECK(matching(index, !jazz) == std::set<std::string>{"b", "d", "e", "f"});  // d, f: no genre
  CHECK(matching(index, !y2000) == std::set<std::string>{"a", "d", "e", "f"});  // e, f: no year
  CHECK(matching(index, FilterExpr::all()).size() == kWorld.size());
  CHECK(matching(index, FilterExpr::all_of({})).size() == kWorld.size());
  CHECK(matching(index, FilterExpr::any_of({})).empty());
  CHECK(matching(index, !FilterExpr::all()).empty());
}

TEST_CASE("filters naming unknown fields or testing a field as the wrong kind are errors") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  CHECK_THROWS_WITH_AS(index.evaluate(FilterExpr::tag_in("nope", {"x"})),
                       doctest::Contains("unknown attribute field 'nope'"), Error);
  CHECK_THROWS_WITH_AS(index.evaluate(FilterExpr::numeric("genre", {})),
                       doctest::Contains("TAG field 'genre' as NUMERIC"), Error);
  CHECK_THROWS_WITH_AS(index.evaluate(FilterExpr::tag_in("year", {"1"})),
                       doctest::Contains("NUMERIC field 'year' as TAG"), Error);
}

TEST_CASE("updating and erasing entries keeps the tag and numeric indexes exact") {
  const auto def = definition();
  auto index = build(def, kWorld);
  AttributeRow row(3);
  row[0] = {true, {"rock"}, 0};
  CHECK(index.set("a", row));
  CHECK_FALSE(index.set("a", row));  // equal row: no change
  CHECK(matching(index, FilterExpr::tag_in("genre", {"jazz"})) == std::set<std::string>{"c"});
  CHECK(matching(index, FilterExpr::tag_in("genre", {"rock"})) == std::set<std::string>{"a", "b"});
  CHECK(matching(index, FilterExpr::numeric("year", {1995, 1995, true, true})).empty());
  CHECK(index.erase("b"));
  CHECK_FALSE(index.erase("b"));
  CHECK(matching(index, FilterExpr::tag_in("genre", {"rock"})) == std::set<std::string>{"a"});
  CHECK(matching(index, !FilterExpr::tag_in("genre", {"rock"})).count("b") == 0);
  CHECK_THROWS_AS(index.set("z", AttributeRow(2)), Error);
}

TEST_CASE("the parser reads the RediSearch syntax") {
  CHECK(parse_filter("*") == FilterExpr::all());
  CHECK(parse_filter("@genre:{jazz}") == FilterExpr::tag_in("genre", {"jazz"}));
  CHECK(parse_filter(" @genre:{ jazz | hard rock } ") ==
        FilterExpr::tag_in("genre", {"jazz", "hard rock"}));
  CHECK(parse_filter("@t:{a\\|b | c\\ }") == FilterExpr::tag_in("t", {"a|b", "c "}));
  CHECK(parse_filter("@year:[1990 2000]") == FilterExpr::numeric("year", {1990, 2000, true, true}));
  CHECK(parse_filter("@year:[(1990 (2000]") == FilterExpr::numeric("year", {1990, 2000, false, false}));
  CHECK(parse_filter("@year:[-inf +inf]") == FilterExpr::numeric("year", {-kInf, kInf, true, true}));
  CHECK(parse_filter("@year:[(1.5e3, inf]") == FilterExpr::numeric("year", {1500, kInf, false, true}));
  CHECK(parse_filter("-@g:{x}") == !FilterExpr::tag_in("g", {"x"}));
  CHECK(parse_filter("@a:{x} @b:{y}") == (FilterExpr::tag_in("a", {"x"}) && FilterExpr::tag_in("b", {"y"})));
  // AND binds tighter than OR.
  CHECK(parse_filter("@a:{x} @b:{y} | @c:{z}") ==
        ((FilterExpr::tag_in("a", {"x"}) && FilterExpr::tag_in("b", {"y"})) || FilterExpr::tag_in("c", {"z"})));
  CHECK(parse_filter("@a:{x} (@b:{y} | @c:{z})") ==
        (FilterExpr::tag_in("a", {"x"}) && (FilterExpr::tag_in("b", {"y"}) || FilterExpr::tag_in("c", {"z"}))));
  CHECK(parse_filter("--@a:{x}") == !!FilterExpr::tag_in("a", {"x"}));
}

TEST_CASE("syntax errors name the offset") {
  for (const char* bad : {"", "@", "@a", "@a:", "@a:{", "@a:{x", "@a:{}", "@a:{x|}", "@a:[1]", "@a:[1 2",
                          "@a:[x 2]", "(@a:{x}", "@a:{x})", "@a:{x} |", "jazz", "@a:(1 2)"}) {
    INFO(bad);
    CHECK_THROWS_WITH_AS(parse_filter(bad), doctest::Contains("filter syntax error at offset"), Error);
  }
}

TEST_CASE("to_string parses back to an expression with the same matches") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  const char* texts[] = {"@genre:{jazz|ROCK} -@year:[(1995 2000]", "(@code:{X} | @code:{x}) @genre:{pop}",
                         "-(@genre:{jazz} | -@year:[-inf 1999])", "@genre:{blues} | @year:[2000.5 2000.5] | *"};
  for (const char* text : texts) {
    INFO(text);
    const FilterExpr e = parse_filter(text);
    const FilterExpr back = parse_filter(e.to_string());
    CHECK(matching(index, e) == matching(index, back));
  }
  CHECK(FilterExpr::tag_in("g", {"a b", "c|d"}).to_string() == "@g:{a\\ b | c\\|d}");
  CHECK(parse_filter(FilterExpr::tag_in("g", {"a b", "c|d"}).to_string()) == FilterExpr::tag_in("g", {"a b", "c|d"}));
  // Field names may hold the bytes that open a tag list or a range (found by fuzz_filter).
  for (const char* field : {"{t", "a[b", "x:y"})
    CHECK(parse_filter(FilterExpr::tag_in(field, {"v"}).to_string()) == FilterExpr::tag_in(field, {"v"}));
}

TEST_CASE("random expressions over random entries agree with a direct evaluation") {
  const auto def = definition();
  std::mt19937 rng(99);
  const std::vector<std::string> tags = {"a", "B", "c", "d"};
  Raw raw;
  for (int i = 0; i < 300; ++i) {
    std::map<std::string, std::string> f;
    if (rng() % 4) f["genre"] = tags[rng() % 4] + "," + tags[rng() % 4];
    if (rng() % 4) f["year"] = std::to_string(static_cast<int>(rng() % 20));
    if (rng() % 2) f["code"] = tags[rng() % 4];
    raw["k" + std::to_string(i)] = f;
  }
  const auto index = build(def, raw);
  std::function<FilterExpr(int)> random_expr = [&](int depth) -> FilterExpr {
    const int pick = static_cast<int>(rng() % (depth > 2 ? 3 : 6));
    switch (pick) {
      case 0: return FilterExpr::tag_in(rng() % 2 ? "genre" : "code", {tags[rng() % 4], tags[rng() % 4]});
      case 1: {
        const double lo = static_cast<double>(rng() % 20), hi = lo + static_cast<double>(rng() % 8);
        return FilterExpr::numeric("year", {lo, hi, rng() % 2 == 0, rng() % 2 == 0});
      }
      case 2: return FilterExpr::numeric("year", {-kInf, static_cast<double>(rng() % 20), true, rng() % 2 == 0});
      case 3: return !random_expr(depth + 1);
      case 4: return random_expr(depth + 1) && random_expr(depth + 1);
      default: return random_expr(depth + 1) || random_expr(depth + 1);
    }
  };
  for (int round = 0; round < 300; ++round) {
    const FilterExpr e = random_expr(0);
    INFO(e.to_string());
    std::set<std::string> want;
    index.for_each([&](KeyView key, const AttributeRow& row) {
      if (oracle(def, row, e)) want.emplace(key);
    });
    CHECK(matching(index, e) == want);
    CHECK(matching(index, parse_filter(e.to_string())) == want);
  }
}

TEST_CASE("small match sets become key allow-lists, large ones predicates with an estimate") {
  const auto def = definition();
  const auto index = build(def, kWorld);
  const auto jazz = index.evaluate(FilterExpr::tag_in("genre", {"jazz"}));
  const Filter small = index.to_filter(jazz, 2);
  CHECK(small.is_key_list());
  CHECK(small.estimated_matches() == 2u);
  const Filter large = index.to_filter(jazz, 1);
  CHECK_FALSE(large.is_key_list());
  CHECK_FALSE(large.is_id_list());
  CHECK(large.estimated_matches() == 2u);
  CHECK(large.matches("a", 0));
  CHECK(large.matches("c", 0));
  CHECK_FALSE(large.matches("b", 0));
  CHECK_FALSE(large.matches("unknown", 0));
}
