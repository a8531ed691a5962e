// examples/redis_module/cluster_search.cpp — FT.SEARCH coordinator and shard responder.
#include "cluster_search.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cluster.hpp"
#include "answer_retry.hpp"
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
  SearchResponseMsg out;
  out.tag = request.tag;
  const auto refused = [&](ShardStatus status, std::string message) {
    out.status = status;
    out.message = std::move(message);
    out.migrating.clear();
    out.moved.clear();
    return out;
  };
  if (reg.loading()) return refused(ShardStatus::kLoading, "the node is loading its data");
  // Which of the asked slots this node answers, read now (never from a cache): a node that stopped
  // serving a slot a moment ago must not answer for it, and one migrating a slot must say so. Read
  // before the index is looked up: a node that serves none of the slots (a restarted primary that
  // came back as a replica, and has no catalog until its sync) names who does, whatever it holds.
  SlotSet answered;
  if (check_slots) {
    const SelfView view = cluster().self_view(ctx);
    if (!view.valid) return refused(ShardStatus::kError, "CLUSTER NODES gave no view of this node");
    served_slots_seen(ctx, view);  // slots lost since the last look: their deleted keys leave the index first
    SlotPlan plan = plan_slots(view, request.slots, request.mode, request.fallback);
    answered = plan.answered;
    out.migrating = std::move(plan.migrating);
    out.moved = std::move(plan.moved);
    if (answered.empty()) return out;  // nothing of the request is here: found 0, the routes say where
  }
  IndexEntry* entry = reg.find(request.index);
  if (!entry) return refused(ShardStatus::kNoIndex, vindex::printable_key(request.index) + ": no such index");
  if (const CatalogEntry* c = node_catalog().find(request.index)) {
    out.version = c->version;
    out.fingerprint = c->fingerprint;
  }
  if (out.version != request.version || out.fingerprint != request.fingerprint)
    return refused(ShardStatus::kStaleIndex, "index '" + request.index + "' is at version " + std::to_string(out.version) +
                                                 " here, " + std::to_string(request.version) + " at the coordinator");
  // Both ends of a migration answer for the migrating slots: they return every hit, so the
  // coordinator recognises each key both hold (and counts it once in the total). Fields are read for
  // the first m only: a hit past its answer's first m is past the page's first m too (a key's rank
  // in one answer is at most its rank in the merged list), so it is only ever counted.
  const bool all_hits = check_slots && (!out.migrating.empty() || request.mode == 1);
  try {
    ParsedSearch search = parsed_for_shard(entry, request);
    if (check_slots && answered.count() < kSlotCount)
      search.keep = [answered](vindex::KeyView key) { return answered.contains_key(key); };
    // Steps 3 and 4 of the single-node FT.SEARCH: the same search, the same rows and bounds.
    const LocalHits hits = run_local_search(ctx, search);
    const SearchReply rows = read_hit_fields(ctx, search, hits);
    out.partial = hits.partial || rows.partial;
    out.found = static_cast<std::uint32_t>(out.partial ? rows.rows.size() : hits.hits.size());
    out.hits.reserve(rows.rows.size());
    for (std::size_t i = 0; i < rows.rows.size(); ++i)
      out.hits.push_back({rows.rows[i].key, hits.hits[i].distance, rows.rows[i].fields});
    if (all_hits && !out.partial)
      for (std::size_t i = rows.rows.size(); i < hits.hits.size(); ++i)
        out.hits.push_back({hits.hits[i].key, hits.hits[i].distance, {}});
    return out;
  } catch (const vindex::Error& e) {
    if (e.code() == vindex::ErrorCode::kTimeout) return refused(ShardStatus::kTimeout, e.what());
    const bool bad_request = e.code() == vindex::ErrorCode::kInvalidArgument || e.code() == vindex::ErrorCode::kLimit;
    return refused(bad_request ? ShardStatus::kBadRequest : ShardStatus::kError, e.what());
  } catch (const std::exception& e) {
    return refused(ShardStatus::kError, e.what());
  }
}

