// examples/redis_module/cluster_info.cpp — FT.INFO fan-out and aggregation.
#include "cluster_info.hpp"

#include "acl.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "answer_retry.hpp"
#include "cluster_catalog.hpp"
#include "cluster_messages.hpp"
#include "cluster_ops.hpp"
#include "cluster_state.hpp"
#include "cluster_transport.hpp"
#include "command_util.hpp"
#include "info_reply.hpp"
#include "module_config.hpp"
#include "vindex/core/schema.hpp"

namespace vindex_redis {
namespace {


InfoResponseMsg figures_here(const std::string& name) {
  InfoResponseMsg m;
  if (registry().loading()) {
    m.status = ShardStatus::kLoading;
    m.message = "the node is loading its data";
    return m;
  }
  const IndexEntry* entry = registry().find(name);
  if (!entry) {
    m.status = ShardStatus::kNoIndex;
    m.message = "Unknown Index name";
    return m;
  }
  if (const CatalogEntry* c = node_catalog().find(name)) {
    m.version = c->version;
    m.fingerprint = c->fingerprint;
  }
  const InfoFigures f = local_figures(*entry);
  m.num_docs = f.num_docs;
  m.hash_indexing_failures = f.hash_indexing_failures;
  m.failures_by_code.assign(f.failures_by_code.begin(), f.failures_by_code.end());
  m.search_timeouts = f.search_timeouts;
  m.search_partial = f.search_partial;
  m.in_progress = f.in_progress;
  m.percent = f.percent;
  m.state = f.state;
  m.backfill_error = f.backfill_error;
  m.reconciling = f.reconciling;
  std::copy(std::begin(f.counts), std::end(f.counts), m.counts);
  m.snapshot_loaded = f.snapshot.loaded;
  m.snapshot_error = f.snapshot.error;
  m.snapshot_bytes = f.snapshot.bytes;
  m.snapshot_ms = f.snapshot.millis;
  m.memory_bytes = f.memory_bytes;
  const vindex::HnswMemory& parts = f.memory_parts;
  const vindex::HnswMaintenanceStats& kept = f.maintenance;
  m.detail = InfoDetailMsg{parts.vectors, parts.codes, parts.links, parts.keys, parts.other,
                           f.memory_peak_bytes, f.memory_limit_bytes, f.memory_limit_refusals,
                           kept.pending_tombstones, kept.rounds, kept.write_ns, kept.longest_write_ns,
                           kept.maintain_ns};
  return m;
}

InfoFigures to_figures(const InfoResponseMsg& m) {
  InfoFigures f;
  f.num_docs = m.num_docs;
  f.hash_indexing_failures = m.hash_indexing_failures;
  for (std::size_t i = 0; i < f.failures_by_code.size() && i < m.failures_by_code.size(); ++i)
    f.failures_by_code[i] = m.failures_by_code[i];
  f.search_timeouts = m.search_timeouts;
  f.search_partial = m.search_partial;
  f.in_progress = m.in_progress;
  f.percent = m.percent;
  f.state = m.state;
  f.backfill_error = m.backfill_error;
  f.reconciling = m.reconciling;
  std::copy(std::begin(m.counts), std::end(m.counts), f.counts);
  f.snapshot.loaded = m.snapshot_loaded;
  f.snapshot.error = m.snapshot_error;
  f.snapshot.bytes = m.snapshot_bytes;
  f.snapshot.millis = m.snapshot_ms;
  f.memory_bytes = m.memory_bytes;
  if (const auto& d = m.detail) {
    f.memory_parts = vindex::HnswMemory{d->vectors, d->codes, d->links, d->keys, d->other, 0};
    f.memory_peak_bytes = d->memory_peak;
    f.memory_limit_bytes = d->memory_limit;
    f.memory_limit_refusals = d->memory_limit_refusals;
    f.maintenance.pending_tombstones = d->pending_tombstones;
    f.maintenance.rounds = d->maintenance_rounds;
    f.maintenance.write_ns = d->maintenance_write_ns;
    f.maintenance.longest_write_ns = d->maintenance_longest_write_ns;
    f.maintenance.maintain_ns = d->maintenance_timer_ns;
  }
  return f;
}

class InfoOp final : public Operation {
 public:
  struct Target {
    std::string label;
    std::string slots;
    std::vector<NodeDesc> candidates;
    std::size_t at = 0;
    bool local = false;
    bool done = false;
    std::string node;  // address of the node that answered
    std::string node_id;
    std::optional<InfoResponseMsg> answer;
    std::string error;
  };
  std::string name;
  std::uint64_t version = 0;
  std::uint64_t fingerprint = 0;
  std::vector<Target> targets;
  bool some_shards = false;
  long long timeout_ms = 0;

