// examples/redis_module/ft_search.cpp — FT.SEARCH: parse, authorize, search, read fields, reply.
//
// Work bounds (module_config.hpp): a time budget (TIMEOUT or vindex.search-timeout-ms) that vindex
// checks while it evaluates the filter, walks the graph or scans, and that step 4 checks between
// rows; the filter's size (vindex.filter-max-*); KNN k (vindex.knn-max-k); and what one reply may
// read and send (vindex.reply-max-fields, vindex.reply-max-bytes), checked before the search when
// RETURN makes it knowable and again while the rows are read.
#include "ft_search.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <utility>

#include "cluster.hpp"
#include "cluster_search.hpp"
#include "acl.hpp"
#include "command_util.hpp"
#include "expiry.hpp"
#include "module_config.hpp"
#include "redis_source.hpp"
#include "vindex/core/blob.hpp"
#include "vindex/core/deadline.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"

namespace vindex_redis {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw vindex::Error(vindex::ErrorCode::kInvalidArgument, message);
}

[[noreturn]] void over_limit(const std::string& message) { throw vindex::Error(vindex::ErrorCode::kLimit, message); }

// RediSearch's words for a query that ran out of time, then what ran out.
[[noreturn]] void timed_out(const ParsedSearch& s, const std::string& what) {
  throw vindex::Error(vindex::ErrorCode::kTimeout,
                      "Timeout limit was reached: " + what + " stopped at the query's budget of " +
                          std::to_string(s.budget_ms) + " ms (TIMEOUT, or vindex.search-timeout-ms)");
}

// Rows of the LIMIT page of `hits` results.
std::size_t page_rows(const SearchRequest& r, std::size_t hits) {
  const std::size_t first = std::min(r.offset, hits);
  return std::min(hits - first, r.count);
}

}  // namespace

ParsedSearch parse_search_command(rm::Ctx*, rm::String** argv, int argc) {
  const ModuleConfig& cfg = config();
  const vindex::Limits limits = cfg.limits();
  ParsedSearch s;
  s.index_name = text(argv[1]);
  s.entry = registry().find(s.index_name);
  if (!s.entry) fail(vindex::printable_key(s.index_name) + ": no such index");
  SearchBounds bounds;
  bounds.max_k = limits.max_k;
  bounds.max_ef = limits.max_ef;
  bounds.max_timeout_ms = static_cast<std::size_t>(cfg.search_timeout_max_ms);
  s.request = parse_search(texts(argv, 2, argc), bounds);
  const SearchRequest& r = s.request;
  const IndexSpec& spec = s.entry->spec;
  if (r.vector_field != spec.definition.vector_field)
    fail("KNN field " + vindex::printable_key(r.vector_field) + " is not the index's vector field '" +
         spec.definition.vector_field + "'");
  if (r.blob.size() != spec.schema.blob_bytes())
    fail("query vector blob has " + std::to_string(r.blob.size()) + " bytes, expected " +
         std::to_string(spec.schema.blob_bytes()) + " (DIM " + std::to_string(spec.schema.dim) + " x " +
         std::string(vindex::to_string(spec.schema.type)) + ")");
  s.query.resize(spec.schema.dim);
  if (auto failure = vindex::decode_blob(spec.schema, r.blob, s.query); failure != vindex::VectorFailure::kNone) {
    std::string why = std::string(vindex::to_string(failure));
    if (failure == vindex::VectorFailure::kOutOfRange)
      why += " (its squared length is above 2^124, where distances could overflow)";
    fail("query vector rejected: " + why);
  }
  try {
    s.filter = vindex::parse_filter(r.filter, limits);
  } catch (const vindex::Error& e) {
    if (e.code() != vindex::ErrorCode::kLimit) throw;
    // Name the module setting a user can change rather than the library's field.
    std::string detail = e.what();
    const std::string prefix = "vindex: " + std::string(vindex::to_string(e.code())) + ": ";
    if (detail.rfind(prefix, 0) == 0) detail.erase(0, prefix.size());
    for (const auto& [field, setting] : {std::pair<std::string, std::string>{"max_filter_depth", "vindex.filter-max-depth"},
                                         {"max_filter_terms", "vindex.filter-max-terms"},
                                         {"max_filter_bytes", "vindex.filter-max-bytes"}})
      if (auto at = detail.find(field); at != std::string::npos) detail.replace(at, field.size(), setting);
    over_limit(detail);
  }
  if (r.ef_runtime) s.options.ef = r.ef_runtime;

  // The reply bound, when RETURN makes the number of field reads known before searching.
  if (!r.no_content && r.return_fields) {
    const std::size_t rows = page_rows(r, r.k);
    const std::size_t per_row = r.return_fields->size();
    if (per_row > 0 && rows > static_cast<std::size_t>(cfg.reply_max_fields) / per_row)
      over_limit("the reply could read " + std::to_string(rows * per_row) + " fields (" + std::to_string(rows) +
                 " results x RETURN " + std::to_string(per_row) + "), above vindex.reply-max-fields (" +
                 std::to_string(cfg.reply_max_fields) + ")");
  }

  // The time budget: TIMEOUT (0 means the largest allowed), else the module's default.
  long long budget = cfg.search_timeout_ms;
  if (r.timeout_ms) budget = *r.timeout_ms == 0 ? cfg.search_timeout_max_ms : static_cast<long long>(*r.timeout_ms);
  s.budget_ms = budget;
  s.options.deadline = vindex::Deadline::after(std::chrono::milliseconds(budget));
  s.options.partial_on_timeout = cfg.on_timeout == OnTimeout::kReturn;
  return s;
}