void serve_search(rm::Ctx* ctx, std::string_view sender, const Message& message) {
  rm::SelectDb(ctx, 0);
  const long long received_ms = now_ms();
  long long until_ms = received_ms + config().cluster_timeout_ms;  // how long the coordinator waits
  SearchResponseMsg answer;
  try {
    const SearchRequestMsg request = decode_search_request(message.body);
    if (request.timeout_ms > 0) until_ms = received_ms + request.timeout_ms;
    answer = search_here(ctx, request);
  } catch (const FrameError& e) {
    ++cluster().counters.undecodable;
    answer = refuse(ShardStatus::kBadRequest, std::string("undecodable request: ") + e.what());
  }
  std::string body = encode(answer);
  if (body.size() > kDefaultMaxMessageBytes) {
    SearchResponseMsg too_large = refuse(ShardStatus::kTooLarge, "the answer would take " + std::to_string(body.size()) +
                                                                      " bytes, more than the limit of " +
                                                                      std::to_string(kDefaultMaxMessageBytes));
    too_large.tag = answer.tag;
    body = encode(too_large);
  }
  ++cluster().counters.searches_served;
  // A link down right now (a failover, a restart) would lose the answer: keep it and send it again.
  answer_retry().send_or_hold(ctx, bus(), sender, MessageKind::kSearchResponse, message.nonce, message.request_id,
                              std::move(body), now_ms(), until_ms);
}

namespace {

// How many times one slot's request may be passed on (to the importing node, or to the node a
// shard says serves it) within one FT.SEARCH before the query gives up with an error.
constexpr int kMaxHops = 6;

// One FT.SEARCH waiting for its shards. A target is one request: slots, the nodes that may answer
// them (in order), and its answer. The first targets are the topology's shards; answers add
// follow-up targets (see the migration rule in cluster_search.hpp).
class SearchOp final : public Operation {
 public:
  struct Target {
    std::string label;                  // how errors name it
    std::vector<SlotRange> slots;       // the slots it answers for
    std::uint8_t mode = 0;              // 0: slots the node serves; 1: importing follow-up
    int hops = 0;                       // follow-ups that led here
    std::uint32_t m = 0;                // hits asked for
    std::vector<NodeDesc> candidates;   // nodes to ask, in order
    std::size_t at = 0;                 // the candidate asked now
    bool waiting = false;               // a request to candidates[at] is out
    bool done = false;
    bool timed_out = false;
    bool verbatim = false;              // this node's own search failed: reply with its error as is
    std::string passed_over;            // candidates that could not answer yet, and why (for the error)
    std::optional<SearchResponseMsg> answer;
    std::string error;
  };

  SearchRequest request;
  SearchRequestMsg message;  // what every target gets, but its slots, mode, tag, m
  std::deque<Target> targets;
  std::size_t planned = 0;             // targets from the topology (the rest are follow-ups)
  std::vector<std::string> uncovered;  // SOMESHARDS: slot ranges no shard serves
  long long timeout_ms = 0;
  bool local_only = false;

  MessageKind answer_kind() const override { return MessageKind::kSearchResponse; }

  void fail(std::size_t t, std::string why) {
    targets[t].done = true;
    targets[t].waiting = false;
    targets[t].error = "shard " + targets[t].label + " " + why;
  }

  // Asks the target's next usable candidate: this node searches at once, another gets a message.
  void dispatch(rm::Ctx* ctx, std::size_t t) {
    for (; targets[t].at < targets[t].candidates.size(); ++targets[t].at) {
      const NodeDesc node = targets[t].candidates[targets[t].at];
      const bool me = node.id == cluster().my_id();
      if (!me && !cluster().usable(ctx, node)) continue;
      SearchRequestMsg m = message;
      m.slots = targets[t].slots;
      m.mode = targets[t].mode;
      m.m = targets[t].m;
      m.tag = static_cast<std::uint32_t>(t);
      m.fallback = !node.primary && targets[t].mode == 0;  // a replica standing in for its primary
      if (me) {
        settle(ctx, t, search_here(ctx, m, !local_only));
        return;
      }
      m.timeout_ms = static_cast<std::uint32_t>(std::max(1LL, deadline_ms - now_ms()));
      if (bus().send(ctx, node.id, MessageKind::kSearchRequest, cluster().nonce(), id, encode(m))) {
        targets[t].waiting = true;
        return;
      }
    }
    cluster().topology(ctx, true);
    fail(t, "has no reachable node (primary and replicas down, unreachable, loading or without the index yet)" +
                (targets[t].passed_over.empty() ? std::string() : ": " + targets[t].passed_over));
  }