  MessageKind answer_kind() const override { return MessageKind::kInfoResponse; }

  bool send_next(rm::Ctx* ctx, std::size_t t) {
    Target& target = targets[t];
    const std::string body = encode(InfoRequestMsg{name});
    for (; target.at < target.candidates.size(); ++target.at) {
      const NodeDesc& node = target.candidates[target.at];
      if (!cluster().usable(ctx, node)) continue;
      if (bus().send(ctx, node.id, MessageKind::kInfoRequest, cluster().nonce(), id, body)) return true;
    }
    return false;
  }

  void settle(std::size_t t, InfoResponseMsg answer, const std::string& node, const std::string& node_id) {
    Target& target = targets[t];
    target.done = true;
    target.node = node;
    target.node_id = node_id;
    if (answer.status != ShardStatus::kOk) {
      target.error = "shard " + target.label + " (" + node + ") " + std::string(to_string(answer.status)) + ": " +
                     answer.message;
    } else if (answer.version != version || answer.fingerprint != fingerprint) {
      target.error = "shard " + target.label + " (" + node + ") has index '" + name + "' at version " +
                     std::to_string(answer.version) + ", this node at " + std::to_string(version) +
                     " (the catalog is converging)";
    } else {
      target.answer = std::move(answer);
    }
  }

  bool on_answer(rm::Ctx* ctx, std::string_view sender, Message& m) override {
    for (std::size_t t = 0; t < targets.size(); ++t) {
      Target& target = targets[t];
      if (target.done || target.local || target.at >= target.candidates.size() ||
          target.candidates[target.at].id != sender)
        continue;
      const NodeDesc node = target.candidates[target.at];
      InfoResponseMsg answer;
      try {
        answer = decode_info_response(m.body);
      } catch (const FrameError& e) {
        ++cluster().counters.undecodable;
        answer.status = ShardStatus::kError;
        answer.message = std::string("undecodable answer: ") + e.what();
      }
      if (answer.status == ShardStatus::kLoading) {
        ++target.at;
        if (send_next(ctx, t)) return true;
      }
      settle(t, std::move(answer), node.address(), node.id);
      return true;
    }
    return false;
  }

  bool complete() const override {
    return std::all_of(targets.begin(), targets.end(), [](const Target& t) { return t.done; });
  }

  int reply(rm::Ctx* ctx) override {
    std::vector<const Target*> answered;
    std::string first_error;
    std::size_t errors = 0;
    for (const Target& t : targets) {
      if (t.answer) answered.push_back(&t);
      if (!t.error.empty()) {
        if (first_error.empty()) first_error = t.error;
        ++errors;
      }
    }
    if (errors && !some_shards)
      return reply_error(ctx, "vindex: " + first_error +
                                  (errors > 1 ? " (and " + std::to_string(errors - 1) + " more shard(s))" : ""));
    if (errors) ++cluster().counters.partial_replies;
    const IndexEntry* entry = registry().find(name);
    if (!entry) return reply_error(ctx, "Unknown Index name");
    InfoFigures total;
    for (std::size_t i = 0; i < answered.size(); ++i) add_shard(total, to_figures(*answered[i]->answer), i == 0);
    if (answered.empty()) total = InfoFigures{};
    reply_info(ctx, entry->spec, total, [&](ReplyArray& r) {
      r.str("cluster_shards").num(static_cast<long long>(targets.size()));
      r.str("cluster_shards_answered").num(static_cast<long long>(answered.size()));
      // Answers with the memory parts, memory account and maintenance figures summed above (a shard
      // of an earlier build sends only total_memory_bytes).
      const auto detailed = std::count_if(answered.begin(), answered.end(),
                                          [](const Target* t) { return t->answer->detail.has_value(); });
      r.str("cluster_shards_detailed").num(static_cast<long long>(detailed));
      r.str("shards").array([&](ReplyArray& shards) {
        for (const Target& t : targets) {
          shards.array([&](ReplyArray& shard) {
            shard.str("node").str(t.node);
            shard.str("id").str(t.node_id);
            shard.str("slots").str(t.slots);
            if (t.answer) {
              shard.str("num_docs").num(static_cast<long long>(t.answer->num_docs));
              shard.str("state").str(t.answer->state);
              shard.str("backfill_complete_percent").real(t.answer->percent);
              shard.str("version").num(static_cast<long long>(t.answer->version));
              shard.str("total_memory_bytes").num(static_cast<long long>(t.answer->memory_bytes));
            } else {
              shard.str("error").str(t.error.empty() ? std::string("no answer") : t.error);
            }
          });
        }
      });
    });
    return rm::kOk;
  }

