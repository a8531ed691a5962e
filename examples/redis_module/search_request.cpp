// examples/redis_module/search_request.cpp — FT.SEARCH parsing.
#include "search_request.hpp"

#include <charconv>
#include <map>
#include <string_view>

#include "vindex/core/error.hpp"
#include "vindex/core/schema.hpp"

namespace vindex_redis {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw vindex::Error(vindex::ErrorCode::kInvalidArgument, message);
}

using vindex::iequals;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Shows at most 64 bytes of a client's argument in an error message.
std::string shown(std::string_view text) {
  return text.size() <= 64 ? std::string(text) : std::string(text.substr(0, 64)) + "…";
}

// An integer in lo..hi; the error names the range and, when given, the setting that sets it.
std::size_t to_size(std::string_view text, std::string_view what, std::size_t lo, std::size_t hi,
                    std::string_view setting = {}) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    fail(std::string(what) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
         (setting.empty() ? std::string() : " (" + std::string(setting) + ")") + ", got '" + shown(text) + "'");
  return value;
}

// Splits the bracketed KNN clause on blanks.
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

SearchRequest parse_search(const std::vector<std::string>& arguments, const SearchBounds& bounds) {
  if (arguments.empty()) fail("missing query string");
  SearchRequest r;
  std::map<std::string, std::string, std::less<>> params;
  std::optional<std::string> sort_field;
  std::size_t i = 1;
  auto next = [&](std::string_view what) -> const std::string& {
    if (i >= arguments.size()) fail("missing " + std::string(what));
    return arguments[i++];
  };
  while (i < arguments.size()) {
    const std::string& word = arguments[i++];
    if (iequals(word, "NOCONTENT")) {
      r.no_content = true;
    } else if (iequals(word, "RETURN")) {
      const std::size_t n = to_size(next("RETURN count"), "RETURN count", 0, 1024);
      std::vector<std::string> fields;
      for (std::size_t f = 0; f < n; ++f) fields.push_back(next("RETURN field"));
      r.return_fields = std::move(fields);
    } else if (iequals(word, "SORTBY")) {
      sort_field = next("SORTBY field");
      if (i < arguments.size() && iequals(arguments[i], "ASC")) {
        ++i;
      } else if (i < arguments.size() && iequals(arguments[i], "DESC")) {
        ++i;
        r.descending = true;
      }
    } else if (iequals(word, "LIMIT")) {
      r.offset = to_size(next("LIMIT offset"), "LIMIT offset", 0, 1000000);
      r.count = to_size(next("LIMIT num"), "LIMIT num", 0, 1000000);
    } else if (iequals(word, "PARAMS")) {
      const std::size_t n = to_size(next("PARAMS count"), "PARAMS count", 0, 1024);
      if (n % 2 != 0) fail("PARAMS count must be even, got " + std::to_string(n));
      for (std::size_t p = 0; p < n / 2; ++p) {
        std::string name = next("PARAMS name");
        params[name] = next("PARAMS value");
      }
    } else if (iequals(word, "DIALECT")) {
      to_size(next("DIALECT"), "DIALECT (KNN queries need 2 or more)", 2, 4);
    } else if (iequals(word, "TIMEOUT")) {
      r.timeout_ms = to_size(next("TIMEOUT value"), "TIMEOUT (milliseconds; 0: the largest allowed)", 0,
                             bounds.max_timeout_ms, "vindex.search-timeout-max-ms");
    } else if (iequals(word, "ALLSHARDS")) {
      r.some_shards = false;
    } else if (iequals(word, "SOMESHARDS")) {
      r.some_shards = true;
    } else if (iequals(word, "LOCALONLY")) {
      r.local_only = true;
    } else {
      fail("unknown or unsupported argument '" + shown(word) + "'");
    }
  }

  auto param = [&](std::string_view ref, std::string_view what) -> const std::string& {
    if (ref.empty() || ref.front() != '$') fail(std::string(what) + " must be a $parameter");
    auto it = params.find(ref.substr(1));
    if (it == params.end()) fail("no PARAMS value for " + shown(ref));
    return it->second;
  };
  auto number = [&](std::string_view text, std::string_view what, std::size_t hi, std::string_view setting) {
    if (!text.empty() && text.front() == '$') return to_size(param(text, what), what, 1, hi, setting);
    return to_size(text, what, 1, hi, setting);
  };

  const std::string_view query = arguments[0];
  const std::size_t arrow = query.find("=>");
  if (arrow == std::string_view::npos) fail("query must be '<filter>=>[KNN k @field $param]'");
  const std::string_view filter = trim(query.substr(0, arrow));
  r.filter = filter.empty() ? "*" : std::string(filter);
  std::string_view knn = trim(query.substr(arrow + 2));
  if (knn.size() < 2 || knn.front() != '[' || knn.back() != ']')
    fail("KNN clause must be enclosed in [ ]");
  const std::vector<std::string_view> w = words(knn.substr(1, knn.size() - 2));
  if (w.size() < 4 || !iequals(w[0], "KNN")) fail("KNN clause must read 'KNN k @field $param'");
  r.k = number(w[1], "KNN k", bounds.max_k, "vindex.knn-max-k");
  if (w[2].size() < 2 || w[2].front() != '@') fail("KNN field must be written @field");
  r.vector_field = std::string(w[2].substr(1));
  r.blob = param(w[3], "KNN vector");
  for (std::size_t j = 4; j < w.size(); ++j) {
    if (iequals(w[j], "EF_RUNTIME") && j + 1 < w.size()) {
      r.ef_runtime = number(w[++j], "EF_RUNTIME", bounds.max_ef, "vindex::Limits::max_ef");
    } else if (iequals(w[j], "AS") && j + 1 < w.size()) {
      r.score_field = std::string(w[++j]);
    } else {
      fail("unknown KNN argument '" + shown(w[j]) + "'");
    }
  }
  if (r.score_field.empty()) r.score_field = "__" + r.vector_field + "_score";
  if (sort_field && *sort_field != r.score_field)
    fail("SORTBY supports only the score field '" + shown(r.score_field) + "'");
  return r;
}

}  // namespace vindex_redis