  bool on_answer(rm::Ctx* ctx, std::string_view sender, Message& m) override {
    SearchResponseMsg answer;
    try {
      answer = decode_search_response(m.body);
    } catch (const FrameError& e) {
      ++cluster().counters.undecodable;
      for (std::size_t t = 0; t < targets.size(); ++t)
        if (asked(t, sender)) {
          fail(t, std::string("sent an undecodable answer: ") + e.what());
          return true;
        }
      return false;
    }
    const std::size_t t = answer.tag;
    if (t >= targets.size() || !asked(t, sender)) return false;
    targets[t].waiting = false;
    settle(ctx, t, std::move(answer));
    return true;
  }

  bool asked(std::size_t t, std::string_view sender) const {
    const Target& target = targets[t];
    return !target.done && target.waiting && target.at < target.candidates.size() &&
           target.candidates[target.at].id == sender;
  }

  // An answer for target t (from a message, or from this node's own search).
  void settle(rm::Ctx* ctx, std::size_t t, SearchResponseMsg answer) {
    const std::string who = targets[t].candidates[targets[t].at].address();
    const bool me = targets[t].candidates[targets[t].at].id == cluster().my_id();
    switch (answer.status) {
      case ShardStatus::kOk: {
        if (answer.hits.size() < std::min<std::size_t>(answer.found, targets[t].m)) {
          fail(t, "returned fewer hits than asked");
          return;
        }
        std::vector<SlotRoute> migrating = std::move(answer.migrating);
        std::vector<SlotRoute> moved = std::move(answer.moved);
        targets[t].done = true;
        targets[t].answer = std::move(answer);
        // After this answer, never before: see the migration rule.
        follow_up(ctx, t, migrating, 1);
        follow_up(ctx, t, moved, 0);
        return;
      }
      case ShardStatus::kLoading:
      case ShardStatus::kNoIndex:
        // Not ready: loading its data, or without the index yet (a node restarted without
        // persistence, or just added, gets the catalog from its primary's sync or the digest).
        // The coordinator has the index, so the shard's other nodes may answer in its place.
        if (!targets[t].passed_over.empty()) targets[t].passed_over += ", ";
        targets[t].passed_over += who + " " + std::string(to_string(answer.status));
        ++targets[t].at;
        dispatch(ctx, t);
        return;
      case ShardStatus::kWrongSlots: {
        // An older shard refusing the whole request: ask whoever the topology names now.
        targets[t].done = true;
        std::vector<SlotRoute> moved;
        for (const SlotRange& r : targets[t].slots) moved.push_back({r, ""});
        follow_up(ctx, t, moved, 0);
        return;
      }
      default:
        if (me && (answer.status == ShardStatus::kBadRequest || answer.status == ShardStatus::kError ||
                   answer.status == ShardStatus::kTimeout)) {
          // This node's own search failed as the single-node FT.SEARCH would: the same error.
          targets[t].done = true;
          targets[t].verbatim = true;
          targets[t].timed_out = answer.status == ShardStatus::kTimeout;
          targets[t].error = answer.message;
          return;
        }
        if (answer.status == ShardStatus::kTimeout) targets[t].timed_out = true;
        fail(t, "(" + who + ") " + std::string(to_string(answer.status)) + ": " + answer.message);
        return;
    }
  }

  // The node with `id` and, after it, the other nodes of its shard (stand-ins should it be down).
  std::vector<NodeDesc> nodes_for(rm::Ctx* ctx, const std::string& id, bool with_replicas) {
    const Topology* topology = &cluster().topology(ctx);
    if (!topology->find_node(id)) topology = &cluster().topology(ctx, true);
    std::vector<NodeDesc> out;
    for (const TopologyShard& shard : topology->shards()) {
      const auto it = std::find_if(shard.nodes.begin(), shard.nodes.end(), [&](const NodeDesc& n) { return n.id == id; });
      if (it == shard.nodes.end()) continue;
      out.push_back(*it);
      out.back().primary = true;  // named as serving the slots: asked as their primary
      if (with_replicas)
        for (const NodeDesc& n : shard.nodes)
          if (n.id != id && !n.primary) out.push_back(n);
      return out;
    }
    NodeDesc unknown;  // not in this node's view yet: the bus still reaches it by id
    unknown.id = id;
    unknown.ip = "node " + id.substr(0, 8);
    unknown.primary = true;
    out.push_back(unknown);
    return out;
  }

