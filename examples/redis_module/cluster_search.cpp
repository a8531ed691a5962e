// examples/redis_module/cluster_search.cpp — FT.SEARCH coordinator and shard responder.
#include "cluster_search.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster_catalog.hpp"
#include "cluster_ops.hpp"
#include "cluster_state.hpp"
#include "cluster_transport.hpp"
#include "command_util.hpp"
#include "index_registry.hpp"
#include "redis_source.hpp"
#include "search_request.hpp"
#include "vindex/core/blob.hpp"
#include "vindex/core/deadline.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/shard_merge.hpp"

namespace vindex_redis {
namespace {

using cmd::reply_error;
using cmd::reply_str;

const vindex::Limits kLimits{};

SearchResponseMsg refuse(ShardStatus status, std::string message) {
  SearchResponseMsg r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

// The checks FT.SEARCH makes before searching, with the single-node error texts (thrown as
// RequestError so the reply carries the text alone, as the single-node FT.SEARCH writes it).
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<float> checked_query(const IndexSpec& spec, const std::string& vector_field, const std::string& blob) {
  if (vector_field != spec.definition.vector_field)
    throw RequestError("KNN field '" + vector_field + "' is not the index's vector field '" +
                       spec.definition.vector_field + "'");
  if (blob.size() != spec.schema.blob_bytes())
    throw RequestError("query vector blob has " + std::to_string(blob.size()) + " bytes, expected " +
                       std::to_string(spec.schema.blob_bytes()) + " (DIM " + std::to_string(spec.schema.dim) + " x " +
                       std::string(vindex::to_string(spec.schema.type)) + ")");
  std::vector<float> query(spec.schema.dim);
  if (auto failure = vindex::decode_blob(spec.schema, blob, query); failure != vindex::VectorFailure::kNone)
    throw RequestError("query vector rejected: " + std::string(vindex::to_string(failure)));
  return query;
}

}  // namespace

SearchResponseMsg search_here(rm::Ctx* ctx, const SearchRequestMsg& request, long long deadline_ms,
                              bool check_slots) {
  Registry& reg = registry();
  if (reg.loading()) return refuse(ShardStatus::kLoading, "the node is loading its data");
  IndexEntry* entry = reg.find(request.index);
  if (!entry) return refuse(ShardStatus::kNoIndex, request.index + ": no such index");
  SearchResponseMsg out;
  if (const CatalogEntry* c = node_catalog().find(request.index)) {
    out.version = c->version;
    out.fingerprint = c->fingerprint;
  }
  if (out.version != request.version || out.fingerprint != request.fingerprint) {
    out.status = ShardStatus::kStaleIndex;
    out.message = "index '" + request.index + "' is at version " + std::to_string(out.version) + " here, " +
                  std::to_string(request.version) + " at the coordinator";
    return out;
  }
  // Only keys of the slots the coordinator assigned count, and this node must serve all of them.
  SlotSet assigned;
  assigned.add(request.slots);
  const Topology* topology = check_slots ? &cluster().topology(ctx) : nullptr;
  const auto serves = [&](const Topology& t) {
    return t.my_shard() >= 0 && t.shards()[static_cast<std::size_t>(t.my_shard())].slot_set.includes(assigned);
  };
  if (topology && !serves(*topology)) {
    topology = &cluster().topology(ctx, true);
    if (!serves(*topology)) {
      const SlotSet mine = topology->my_shard() >= 0
                               ? topology->shards()[static_cast<std::size_t>(topology->my_shard())].slot_set
                               : SlotSet{};
      return refuse(ShardStatus::kWrongSlots, "this node does not serve slots " + to_string(assigned.without(mine).ranges()));
    }
  }
  try {
    const std::vector<float> query = checked_query(entry->spec, entry->spec.definition.vector_field, request.blob);
    const vindex::FilterExpr filter = vindex::parse_filter(request.filter);
    vindex::SearchOptions options;
    if (request.ef) {
      kLimits.check_ef(request.ef, "EF_RUNTIME");
      options.ef = request.ef;
    }
    options.deadline = vindex::Deadline::after(std::chrono::milliseconds(std::max(1LL, deadline_ms - now_ms())));
    vindex::KeyPredicate keep;
    if (assigned.count() < kSlotCount) keep = [&assigned](vindex::KeyView key) { return assigned.contains_key(key); };
    std::vector<vindex::SearchResult> hits;
    {
      RedisSource::ContextScope scope(keyspace(), ctx);
      hits = entry->index->search(query, request.k, filter, options, keep);
    }
    out.found = static_cast<std::uint32_t>(hits.size());
    const std::size_t m = std::min<std::size_t>(hits.size(), request.m);
    Registry::Busy busy(reg, ctx);  // reading results may expire keys
    RedisSource::ContextScope scope(keyspace(), ctx);
    out.hits.reserve(m);
    for (std::size_t i = 0; i < m; ++i) {
      ShardHit hit;
      hit.key = std::move(hits[i].key);
      hit.distance = hits[i].distance;
      if (!request.no_content) {
        if (request.return_fields) {
          for (const std::string& f : *request.return_fields) {
            if (f == request.score_field) continue;
            if (auto value = keyspace().read_field(hit.key, f)) hit.fields.emplace_back(f, std::move(*value));
          }
        } else {
          hit.fields = keyspace().read_all(hit.key);
        }
      }
      out.hits.push_back(std::move(hit));
    }
    return out;
  } catch (const RequestError& e) {
    return refuse(ShardStatus::kBadRequest, e.what());
  } catch (const vindex::Error& e) {
    const bool bad_request = e.code() == vindex::ErrorCode::kInvalidArgument || e.code() == vindex::ErrorCode::kLimit;
    return refuse(bad_request ? ShardStatus::kBadRequest : ShardStatus::kError, e.what());
  } catch (const std::exception& e) {
    return refuse(ShardStatus::kError, e.what());
  }
}

void serve_search(rm::Ctx* ctx, std::string_view sender, const Message& message) {
  rm::SelectDb(ctx, 0);
  SearchResponseMsg answer;
  try {
    const SearchRequestMsg request = decode_search_request(message.body);
    answer = search_here(ctx, request, now_ms() + std::max<long long>(1, request.timeout_ms));
  } catch (const FrameError& e) {
    ++cluster().counters.undecodable;
    answer = refuse(ShardStatus::kBadRequest, std::string("undecodable request: ") + e.what());
  }
  std::string body = encode(answer);
  if (body.size() > kDefaultMaxMessageBytes)
    body = encode(refuse(ShardStatus::kTooLarge, "the answer would take " + std::to_string(body.size()) +
                                                     " bytes, more than the limit of " +
                                                     std::to_string(kDefaultMaxMessageBytes)));
  ++cluster().counters.searches_served;
  bus().send(ctx, sender, MessageKind::kSearchResponse, message.nonce, message.request_id, body);
}

namespace {

// One FT.SEARCH waiting for its shards.
class SearchOp final : public Operation {
 public:
  struct Target {
    std::string label;                  // how errors name the shard
    std::vector<NodeDesc> candidates;   // nodes to ask, in order
    std::size_t at = 0;                 // the candidate asked now
    bool local = false;
    bool done = false;
    std::optional<SearchResponseMsg> answer;
    std::string error;
  };

