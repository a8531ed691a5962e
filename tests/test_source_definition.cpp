// Specification of IndexDefinition (prefixes, TAG and NUMERIC parsing) and of the reference
// MemorySource (SCAN semantics and fault injection).
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vindex/vindex.hpp"

using namespace vindex;
using namespace std::string_literals;

TEST_CASE("a definition without prefixes covers every key; with prefixes, keys starting with one") {
  IndexDefinition all{{}, "vec", {}};
  CHECK(all.matches_key(""));
  CHECK(all.matches_key("anything"));
  IndexDefinition some{{"doc:", "item:"}, "vec", {}};
  CHECK(some.matches_key("doc:1"));
  CHECK(some.matches_key("item:"));
  CHECK_FALSE(some.matches_key("doc"));
  CHECK_FALSE(some.matches_key("xdoc:1"));
  CHECK_FALSE(some.matches_key(""));
}

TEST_CASE("prefixes and keys are binary-safe: embedded NUL and high bytes compare as bytes") {
  IndexDefinition def{{"a\0b"s, "\xff\xfe"s}, "vec", {}};
  CHECK(def.matches_key("a\0bc"s));
  CHECK_FALSE(def.matches_key("a"s));
  CHECK_FALSE(def.matches_key("a\0c"s));
  CHECK(def.matches_key("\xff\xfe\x00"s));
}

TEST_CASE("definition validation names the offending field") {
  IndexDefinition ok{{}, "vec", {{"genre", AttributeType::kTag}, {"year", AttributeType::kNumeric}}};
  CHECK_NOTHROW(ok.validate());
  CHECK(ok.attribute_index("year") == 1u);
  CHECK_FALSE(ok.attribute_index("nope").has_value());
  auto fails_with = [](IndexDefinition d, const std::string& part) {
    try {
      d.validate();
      FAIL("accepted an invalid definition");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK(std::string(e.what()).find(part) != std::string::npos);
    }
  };
  fails_with({{}, "", {}}, "no vector field");
  fails_with({{}, "vec", {{"vec", AttributeType::kTag}}}, "'vec' is also the vector field");
  fails_with({{}, "vec", {{"g", AttributeType::kTag}, {"g", AttributeType::kNumeric}}}, "'g' is defined twice");
  fails_with({{}, "vec", {{"g", AttributeType::kTag, ' '}}}, "blank separator");
  fails_with({{}, "vec", {{"", AttributeType::kTag}}}, "no name");
}

TEST_CASE("TAG text splits on the separator, trims blanks, drops empties and duplicates") {
  const AttributeField tag{"t", AttributeType::kTag};
  CHECK(parse_tags("jazz, Blues ,,jazz ,  ", tag) == std::vector<std::string>{"blues", "jazz"});
  CHECK(parse_tags("", tag).empty());
  CHECK(parse_tags("one", tag) == std::vector<std::string>{"one"});
  CHECK(parse_tags("a b, c", tag) == std::vector<std::string>{"a b", "c"});  // inner blanks kept
}

TEST_CASE("TAG values fold ASCII case unless the field is case-sensitive; custom separators") {
  const AttributeField folded{"t", AttributeType::kTag, ';'};
  CHECK(parse_tags("Rock;POP;rock", folded) == std::vector<std::string>{"pop", "rock"});
  const AttributeField exact{"t", AttributeType::kTag, ';', true};
  CHECK(parse_tags("Rock;POP;rock", exact) == std::vector<std::string>{"POP", "Rock", "rock"});
  CHECK(parse_tags("a,b", folded) == std::vector<std::string>{"a,b"});
}

TEST_CASE("NUMERIC text parses as a double; anything else is rejected") {
  CHECK(parse_numeric("42") == 42.0);
  CHECK(parse_numeric(" -3.5 ") == -3.5);
  CHECK(parse_numeric("+1e3") == 1000.0);
  CHECK(parse_numeric("inf") == std::numeric_limits<double>::infinity());
  CHECK(parse_numeric("-inf") == -std::numeric_limits<double>::infinity());
  for (const char* bad : {"", " ", "abc", "12x", "1 2", "nan", "NaN", "+-1", "--1", "1e400", "0x10"}) {
    INFO(bad);
    CHECK_FALSE(parse_numeric(bad).has_value());
  }
}