  void add_follow_up(rm::Ctx* ctx, std::size_t from, std::vector<SlotRange> slots, std::vector<NodeDesc> candidates,
                     std::uint8_t mode) {
    Target f;
    f.slots = std::move(slots);
    f.mode = mode;
    f.hops = targets[from].hops + 1;
    f.m = message.m;
    f.label = (candidates.empty() ? std::string("?") : candidates.front().address()) + " (slots " + to_string(f.slots) +
              (mode == 1 ? ", importing)" : ", moved there)");
    f.candidates = std::move(candidates);
    targets.push_back(std::move(f));
    const std::size_t t = targets.size() - 1;
    if (targets[t].hops > kMaxHops) {
      fail(t, "kept moving while the query ran (" + std::to_string(kMaxHops) + " hops); try again");
      return;
    }
    ++(mode == 1 ? cluster().counters.follow_ups_importing : cluster().counters.follow_ups_moved);
    dispatch(ctx, t);
  }

  // Requests for slots an answer passed on: migrating slots to their importing node (mode 1),
  // slots it does not serve to the node it names, or to the topology's owner when it names none.
  void follow_up(rm::Ctx* ctx, std::size_t from, const std::vector<SlotRoute>& routes, std::uint8_t mode) {
    if (routes.empty()) return;
    std::map<std::string, std::vector<SlotRange>> by_node;
    for (const SlotRoute& r : routes) by_node[r.node].push_back(r.range);
    for (auto& [node, slots] : by_node) {
      if (!node.empty()) {
        add_follow_up(ctx, from, std::move(slots), nodes_for(ctx, node, mode == 0), mode);
        continue;
      }
      // Nobody named: the topology's owner of each slot, read fresh.
      const Topology& topology = cluster().topology(ctx, true);
      std::map<int, SlotSet> by_shard;
      SlotSet nowhere;
      SlotSet asked;
      asked.add(slots);
      for (const SlotRange& r : asked.ranges())
        for (std::uint32_t slot = r.first; slot <= r.last; ++slot) {
          const int shard = topology.shard_of_slot(static_cast<std::uint16_t>(slot));
          const SlotRange one{static_cast<std::uint16_t>(slot), static_cast<std::uint16_t>(slot)};
          if (shard < 0) {
            nowhere.add(one);
          } else {
            by_shard[shard].add(one);
          }
        }
      std::vector<std::pair<std::vector<SlotRange>, std::vector<NodeDesc>>> asks;
      for (const auto& [shard, set] : by_shard)
        asks.emplace_back(set.ranges(), topology.shards()[static_cast<std::size_t>(shard)].nodes);
      for (auto& [ranges, nodes] : asks) add_follow_up(ctx, from, std::move(ranges), std::move(nodes), 0);
      if (!nowhere.empty()) {
        if (request.some_shards) {
          uncovered.push_back(to_string(nowhere.ranges()));
        } else {
          Target f;
          f.label = "(slots " + to_string(nowhere.ranges()) + ")";
          targets.push_back(std::move(f));
          fail(targets.size() - 1, "is served by no node (CLUSTERDOWN); SOMESHARDS searches the others");
        }
      }
    }
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
    const auto verbatim = std::find_if(failed.begin(), failed.end(), [](const Target* t) { return t->verbatim; });
    if (verbatim != failed.end()) {
      ++cluster().counters.search_errors;
      if ((*verbatim)->timed_out && entry) ++entry->search_timeouts;
      return reply_error(ctx, (*verbatim)->error);
    }
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
    if (targets.size() > planned) {
      // Follow-ups ran: count the keys two answers both returned (the merge keeps one of each).
      std::unordered_set<std::string_view> keys;
      for (const SearchResponseMsg* a : answers)
        for (const ShardHit& h : a->hits)
          if (!keys.insert(h.key).second) ++cluster().counters.keys_deduplicated;
    }
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
    op->request = request;
    op->local_only = request.local_only;
    const Topology& topology = cluster().topology(ctx);
    NodeDesc me;
    me.id = cluster().my_id();
    me.primary = true;
    if (const NodeDesc* mine = topology.find_node(me.id)) me = *mine, me.primary = true;
    if (request.local_only) {
      // This node's index alone, every key in it: the single-node FT.SEARCH.
      SearchOp::Target target;
      target.label = "local";
      target.slots = {{0, kSlotCount - 1}};
      target.m = op->message.m;
      target.candidates = {me};
      op->targets.push_back(std::move(target));
    } else {
      // The slots the index's keys can be in: all of them, or only the hash-tag slots its prefixes
      // fix (`PREFIX 1 {tenant7}:`), whose shards alone are asked: one shard for one tag.
      const std::optional<SlotSet> index_slots = prefix_slots(search.entry->spec.definition.prefixes);
      const auto of_index = [&](const std::vector<SlotRange>& ranges) {
        if (!index_slots) return ranges;
        SlotSet set;
        set.add(ranges);
        return set.intersection(*index_slots).ranges();
      };
      const std::vector<SlotRange> missing = of_index(topology.uncovered());
      if (!missing.empty() && !request.some_shards)
        return reply_error(ctx, "vindex: slots " + to_string(missing) +
                                    " are served by no shard (CLUSTERDOWN); SOMESHARDS searches the others");
      // One request per shard, to its primary (this node's own search when it is that primary); a
      // replica only stands in for a primary that is failed, unreachable or loading. A replica
      // coordinator asks its primary too: its own copy may lag and cannot tell migrating slots.
      for (const int s : topology.serving_shards()) {
        const TopologyShard& shard = topology.shards()[static_cast<std::size_t>(s)];
        SearchOp::Target target;
        target.label = shard.label();
        target.slots = of_index(shard.slots);
        if (target.slots.empty()) continue;  // none of the index's slots: nothing to ask
        target.m = op->message.m;
        target.candidates = shard.nodes;
        op->targets.push_back(std::move(target));
      }
      if (index_slots) ++cluster().counters.searches_by_hash_tag;
      if (!missing.empty()) op->uncovered.push_back(to_string(missing));
    }
    op->planned = op->targets.size();
    const auto first_is_me = [&](const SearchOp::Target& t) {
      return !t.candidates.empty() && t.candidates.front().id == me.id;
    };
    const bool remote = std::any_of(op->targets.begin(), op->targets.end(), [&](const auto& t) { return !first_is_me(t); });
    const bool can_block = (rm::GetContextFlags(ctx) & rm::kCtxDenyBlocking) == 0;
    if (remote && !can_block)
      return reply_error(ctx, "vindex: FT.SEARCH in cluster mode waits for other shards and cannot run inside "
                              "MULTI/EXEC or a script; add LOCALONLY to search this node's shard only");
    if (remote) ++cluster().counters.searches_fanned_out;

    operations().add(op);
    // Remote shards first, so they search while this node searches its own shard.
    for (std::size_t t = 0; t < op->planned; ++t)
      if (!first_is_me(op->targets[t])) op->dispatch(ctx, t);
    for (std::size_t t = 0; t < op->planned; ++t)
      if (first_is_me(op->targets[t])) op->dispatch(ctx, t);
    // Replies at once when nothing is awaited, or when a shard already failed and ALLSHARDS.
    const bool fatal = std::any_of(op->targets.begin(), op->targets.end(), [&](const auto& t) {
      return t.verbatim || (!t.error.empty() && !request.some_shards);
    });
    if (op->complete() || fatal) {
      operations().forget(op->id);
      return op->reply(ctx);
    }
    if (!can_block) {
      operations().forget(op->id);
      return reply_error(ctx, "vindex: slots of this node's shard are moving and FT.SEARCH would have to wait for "
                              "other nodes, which it cannot inside MULTI/EXEC or a script; add LOCALONLY");
    }
    if (!operations().block(ctx, op)) {
      operations().forget(op->id);
      return reply_error(ctx, "vindex: FT.SEARCH could not wait for the other shards (client cannot block)");
    }
    return rm::kOk;
  });
}

}  // namespace vindex_redis