bool authorize_search(rm::Ctx* ctx, const ParsedSearch& s) {
  return authorize_prefixes(ctx, s.entry->spec.definition.prefixes, "FT.SEARCH", s.index_name);
}

namespace {

// Whether `key` may be past its TTL by `horizon_ms`, so its existence must be checked (expiry.hpp).
bool may_have_expired(const IndexEntry& entry, std::string_view key, long long horizon_ms) {
  return entry.snapshot.expiry_unknown || !expiring_keys().outlives(key, horizon_ms);
}

}  // namespace

LocalHits run_local_search(rm::Ctx* ctx, const ParsedSearch& s) {
  LocalHits out;
  vindex::SearchStats stats;
  vindex::SearchOptions options = s.options;
  options.stats = &stats;
  IndexEntry& entry = *s.entry;
  if (entry.snapshot.expiry_unknown && entry.index->progress().state == vindex::BackfillState::kReady)
    entry.snapshot.expiry_unknown = false;  // the reconcile after the load has read every key
  const std::size_t k = s.request.k;
  const std::size_t max_k = config().limits().max_k;
  // A key whose TTL outlasts the search's budget is alive throughout it without a look.
  const long long horizon = rm::Milliseconds() + s.budget_ms + 1;
  const bool some_may_expire = entry.snapshot.expiry_unknown || expiring_keys().size() > 0;
  Registry::Busy busy(registry(), ctx);  // checking a key can expire it
  RedisSource::ContextScope scope(keyspace(), ctx);
  try {
    // Keys past their TTL never count. Checking every node a graph walk visits would cost far more
    // than the walk (a key lookup each), so the search runs without the check and only its hits are
    // checked; when some were gone it runs again for more. At the k bound the check goes inside the
    // search (vindex's KeyPredicate), which still yields k live hits.
    std::set<std::string, std::less<>> dead, near;  // near: alive, but the TTL may end within the budget
    auto gone = [&](std::string_view key) {
      if (dead.find(key) != dead.end()) return true;
      if (!may_have_expired(entry, key, horizon)) return false;
      if (key_alive(ctx, key)) {
        near.emplace(key);
        return false;
      }
      dead.emplace(key);
      return true;
    };
    std::size_t want = k;
    while (true) {
      const bool last_round = !some_may_expire || want >= max_k;
      // s.keep (cluster mode: the key's slot is one this shard answers for) always applies.
      vindex::KeyPredicate keep = s.keep;
      if (some_may_expire && want >= max_k) {
        if (s.keep) {
          keep = [&](vindex::KeyView key) { return s.keep(key) && !gone(key); };
        } else {
          keep = [&](vindex::KeyView key) { return !gone(key); };
        }
      }
      std::vector<vindex::SearchResult> hits = entry.index->search(s.query, want, s.filter, options, keep);
      const std::size_t found = hits.size();
      if (some_may_expire)
        hits.erase(std::remove_if(hits.begin(), hits.end(), [&](const vindex::SearchResult& h) { return gone(h.key); }),
                   hits.end());
      if (hits.size() > k) hits.resize(k);
      out.hits = std::move(hits);
      if (last_round || out.hits.size() == k || found < want || stats.timed_out) break;
      want = std::min(max_k, std::max(2 * want, k + dead.size()));
    }
    for (const auto& hit : out.hits)
      if (near.find(hit.key) != near.end()) out.near_expiry.push_back(hit.key);
  } catch (const vindex::Error& e) {
    if (e.code() != vindex::ErrorCode::kTimeout) throw;
    // The deadline passed before the search had hits to offer (vindex returns the best found so far
    // from the graph walk or the scan, but not from a filter it had not finished evaluating).
    if (!s.options.partial_on_timeout) timed_out(s, "the search");
    out.hits.clear();
    stats.timed_out = true;
  }
  out.partial = stats.timed_out;
  return out;
}