namespace {
std::set<std::string> scan_all(MemorySource& src, std::size_t budget,
                               std::size_t* visits = nullptr) {
  std::set<std::string> seen;
  Cursor c = 0;
  do {
    c = src.scan(c, budget, [&](KeyView k, const FieldReader& f) {
      CHECK(f.field("v").has_value());
      seen.emplace(k);
      if (visits) ++*visits;
    });
  } while (c != 0);
  return seen;
}
}  // namespace

TEST_CASE("MemorySource scan visits every entry once and returns 0 at the end") {
  MemorySource src;
  for (int i = 0; i < 100; ++i) src.hset("k" + std::to_string(i), "v", "x");
  std::size_t visits = 0;
  CHECK(scan_all(src, 7, &visits).size() == 100);
  CHECK(visits == 100);
  CHECK(src.approximate_count() == 100);
  MemorySource empty;
  CHECK(empty.scan(0, 10, [](KeyView, const FieldReader&) { FAIL("visited"); }) == 0);
}

TEST_CASE("MemorySource scan never misses a key that exists throughout, under churn") {
  MemorySource src;
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) src.hset("stable" + std::to_string(i), "v", "x");
  for (int i = 0; i < 300; ++i) src.hset("churn" + std::to_string(i), "v", "x");
  std::set<std::string> seen;
  Cursor c = 0;
  int round = 0;
  do {
    c = src.scan(c, 11, [&](KeyView k, const FieldReader&) { seen.emplace(k); });
    // Between calls: delete and create churn keys (freed slots get reused by new keys).
    for (int j = 0; j < 5; ++j) {
      src.del("churn" + std::to_string(rng() % 300));
      src.hset("new" + std::to_string(round) + "_" + std::to_string(j), "v", "y");
    }
    ++round;
  } while (c != 0);
  for (int i = 0; i < 300; ++i) CHECK(seen.count("stable" + std::to_string(i)) == 1);
}

TEST_CASE("MemorySource point reads, hdel of the last field deletes the key") {
  MemorySource src;
  src.set("a", {{"v", "1"}, {"w", "2"}});
  bool called = false;
  CHECK(src.read("a", [&](const FieldReader& f) {
    called = true;
    CHECK(f.field("w") == std::optional<std::string_view>("2"));
    CHECK_FALSE(f.field("zz").has_value());
  }));
  CHECK(called);
  CHECK_FALSE(src.read("b", [](const FieldReader&) { FAIL("visited"); }));
  CHECK(src.hdel("a", "v"));
  CHECK_FALSE(src.hdel("a", "v"));
  CHECK(src.hdel("a", "w"));
  CHECK(src.size() == 0);
  CHECK_FALSE(src.del("a"));
}

TEST_CASE("fault injection: duplicates re-visit entries but the scan still covers everything") {
  MemorySource src;
  for (int i = 0; i < 200; ++i) src.hset("k" + std::to_string(i), "v", "x");
  src.set_duplicates(3, 0.2, 42);
  std::size_t visits = 0;
  CHECK(scan_all(src, 10, &visits).size() == 200);
  CHECK(visits > 230);  // rewinds (3 per call) plus random repeats
}

TEST_CASE("fault injection: the scan throws once after N entries, having delivered them") {
  MemorySource src;
  for (int i = 0; i < 50; ++i) src.hset("k" + std::to_string(i), "v", "x");
  src.throw_after(12);
  std::size_t delivered = 0;
  Cursor c = src.scan(0, 10, [&](KeyView, const FieldReader&) { ++delivered; });
  CHECK(delivered == 10);
  CHECK_THROWS_AS(src.scan(c, 10, [&](KeyView, const FieldReader&) { ++delivered; }),
                  MemorySource::InjectedFault);
  CHECK(delivered == 12);
  // Retrying from the same cursor works: the fault fired once.
  CHECK_NOTHROW(src.scan(c, 10, [&](KeyView, const FieldReader&) { ++delivered; }));
  CHECK(delivered == 22);
}

TEST_CASE("fault injection: point reads throw the requested number of times") {
  MemorySource src;
  src.hset("a", "v", "x");
  src.throw_on_read(2);
  CHECK_THROWS_AS(src.read("a", [](const FieldReader&) {}), MemorySource::InjectedFault);
  CHECK_THROWS_AS(src.read("a", [](const FieldReader&) {}), MemorySource::InjectedFault);
  CHECK(src.read("a", [](const FieldReader&) {}));
  CHECK(src.read_calls() == 3);
}
