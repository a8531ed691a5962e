// examples/redis_module/cluster_search.cpp — FT.SEARCH coordinator and shard responder.
#include "cluster_search.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster_catalog.hpp"
#include "cluster_ops.hpp"
#include "cluster_state.hpp"
#include "cluster_transport.hpp"
#include "command_util.hpp"
#include "ft_search.hpp"
#include "index_registry.hpp"
#include "module_config.hpp"
#include "redis_source.hpp"
#include "search_request.hpp"
#include "vindex/core/blob.hpp"
#include "vindex/core/deadline.hpp"
#include "vindex/core/limits.hpp"
#include "vindex/source/filter_expression.hpp"
#include "vindex/source/shard_merge.hpp"

namespace vindex_redis {
namespace {

SearchResponseMsg refuse(ShardStatus status, std::string message) {
  SearchResponseMsg r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

// A shard request as the single-node FT.SEARCH steps take it: the first m hits, in index order
// (no DESC, no offset: the coordinator cuts the page after merging). Checks the query vector and
// the filter as parse_search_command does; throws vindex::Error.
ParsedSearch parsed_for_shard(IndexEntry* entry, const SearchRequestMsg& q) {
  const vindex::Limits limits = config().limits();
  const IndexSpec& spec = entry->spec;
  ParsedSearch s;
  s.index_name = q.index;
  s.entry = entry;
  SearchRequest& r = s.request;
  r.filter = q.filter;
  r.k = q.k;
  r.vector_field = spec.definition.vector_field;
  r.blob = q.blob;
  if (q.ef) r.ef_runtime = q.ef;
  r.score_field = q.score_field;
  r.no_content = q.no_content;
  r.return_fields = q.return_fields;
  r.offset = 0;
  r.count = q.m;
  if (r.k == 0 || r.k > limits.max_k)
    throw vindex::Error(vindex::ErrorCode::kLimit, "KNN k " + std::to_string(r.k) + " is above this node's vindex.knn-max-k");
  if (q.blob.size() != spec.schema.blob_bytes())
    throw vindex::Error(vindex::ErrorCode::kInvalidArgument, "query vector blob has " + std::to_string(q.blob.size()) +
                                                                 " bytes, expected " +
                                                                 std::to_string(spec.schema.blob_bytes()));
  s.query.resize(spec.schema.dim);
  if (auto failure = vindex::decode_blob(spec.schema, q.blob, s.query); failure != vindex::VectorFailure::kNone)
    throw vindex::Error(vindex::ErrorCode::kInvalidArgument,
                        "query vector rejected: " + std::string(vindex::to_string(failure)));
  s.filter = vindex::parse_filter(q.filter, limits);
  if (q.ef) {
    limits.check_ef(q.ef, "EF_RUNTIME");
    s.options.ef = q.ef;
  }
  s.budget_ms = std::max<long long>(1, q.timeout_ms);
  s.options.deadline = vindex::Deadline::after(std::chrono::milliseconds(s.budget_ms));
  s.options.partial_on_timeout = q.partial_on_timeout;
  return s;
}

}  // namespace

SearchResponseMsg search_here(rm::Ctx* ctx, const SearchRequestMsg& request, bool check_slots) {
  Registry& reg = registry();
  if (reg.loading()) return refuse(ShardStatus::kLoading, "the node is loading its data");
  IndexEntry* entry = reg.find(request.index);
  if (!entry) return refuse(ShardStatus::kNoIndex, vindex::printable_key(request.index) + ": no such index");
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
    ParsedSearch search = parsed_for_shard(entry, request);
    if (assigned.count() < kSlotCount)
      search.keep = [assigned](vindex::KeyView key) { return assigned.contains_key(key); };
    // Steps 3 and 4 of the single-node FT.SEARCH: the same search, the same rows and bounds.
    const LocalHits hits = run_local_search(ctx, search);
    const SearchReply rows = read_hit_fields(ctx, search, hits);
    out.partial = hits.partial || rows.partial;
    out.found = static_cast<std::uint32_t>(out.partial ? rows.rows.size() : hits.hits.size());
    out.hits.reserve(rows.rows.size());
    for (std::size_t i = 0; i < rows.rows.size(); ++i)
      out.hits.push_back({rows.rows[i].key, hits.hits[i].distance, rows.rows[i].fields});
    return out;
  } catch (const vindex::Error& e) {
    if (e.code() == vindex::ErrorCode::kTimeout) return refuse(ShardStatus::kTimeout, e.what());
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
    answer = search_here(ctx, request);
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
    bool timed_out = false;
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
      if (answer.status == ShardStatus::kTimeout) target.timed_out = true;
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
      targets[t].timed_out = true;
      fail(t, "did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    return reply_merged(ctx, true);
  }

  // Replies from what arrived: an error when a shard failed (ALLSHARDS), else the merged page,
  // written by the single-node FT.SEARCH's step 5.
  int reply_merged(rm::Ctx* ctx, bool timed_out) {
    std::vector<const Target*> failed;
    for (const Target& t : targets)
      if (!t.error.empty()) failed.push_back(&t);
    IndexEntry* entry = registry().find(message.index);
    if (!failed.empty() && !request.some_shards) {
      ++cluster().counters.search_errors;
      const bool timeout = std::any_of(failed.begin(), failed.end(), [](const Target* t) { return t->timed_out; });
      if (timeout && entry) ++entry->search_timeouts;
      std::string text = "vindex: " + failed.front()->error;
      if (failed.size() > 1) text += " (and " + std::to_string(failed.size() - 1) + " more shard(s))";
      return reply_error(ctx, text);
    }
    if (!failed.empty() || !uncovered.empty()) {
      ++cluster().counters.partial_replies;
      rm::Log(ctx, "verbose", "vindex: SOMESHARDS reply without %zu shard(s)%s", failed.size(),
              timed_out ? " (timeout)" : "");
    }
    std::vector<const SearchResponseMsg*> answers;
    for (const Target& t : targets)
      if (t.answer) answers.push_back(&*t.answer);
    std::vector<std::vector<vindex::SearchResult>> lists(answers.size());
    std::vector<vindex::ShardHits> shards(answers.size());
    bool partial = false;
    for (std::size_t s = 0; s < answers.size(); ++s) {
      for (const ShardHit& h : answers[s]->hits) lists[s].push_back({h.key, vindex::kInvalidId, h.distance});
      shards[s].hits = lists[s];
      shards[s].found = answers[s]->found;
      partial = partial || answers[s]->partial;
    }
    vindex::PageRequest page;
    page.k = request.k;
    page.offset = request.offset;
    page.count = request.count;
    page.descending = request.descending;
    const vindex::MergedPage merged = vindex::merge_shard_hits(shards, page);
    SearchReply reply;
    reply.total = merged.total;
    reply.no_content = request.no_content;
    reply.partial = partial;
    reply.rows.reserve(merged.hits.size());
    for (const vindex::MergedHit& at : merged.hits) {
      const ShardHit& hit = answers[at.shard]->hits[at.index];
      reply.rows.push_back({hit.key, hit.fields});
    }
    if (partial && entry) ++entry->search_partial;
    return reply_search(ctx, reply);
  }
};

// The message every shard gets (all but its slots).
SearchRequestMsg shard_message(const ParsedSearch& search, const CatalogEntry* entry) {
  const SearchRequest& r = search.request;
  SearchRequestMsg m;
  m.index = search.index_name;
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
  m.partial_on_timeout = search.options.partial_on_timeout;
  m.return_fields = r.return_fields;
  m.score_field = r.score_field;
  m.timeout_ms = static_cast<std::uint32_t>(search.budget_ms);
  return m;
}

}  // namespace

int cluster_search(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 3) return rm::WrongArity(ctx);
  if (rm::GetSelectedDb(ctx) != 0) return reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return guarded(ctx, [&] {
    // Steps 1 and 2 of the single-node FT.SEARCH: the same checks, the same errors.
    const ParsedSearch search = parse_search_command(ctx, argv, argc);
    if (!authorize_search(ctx, search)) return rm::kOk;
    const SearchRequest& request = search.request;

    auto op = std::make_shared<SearchOp>();
    // How long to wait for the shards: TIMEOUT when given (it is also each shard's search budget),
    // else vindex.cluster-timeout-ms (the shards search within vindex.search-timeout-ms).
    const ModuleConfig& cfg = config();
    op->timeout_ms = request.timeout_ms
                         ? (*request.timeout_ms == 0 ? cfg.search_timeout_max_ms : static_cast<long long>(*request.timeout_ms))
                         : cfg.cluster_timeout_ms;
    op->deadline_ms = now_ms() + op->timeout_ms;
    op->message = shard_message(search, node_catalog().find(search.index_name));
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
    op->request = request;
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
      SearchResponseMsg answer = search_here(ctx, m, !request.local_only);
      op->targets[t].done = true;
      if (answer.status == ShardStatus::kOk) {
        op->targets[t].answer = std::move(answer);
      } else if (answer.status == ShardStatus::kBadRequest || answer.status == ShardStatus::kError ||
                 answer.status == ShardStatus::kTimeout) {
        // This node's own search failed as the single-node FT.SEARCH would: the same error.
        operations().forget(op->id);
        if (answer.status == ShardStatus::kTimeout) ++search.entry->search_timeouts;
        return reply_error(ctx, answer.message);
      } else {
        op->targets[t].error = "shard " + op->targets[t].label + " (this node) " +
                               std::string(to_string(answer.status)) + ": " + answer.message;
      }
    }
    // Replies at once when nothing is awaited, or when a shard already failed and ALLSHARDS.
    const bool failed = !request.some_shards &&
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