SearchReply read_hit_fields(rm::Ctx* ctx, const ParsedSearch& s, const LocalHits& local) {
  const ModuleConfig& cfg = config();
  const SearchRequest& request = s.request;
  std::vector<vindex::SearchResult> hits = local.hits;
  if (request.descending) std::reverse(hits.begin(), hits.end());
  SearchReply reply;
  reply.total = hits.size();
  reply.no_content = request.no_content;
  reply.partial = local.partial;
  const std::size_t first = std::min(request.offset, hits.size());
  const std::size_t last = first + page_rows(request, hits.size());

  const auto max_fields = static_cast<std::size_t>(cfg.reply_max_fields);
  const auto max_bytes = static_cast<std::size_t>(cfg.reply_max_bytes);
  std::size_t fields = 0;
  std::size_t bytes = 0;
  auto add = [&](std::size_t n_fields, std::size_t n_bytes) {
    fields += n_fields;
    bytes += n_bytes;
    if (fields > max_fields)
      over_limit("the reply would read more than vindex.reply-max-fields (" + std::to_string(max_fields) +
                 ") fields; ask for fewer results (LIMIT, KNN k) or fields (RETURN)");
    if (bytes > max_bytes)
      over_limit("the reply would exceed vindex.reply-max-bytes (" + std::to_string(max_bytes) +
                 " bytes); ask for fewer results (LIMIT, KNN k) or fields (RETURN)");
  };

  Registry::Busy busy(registry(), ctx);  // reading results may expire keys
  RedisSource::ContextScope scope(keyspace(), ctx);
  reply.rows.reserve(last - first);
  for (std::size_t i = first; i < last; ++i) {
    if (s.options.deadline.passed()) {
      if (!s.options.partial_on_timeout) timed_out(s, "reading the results' fields");
      reply.partial = true;
      break;
    }
    const vindex::SearchResult& hit = hits[i];
    HitRow row;
    row.key = hit.key;
    add(0, row.key.size());
    // A key that expired since the search (its TTL ran out within this command) is left out.
    bool vanished = false;
    if (request.no_content) {
      const auto& near = local.near_expiry;
      vanished = std::find(near.begin(), near.end(), hit.key) != near.end() && !key_alive(ctx, hit.key);
    } else {
      const std::string score = format_float(hit.distance);
      if (request.return_fields) {
        const auto values = keyspace().read_fields(hit.key, *request.return_fields);
        vanished = !values;
        for (std::size_t f = 0; f < request.return_fields->size(); ++f) {
          const std::string& name = (*request.return_fields)[f];
          if (name == request.score_field) {
            row.fields.emplace_back(name, score);
          } else if (values && (*values)[f]) {
            row.fields.emplace_back(name, std::move(*(*values)[f]));
          } else {
            continue;
          }
          add(1, name.size() + row.fields.back().second.size());
        }
      } else {
        // A hash with more fields than the budget has left is refused before any is read.
        add(1, 0);
        row.fields.emplace_back(request.score_field, score);
        auto all = keyspace().read_all(hit.key, [&](std::size_t n) { add(n, 0); });
        vanished = all.empty();  // Redis has no empty hashes
        for (auto& kv : all) row.fields.push_back(std::move(kv));
        std::size_t row_bytes = 0;
        for (const auto& [f, v] : row.fields) row_bytes += f.size() + v.size();
        add(0, row_bytes);
      }
    }
    if (vanished) {
      --reply.total;
      continue;
    }
    reply.rows.push_back(std::move(row));
  }
  if (reply.partial) reply.total = std::min(reply.total, first + reply.rows.size());
  return reply;
}

int reply_search(rm::Ctx* ctx, const SearchReply& reply) {
  const long per_hit = reply.no_content ? 1 : 2;
  rm::ReplyWithArray(ctx, 1 + per_hit * static_cast<long>(reply.rows.size()));
  rm::ReplyWithLongLong(ctx, static_cast<long long>(reply.total));
  for (const HitRow& row : reply.rows) {
    reply_str(ctx, row.key);
    if (reply.no_content) continue;
    rm::ReplyWithArray(ctx, 2 * static_cast<long>(row.fields.size()));
    for (const auto& [f, v] : row.fields) {
      reply_str(ctx, f);
      reply_str(ctx, v);
    }
  }
  return rm::kOk;
}

int ft_search(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (cluster_mode()) return cluster_search(ctx, argv, argc);
  if (argc < 3) return rm::WrongArity(ctx);
  if (rm::GetSelectedDb(ctx) != 0) return reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return guarded(ctx, [&] {
    const ParsedSearch search = parse_search_command(ctx, argv, argc);
    if (!authorize_search(ctx, search)) return rm::kOk;
    try {
      const LocalHits hits = run_local_search(ctx, search);
      const SearchReply reply = read_hit_fields(ctx, search, hits);
      if (reply.partial) ++search.entry->search_partial;
      return reply_search(ctx, reply);
    } catch (const vindex::Error& e) {
      if (e.code() == vindex::ErrorCode::kTimeout) ++search.entry->search_timeouts;
      throw;
    }
  });
}

}  // namespace vindex_redis