  SearchRequest request;
  SearchRequestMsg message;  // what every shard gets, but its slots
  std::vector<std::vector<SlotRange>> slots;  // per target
  std::vector<Target> targets;
  std::vector<std::string> uncovered;  // SOMESHARDS: slot ranges no shard serves
  long long timeout_ms = 0;

  MessageKind answer_kind() const override { return MessageKind::kSearchResponse; }

  // Sends the request to the target's next usable candidate; false when none is left.
  bool send_next(rm::Ctx* ctx, std::size_t t) {
    Target& target = targets[t];
    SearchRequestMsg m = message;
    m.slots = slots[t];
    m.timeout_ms = static_cast<std::uint32_t>(std::max(1LL, deadline_ms - now_ms()));
    const std::string body = encode(m);
    for (; target.at < target.candidates.size(); ++target.at) {
      const NodeDesc& node = target.candidates[target.at];
      if (!cluster().usable(ctx, node)) continue;
      if (bus().send(ctx, node.id, MessageKind::kSearchRequest, cluster().nonce(), id, body)) return true;
    }
    return false;
  }

  void fail(std::size_t t, std::string why) {
    targets[t].done = true;
    targets[t].error = "shard " + targets[t].label + " " + why;
  }

  bool on_answer(rm::Ctx* ctx, std::string_view sender, Message& m) override {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      Target& target = targets[t];
      if (target.done || target.local || target.at >= target.candidates.size() ||
          target.candidates[target.at].id != sender)
        continue;
      SearchResponseMsg answer;
      try {
        answer = decode_search_response(m.body);
      } catch (const FrameError& e) {
        ++cluster().counters.undecodable;
        fail(t, std::string("sent an undecodable answer: ") + e.what());
        return true;
      }
      if (answer.status == ShardStatus::kLoading) {
        ++target.at;
        if (!send_next(ctx, t)) fail(t, "is loading and has no other reachable node");
        return true;
      }
      if (answer.status == ShardStatus::kWrongSlots) cluster().topology(ctx, true);
      if (answer.status != ShardStatus::kOk) {
        fail(t, "(" + target.candidates[target.at].address() + ") " + std::string(to_string(answer.status)) + ": " +
                    answer.message);
        return true;
      }
      if (answer.hits.size() < std::min<std::size_t>(answer.found, message.m)) {
        fail(t, "returned fewer hits than asked");
        return true;
      }
      target.done = true;
      target.answer = std::move(answer);
      return true;
    }
    return false;
  }

