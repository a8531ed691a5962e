// examples/redis_module/ft_search.hpp — FT.SEARCH in five steps.
//
//   1. parse_search_command   arguments → a validated query (index, vector, filter, options)
//   2. authorize_search       the calling user may read what the index covers
//   3. run_local_search       the k nearest keys of this server's index (vindex KeyspaceIndex)
//   4. read_hit_fields        the LIMIT page of those hits, with the fields each reply row carries
//   5. reply_search           RediSearch's reply: total, then key [fields] per hit
//
// `ft_search` runs them in order. A host that spreads a query over several servers (cluster mode)
// can run step 3 (and 4) on each and merge before step 5. Each step throws vindex::Error for a bad
// request; `ft_search` turns that into an error reply. Main thread only. Next: commands.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "index_registry.hpp"
#include "module_api.hpp"
#include "search_request.hpp"
#include "vindex/index/filter.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/keyspace_index.hpp"

namespace vindex_redis {

/// Step 1's result: one FT.SEARCH, checked against its index.
struct ParsedSearch {
  std::string index_name;          ///< the index queried
  IndexEntry* entry = nullptr;     ///< that index (valid for the duration of the command)
  SearchRequest request;           ///< the parsed arguments
  std::vector<float> query;        ///< the query vector, decoded and validated
  vindex::FilterExpr filter;       ///< the parsed filter
  vindex::SearchOptions options;   ///< EF_RUNTIME, the deadline and the on-timeout policy (no filter:
                                   ///< KeyspaceIndex takes it separately)
  long long budget_ms = 0;         ///< the time budget the deadline was set from
  vindex::KeyPredicate keep;       ///< cluster mode: only keys of the slots this shard answers for
                                   ///< (empty: every key)
};

/// Step 3's result: the nearest keys, closest first.
struct LocalHits {
  std::vector<vindex::SearchResult> hits;
  bool partial = false;  ///< the deadline passed and the policy is to return what was found
  std::vector<std::string> near_expiry;  ///< hits whose TTL may end within the query's budget
};

/// One reply row of step 4.
struct HitRow {
  std::string key;                                          ///< the key
  std::vector<std::pair<std::string, std::string>> fields;  ///< field, value (empty for NOCONTENT)
};

/// Step 4's result: what step 5 sends.
struct SearchReply {
  std::size_t total = 0;       ///< the reply's first element: the number of hits
  bool no_content = false;     ///< rows carry no field array (NOCONTENT)
  bool partial = false;        ///< cut short at the deadline (vindex.on-timeout return)
  std::vector<HitRow> rows;    ///< the LIMIT page
};

/// Step 1: parses `FT.SEARCH <index> <query> …` and checks it against the index (vector field,
/// blob size and values, EF_RUNTIME) and the module's bounds (filter size, k, RETURN × results); sets
/// the deadline. Throws vindex::Error naming the problem and the bound.
ParsedSearch parse_search_command(rm::Ctx* ctx, rm::String** argv, int argc);

/// Step 2: true when the calling user may run the search; otherwise it has replied with an error.
bool authorize_search(rm::Ctx* ctx, const ParsedSearch& search);

/// Step 3: the k nearest indexed keys passing the filter. Throws vindex::Error (kTimeout at the
/// deadline unless the policy returns partial hits).
LocalHits run_local_search(rm::Ctx* ctx, const ParsedSearch& search);

/// Step 4: orders the hits (SORTBY … DESC), takes the LIMIT page and reads each row's fields within
/// vindex.reply-max-fields / -bytes and the deadline (kLimit / kTimeout past them).
SearchReply read_hit_fields(rm::Ctx* ctx, const ParsedSearch& search, const LocalHits& hits);

/// Step 5: sends the reply.
int reply_search(rm::Ctx* ctx, const SearchReply& reply);

/// The FT.SEARCH command: the five steps in order.
int ft_search(rm::Ctx* ctx, rm::String** argv, int argc);

}  // namespace vindex_redis
