// examples/redis_module/ft_search.cpp — FT.SEARCH: parse, authorize, search, read fields, reply.
#include "ft_search.hpp"

#include <algorithm>
#include <string>

#include "command_util.hpp"
#include "redis_source.hpp"
#include "vindex/core/blob.hpp"
#include "vindex/core/error.hpp"
#include "vindex/core/limits.hpp"

namespace vindex_redis {
namespace {

const vindex::Limits kLimits{};

[[noreturn]] void fail(const std::string& message) {
  throw vindex::Error(vindex::ErrorCode::kInvalidArgument, message);
}

}  // namespace

ParsedSearch parse_search_command(rm::Ctx*, rm::String** argv, int argc) {
  ParsedSearch s;
  s.index_name = text(argv[1]);
  s.entry = registry().find(s.index_name);
  if (!s.entry) fail(s.index_name + ": no such index");
  s.request = parse_search(texts(argv, 2, argc), kLimits.max_k);
  const IndexSpec& spec = s.entry->spec;
  if (s.request.vector_field != spec.definition.vector_field)
    fail("KNN field '" + s.request.vector_field + "' is not the index's vector field '" +
         spec.definition.vector_field + "'");
  if (s.request.blob.size() != spec.schema.blob_bytes())
    fail("query vector blob has " + std::to_string(s.request.blob.size()) + " bytes, expected " +
         std::to_string(spec.schema.blob_bytes()) + " (DIM " + std::to_string(spec.schema.dim) + " x " +
         std::string(vindex::to_string(spec.schema.type)) + ")");
  s.query.resize(spec.schema.dim);
  if (auto failure = vindex::decode_blob(spec.schema, s.request.blob, s.query); failure != vindex::VectorFailure::kNone)
    fail("query vector rejected: " + std::string(vindex::to_string(failure)));
  s.filter = vindex::parse_filter(s.request.filter);
  if (s.request.ef_runtime) {
    kLimits.check_ef(*s.request.ef_runtime, "EF_RUNTIME");
    s.options.ef = s.request.ef_runtime;
  }
  return s;
}

bool authorize_search(rm::Ctx*, const ParsedSearch&) { return true; }

LocalHits run_local_search(rm::Ctx* ctx, const ParsedSearch& s) {
  LocalHits out;
  RedisSource::ContextScope scope(keyspace(), ctx);
  out.hits = s.entry->index->search(s.query, s.request.k, s.filter, s.options);
  return out;
}

SearchReply read_hit_fields(rm::Ctx* ctx, const ParsedSearch& s, const LocalHits& local) {
  const SearchRequest& request = s.request;
  std::vector<vindex::SearchResult> hits = local.hits;
  if (request.descending) std::reverse(hits.begin(), hits.end());
  SearchReply reply;
  reply.total = hits.size();
  reply.no_content = request.no_content;
  const std::size_t first = std::min(request.offset, hits.size());
  const std::size_t last = std::min(hits.size(), first + request.count);

  Registry::Busy busy(registry(), ctx);  // reading results may expire keys
  RedisSource::ContextScope scope(keyspace(), ctx);
  for (std::size_t i = first; i < last; ++i) {
    const vindex::SearchResult& hit = hits[i];
    HitRow row;
    row.key = hit.key;
    if (!request.no_content) {
      const std::string score = format_float(hit.distance);
      if (request.return_fields) {
        for (const std::string& f : *request.return_fields) {
          if (f == request.score_field) {
            row.fields.emplace_back(f, score);
          } else if (auto value = keyspace().read_field(hit.key, f)) {
            row.fields.emplace_back(f, std::move(*value));
          }
        }
      } else {
        row.fields.emplace_back(request.score_field, score);
        for (auto& kv : keyspace().read_all(hit.key)) row.fields.push_back(std::move(kv));
      }
    }
    reply.rows.push_back(std::move(row));
  }
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
  if (argc < 3) return rm::WrongArity(ctx);
  if (rm::GetSelectedDb(ctx) != 0) return reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return guarded(ctx, [&] {
    const ParsedSearch search = parse_search_command(ctx, argv, argc);
    if (!authorize_search(ctx, search)) return rm::kOk;
    const LocalHits hits = run_local_search(ctx, search);
    return reply_search(ctx, read_hit_fields(ctx, search, hits));
  });
}

}  // namespace vindex_redis