  int reply_timeout(rm::Ctx* ctx) override {
    for (Target& t : targets) {
      if (t.done) continue;
      ++cluster().counters.shard_timeouts;
      t.done = true;
      t.error = "shard " + t.label + " did not answer within " + std::to_string(timeout_ms) + " ms";
    }
    return reply(ctx);
  }
};

bool parse_size(const std::string& text, long long& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0;
}

}  // namespace

void serve_info(rm::Ctx* ctx, std::string_view sender, const Message& message) {
  InfoResponseMsg answer;
  try {
    answer = figures_here(decode_info_request(message.body).index);
  } catch (const FrameError& e) {
    ++cluster().counters.undecodable;
    answer.status = ShardStatus::kBadRequest;
    answer.message = std::string("undecodable request: ") + e.what();
  }
  const long long now = now_ms();
  answer_retry().send_or_hold(ctx, bus(), sender, MessageKind::kInfoResponse, message.nonce, message.request_id,
                              encode(answer), now, now + config().cluster_timeout_ms);
}

int cluster_info(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 2) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    const std::string name = text(argv[1]);
    bool local = false, some = false;
    long long timeout = config().cluster_timeout_ms;
    for (int i = 2; i < argc; ++i) {
      const std::string word = text(argv[i]);
      if (vindex::iequals(word, "LOCAL")) {
        local = true;
      } else if (vindex::iequals(word, "PRIMARY") || vindex::iequals(word, "CLUSTER") ||
                 vindex::iequals(word, "ALLSHARDS")) {
      } else if (vindex::iequals(word, "SOMESHARDS")) {
        some = true;
      } else if (vindex::iequals(word, "TIMEOUT") && i + 1 < argc && parse_size(text(argv[i + 1]), timeout)) {
        ++i;
        if (timeout == 0) timeout = config().cluster_timeout_ms;
      } else {
        return reply_error(ctx, "FT.INFO: unknown argument '" + word + "' (LOCAL, PRIMARY, CLUSTER, ALLSHARDS, "
                                "SOMESHARDS, TIMEOUT ms)");
      }
    }
    const IndexEntry* entry = registry().find(name);
    if (!entry) return reply_error(ctx, "Unknown Index name");
    if (!authorize_prefixes(ctx, entry->spec.definition.prefixes, "FT.INFO", name)) return rm::kOk;
    if (local) {
      reply_info(ctx, entry->spec, local_figures(*entry));
      return rm::kOk;
    }
    auto op = std::make_shared<InfoOp>();
    op->name = name;
    op->some_shards = some;
    op->timeout_ms = timeout;
    op->deadline_ms = now_ms() + timeout;
    if (const CatalogEntry* c = node_catalog().find(name)) {
      op->version = c->version;
      op->fingerprint = c->fingerprint;
    }
    const Topology& topology = cluster().topology(ctx);
    const NodeDesc* me = topology.find_node(cluster().my_id());
    const std::string my_address = me ? me->address() : std::string("this node");
    for (const int s : topology.serving_shards()) {
      const TopologyShard& shard = topology.shards()[static_cast<std::size_t>(s)];
      InfoOp::Target t;
      t.label = shard.label();
      t.slots = to_string(shard.slots);
      t.local = s == topology.my_shard();
      if (!t.local) t.candidates = shard.nodes;
      op->targets.push_back(std::move(t));
    }
    const bool remote = std::any_of(op->targets.begin(), op->targets.end(), [](const auto& t) { return !t.local; });
    if (remote && (rm::GetContextFlags(ctx) & rm::kCtxDenyBlocking))
      return reply_error(ctx, "vindex: FT.INFO in cluster mode waits for other shards and cannot run inside "
                              "MULTI/EXEC or a script; add LOCAL for this node's figures");
    if (remote) ++cluster().counters.infos_fanned_out;
    operations().add(op);
    for (std::size_t t = 0; t < op->targets.size(); ++t) {
      if (op->targets[t].local) {
        op->settle(t, figures_here(name), my_address, cluster().my_id());
        continue;
      }
      if (!op->send_next(ctx, t)) {
        op->targets[t].done = true;
        op->targets[t].error = "shard " + op->targets[t].label + " has no reachable node";
      }
    }
    const bool failed =
        !some && std::any_of(op->targets.begin(), op->targets.end(), [](const auto& t) { return !t.error.empty(); });
    if (op->complete() || failed || !operations().block(ctx, op)) {
      operations().forget(op->id);
      return op->reply(ctx);
    }
    return rm::kOk;
  });
}

}  // namespace vindex_redis