  bool complete() const override {
    return std::all_of(targets.begin(), targets.end(), [](const Target& t) { return t.done; });
  }

  int reply(rm::Ctx* ctx) override { return reply_merged(ctx, false); }

  int reply_timeout(rm::Ctx* ctx) override {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (targets[t].done) continue;
      ++cluster().counters.shard_timeouts;
      fail(t, "did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    return reply_merged(ctx, true);
  }

  // Replies from what arrived: an error when a shard failed (ALLSHARDS), else the merged page.
  int reply_merged(rm::Ctx* ctx, bool timed_out) {
    std::vector<std::string> errors;
    for (const Target& t : targets)
      if (!t.error.empty()) errors.push_back(t.error);
    if (!errors.empty() && !request.some_shards) {
      ++cluster().counters.search_errors;
      std::string text = "vindex: " + errors.front();
      if (errors.size() > 1) text += " (and " + std::to_string(errors.size() - 1) + " more shard(s))";
      return reply_error(ctx, text);
    }
    if (!errors.empty() || !uncovered.empty()) {
      ++cluster().counters.partial_replies;
      rm::Log(ctx, "verbose", "vindex: SOMESHARDS reply without %zu shard(s)%s", errors.size(),
              timed_out ? " (timeout)" : "");
    }
    std::vector<const SearchResponseMsg*> answers;
    for (const Target& t : targets)
      if (t.answer) answers.push_back(&*t.answer);
    std::vector<std::vector<vindex::SearchResult>> lists(answers.size());
    std::vector<vindex::ShardHits> shards(answers.size());
    for (std::size_t s = 0; s < answers.size(); ++s) {
      for (const ShardHit& h : answers[s]->hits) lists[s].push_back({h.key, vindex::kInvalidId, h.distance});
      shards[s].hits = lists[s];
      shards[s].found = answers[s]->found;
    }
    vindex::PageRequest page;
    page.k = request.k;
    page.offset = request.offset;
    page.count = request.count;
    page.descending = request.descending;
    const vindex::MergedPage merged = vindex::merge_shard_hits(shards, page);
    const long per_hit = request.no_content ? 1 : 2;
    rm::ReplyWithArray(ctx, 1 + per_hit * static_cast<long>(merged.hits.size()));
    rm::ReplyWithLongLong(ctx, static_cast<long long>(merged.total));
    for (const vindex::MergedHit& at : merged.hits) {
      const ShardHit& hit = answers[at.shard]->hits[at.index];
      reply_str(ctx, hit.key);
      if (request.no_content) continue;
      // The fields exactly as the single-node FT.SEARCH lists them.
      const std::string score = cmd::format_float(hit.distance);
      std::vector<std::pair<std::string_view, std::string_view>> fields;
      if (request.return_fields) {
        std::size_t next = 0;
        for (const std::string& f : *request.return_fields) {
          if (f == request.score_field) {
            fields.emplace_back(f, score);
          } else if (next < hit.fields.size() && hit.fields[next].first == f) {
            fields.emplace_back(f, hit.fields[next].second);
            ++next;
          }
        }
      } else {
        fields.emplace_back(request.score_field, score);
        for (const auto& [f, v] : hit.fields) fields.emplace_back(f, v);
      }
      rm::ReplyWithArray(ctx, 2 * static_cast<long>(fields.size()));
      for (const auto& [f, v] : fields) {
        reply_str(ctx, f);
        reply_str(ctx, v);
      }
    }
    return rm::kOk;
  }
};

// SearchRequest -> the message every shard gets.
SearchRequestMsg shard_message(const SearchRequest& r, const std::string& index, const CatalogEntry* entry) {
  SearchRequestMsg m;
  m.index = index;
  if (entry) {
    m.version = entry->version;
    m.fingerprint = entry->fingerprint;
  }
  m.blob = r.blob;
  m.filter = r.filter;
  m.k = static_cast<std::uint32_t>(r.k);
  m.m = static_cast<std::uint32_t>(
      vindex::shard_hits_needed({.k = r.k, .offset = r.offset, .count = r.count, .descending = r.descending}));
  m.ef = r.ef_runtime ? static_cast<std::uint32_t>(*r.ef_runtime) : 0;
  m.no_content = r.no_content;
  m.return_fields = r.return_fields;
  m.score_field = r.score_field;
  return m;
}

}  // namespace

int cluster_search(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 3) return rm::WrongArity(ctx);
  if (rm::GetSelectedDb(ctx) != 0) return reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return cmd::guarded(ctx, [&] {
    const std::string name = cmd::text(argv[1]);
    IndexEntry* entry = registry().find(name);
    if (!entry) return reply_error(ctx, name + ": no such index");
    SearchRequest request = parse_search(cmd::texts(argv, 2, argc), kLimits.max_k);
    try {
      checked_query(entry->spec, request.vector_field, request.blob);
    } catch (const RequestError& e) {
      return reply_error(ctx, e.what());
    }
    (void)vindex::parse_filter(request.filter);
    if (request.ef_runtime) kLimits.check_ef(*request.ef_runtime, "EF_RUNTIME");

    auto op = std::make_shared<SearchOp>();
    op->timeout_ms = request.timeout_ms && *request.timeout_ms > 0 ? static_cast<long long>(*request.timeout_ms)
                                                                   : cluster().settings.timeout_ms;
    op->deadline_ms = now_ms() + op->timeout_ms;
    op->message = shard_message(request, name, node_catalog().find(name));
    const Topology& topology = cluster().topology(ctx);
    if (request.local_only) {
      // This node's index alone, every key in it: the single-node FT.SEARCH.
      SearchOp::Target target;
      target.label = "local";
      target.local = true;
      op->targets.push_back(target);
      op->slots.push_back({{0, kSlotCount - 1}});
    } else {
      const std::vector<SlotRange> missing = topology.uncovered();
      if (!missing.empty() && !request.some_shards)
        return reply_error(ctx, "vindex: slots " + to_string(missing) +
                                    " are served by no shard (CLUSTERDOWN); SOMESHARDS searches the others");
      for (const int s : topology.serving_shards()) {
        const TopologyShard& shard = topology.shards()[static_cast<std::size_t>(s)];
        SearchOp::Target target;
        target.label = shard.label();
        target.local = s == topology.my_shard();
        if (!target.local) target.candidates = shard.nodes;
        op->targets.push_back(std::move(target));
        op->slots.push_back(shard.slots);
      }
      if (!missing.empty()) op->uncovered.push_back(to_string(missing));
    }
    op->request = std::move(request);
    const bool remote = std::any_of(op->targets.begin(), op->targets.end(), [](const auto& t) { return !t.local; });
    if (remote && (rm::GetContextFlags(ctx) & rm::kCtxDenyBlocking))
      return reply_error(ctx, "vindex: FT.SEARCH in cluster mode waits for other shards and cannot run inside "
                              "MULTI/EXEC or a script; add LOCALONLY to search this node's shard only");
    if (remote) ++cluster().counters.searches_fanned_out;

    operations().add(op);
    // Remote shards first, so they search while this node searches its own shard.
    for (std::size_t t = 0; t < op->targets.size(); ++t) {
      if (op->targets[t].local) continue;
      if (!op->send_next(ctx, t)) {
        cluster().topology(ctx, true);
        op->fail(t, "has no reachable node (primary and replicas down or unreachable)");
      }
    }
    for (std::size_t t = 0; t < op->targets.size(); ++t) {
      if (!op->targets[t].local) continue;
      SearchRequestMsg m = op->message;
      m.slots = op->slots[t];
      SearchResponseMsg answer = search_here(ctx, m, op->deadline_ms, !op->request.local_only);
      op->targets[t].done = true;
      if (answer.status == ShardStatus::kOk) {
        op->targets[t].answer = std::move(answer);
      } else if (answer.status == ShardStatus::kBadRequest || answer.status == ShardStatus::kError) {
        operations().forget(op->id);
        return reply_error(ctx, answer.message);
      } else {
        op->targets[t].error = "shard " + op->targets[t].label + " (this node) " +
                               std::string(to_string(answer.status)) + ": " + answer.message;
      }
    }
    // Replies at once when nothing is awaited, or when a shard already failed and ALLSHARDS.
    const bool failed = !op->request.some_shards &&
                        std::any_of(op->targets.begin(), op->targets.end(), [](const auto& t) { return !t.error.empty(); });
    if (op->complete() || failed) {
      operations().forget(op->id);
      return op->reply(ctx);
    }
    if (!operations().block(ctx, op)) {
      operations().forget(op->id);
      return reply_error(ctx, "vindex: FT.SEARCH could not wait for the other shards (client cannot block)");
    }
    return rm::kOk;
  });
}

}  // namespace vindex_redis
