// examples/redis_module/cluster_catalog.cpp — catalog changes, their propagation and repair.
#include "cluster_catalog.hpp"

#include "acl.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster_messages.hpp"
#include "cluster_ops.hpp"
#include "cluster_state.hpp"
#include "cluster_transport.hpp"
#include "command_util.hpp"
#include "index_registry.hpp"
#include "module_memory.hpp"
#include "module_config.hpp"
#include "redis_source.hpp"

namespace vindex_redis {
namespace {


std::string encoded(const CatalogEntry& e) {
  BodyWriter w;
  encode_entry(w, e);
  return w.take();
}

bool is_primary(rm::Ctx* ctx) { return (rm::GetContextFlags(ctx) & rm::kCtxMaster) != 0; }

// The definition an entry carries, checked: it parses and its fingerprint is the one it claims.
// Throws vindex::Error otherwise (an entry from another node is checked like any input).
IndexSpec checked_spec(const CatalogEntry& e) {
  IndexSpec spec = parse_create(e.name, e.arguments);
  if (fingerprint_of(spec) != e.fingerprint)
    throw vindex::Error(vindex::ErrorCode::kInvalidArgument,
                        "catalog entry '" + e.name + "' carries a fingerprint that does not match its definition");
  return spec;
}

// Makes the registry hold what `e` says: no index for a tombstone, else an index with its definition
// (kept when the one there has the same definition, rebuilt otherwise).
void apply_to_registry(rm::Ctx* ctx, const CatalogEntry& e) {
  Registry& reg = registry();
  if (e.tombstone) {
    reg.drop(e.name);
    return;
  }
  IndexSpec spec = checked_spec(e);
  if (IndexEntry* current = reg.find(e.name)) {
    if (fingerprint_of(current->spec) == e.fingerprint) return;
    reg.drop(e.name);
  }
  reg.create(ctx, std::move(spec));
}

// Replicates a catalog change to this node's replicas and AOF.
void replicate(rm::Ctx* ctx, const CatalogEntry& e) {
  const std::string bytes = encoded(e);
  rm::Replicate(ctx, "FT._APPLY", "b", bytes.data(), bytes.size());
}

// Merges an entry from elsewhere; applies and (on a primary) replicates it when it won.
MergeOutcome adopt(rm::Ctx* ctx, const CatalogEntry& e, bool replicate_it) {
  if (!e.tombstone) checked_spec(e);
  const MergeOutcome outcome = node_catalog().merge(e);
  if (outcome == MergeOutcome::kApplied) {
    ++cluster().counters.catalog_entries_applied;
    apply_to_registry(ctx, e);
    if (replicate_it) replicate(ctx, e);
    rm::Log(ctx, "notice", "vindex: catalog: index '%s' %s at version %llu (from %s)", e.name.c_str(),
            e.tombstone ? "dropped" : "defined", static_cast<unsigned long long>(e.version),
            e.origin.empty() ? "?" : e.origin.c_str());
  }
  return outcome;
}

// FT.CREATE / FT.DROPINDEX waiting for every other primary's acknowledgement.
class CatalogOp final : public Operation {
 public:
  struct Target {
    NodeDesc node;
    bool done = false;
    std::string failure;  // empty when acknowledged
  };
  std::string verb;
  CatalogEntry entry;
  std::vector<Target> targets;
  std::optional<CatalogEntry> winner;  // a concurrent change that superseded ours
  long long timeout_ms = 0;

  MessageKind answer_kind() const override { return MessageKind::kCatalogAck; }

  bool on_answer(rm::Ctx* ctx, std::string_view sender, Message& m) override {
    for (Target& t : targets) {
      if (t.done || t.node.id != sender) continue;
      CatalogAckMsg ack;
      try {
        ack = decode_catalog_ack(m.body);
      } catch (const FrameError& e) {
        ++cluster().counters.undecodable;
        t.done = true;
        t.failure = t.node.address() + " (undecodable acknowledgement)";
        return true;
      }
      t.done = true;
      for (const CatalogAckItem& item : ack.items) {
        if (item.name != entry.name) continue;
        if (item.result == AckResult::kNewerHere && item.ours) {
          try {
            adopt(ctx, *item.ours, is_primary(ctx));
          } catch (const std::exception& e) {
            rm::Log(ctx, "warning", "vindex: catalog: a superseding entry from %s was refused: %s",
                    t.node.address().c_str(), e.what());
          }
          const CatalogEntry* now = node_catalog().find(entry.name);
          if (now && !(*now == entry)) winner = *now;
        }
      }
      return true;
    }
    return false;
  }

  bool complete() const override {
    return std::all_of(targets.begin(), targets.end(), [](const Target& t) { return t.done; });
  }

  int reply(rm::Ctx* ctx) override {
    if (winner) {
      return reply_error(ctx, winner->tombstone
                                  ? "Unknown Index name (a concurrent FT.DROPINDEX won)"
                                  : "Index already exists (a concurrent FT.CREATE of '" + entry.name + "' from node " +
                                        winner->origin + " won)");
    }
    std::vector<std::string> missing;
    for (const Target& t : targets)
      if (!t.failure.empty()) missing.push_back(t.failure);
    if (missing.empty()) return rm::ReplyWithSimpleString(ctx, "OK");
    std::string text = "vindex: " + verb + " applied on " + std::to_string(1 + targets.size() - missing.size()) +
                       " of " + std::to_string(1 + targets.size()) + " primaries; not acknowledged by ";
    for (std::size_t i = 0; i < missing.size(); ++i) text += (i ? ", " : "") + missing[i];
    text += "; they converge when reachable";
    return reply_error(ctx, text);
  }

  int reply_timeout(rm::Ctx* ctx) override {
    for (Target& t : targets) {
      if (t.done) continue;
      t.done = true;
      t.failure = t.node.address() + " (no answer within " + std::to_string(timeout_ms) + " ms)";
    }
    return reply(ctx);
  }
};

// Applies a local change and pushes it to the other primaries; replies now or blocks the client.
int propagate(rm::Ctx* ctx, std::string verb, CatalogEntry entry, long long timeout_ms) {
  node_catalog().put(entry);
  apply_to_registry(ctx, entry);
  replicate(ctx, entry);
  if (registry().loading()) return rm::ReplyWithSimpleString(ctx, "OK");
  const bool can_wait = (rm::GetContextFlags(ctx) & rm::kCtxDenyBlocking) == 0;
  CatalogPutMsg put;
  put.wants_ack = can_wait;
  put.entries = {entry};
  const std::string body = encode(put);
  auto op = std::make_shared<CatalogOp>();
  op->verb = std::move(verb);
  op->entry = std::move(entry);
  op->timeout_ms = timeout_ms;
  op->deadline_ms = now_ms() + timeout_ms;
  const Topology& topology = cluster().topology(ctx, true);
  for (const NodeDesc* node : topology.other_primaries()) op->targets.push_back({*node, false, {}});
  if (op->targets.empty()) return rm::ReplyWithSimpleString(ctx, "OK");
  if (can_wait) operations().add(op);
  ++cluster().counters.catalog_changes_sent;
  for (CatalogOp::Target& t : op->targets) {
    // Inside MULTI or a script nobody waits for acknowledgements: the push is best effort and the
    // digest exchange repairs what it missed.
    if (!cluster().usable(ctx, t.node) ||
        !bus().send(ctx, t.node.id, MessageKind::kCatalogPut, cluster().nonce(), can_wait ? op->id : 0, body)) {
      t.done = true;
      t.failure = t.node.address() + " (unreachable)";
    }
  }
  if (!can_wait) return rm::ReplyWithSimpleString(ctx, "OK");
  if (op->complete() || !operations().block(ctx, op)) {
    operations().forget(op->id);
    return op->reply(ctx);
  }
  return rm::kOk;
}

std::map<std::string, long long, std::less<>>& last_get() {
  static std::map<std::string, long long, std::less<>> m;
  return m;
}

}  // namespace

Catalog& node_catalog() {
  static Catalog catalog;
  return catalog;
}

int cluster_create(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 3) return rm::WrongArity(ctx);
  if (rm::GetSelectedDb(ctx) != 0) return reply_error(ctx, "vindex indexes cover database 0 only: SELECT 0 first");
  return guarded(ctx, [&] {
    const std::string name = text(argv[1]);
    const std::vector<std::string> arguments = texts(argv, 2, argc);
    IndexSpec spec = parse_create(name, arguments);
    if (!authorize_prefixes(ctx, spec.definition.prefixes, "FT.CREATE", name)) return rm::kOk;
    Registry& reg = registry();
    if (IndexEntry* existing = reg.find(name)) {
      if (reg.loading() && existing->spec.arguments == spec.arguments) return rm::ReplyWithSimpleString(ctx, "OK");
      return reply_error(ctx, "Index already exists");
    }
    // The bound of the single-node FT.CREATE (vindex.max-indexes), checked on this node.
    const auto max_indexes = static_cast<std::size_t>(config().max_indexes);
    if (!reg.loading() && reg.all().size() >= max_indexes)
      return reply_error(ctx, "FT.CREATE: there are already " + std::to_string(reg.all().size()) +
                                  " indexes, the most vindex.max-indexes (" + std::to_string(max_indexes) +
                                  ") allows; drop one or raise the limit");
    CatalogEntry entry{name, node_catalog().next_version(name), fingerprint_of(spec), cluster().my_id(), false,
                       arguments};
    return propagate(ctx, "FT.CREATE", std::move(entry), config().cluster_timeout_ms);
  });
}

int cluster_dropindex(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc < 2 || argc > 3) return rm::WrongArity(ctx);
  return guarded(ctx, [&] {
    if (argc == 3) return reply_error(ctx, "FT.DROPINDEX: DD is not supported");
    const std::string name = text(argv[1]);
    const IndexEntry* existing = registry().find(name);
    if (!existing) return reply_error(ctx, "Unknown Index name");
    if (!authorize_prefixes(ctx, existing->spec.definition.prefixes, "FT.DROPINDEX", name)) return rm::kOk;
    CatalogEntry entry{name, node_catalog().next_version(name), 0, cluster().my_id(), true, {}};
    return propagate(ctx, "FT.DROPINDEX", std::move(entry), config().cluster_timeout_ms);
  });
}

int ft_apply(rm::Ctx* ctx, rm::String** argv, int argc) {
  if (argc != 2) return rm::WrongArity(ctx);
  if ((rm::GetContextFlags(ctx) & (rm::kCtxReplicated | rm::kCtxLoading)) == 0)
    return reply_error(ctx, "FT._APPLY is internal: accepted only from the master link and the AOF");
  return guarded(ctx, [&] {
    std::size_t length = 0;
    const char* data = rm::StringPtrLen(argv[1], &length);
    BodyReader in(std::string_view(data, length));
    CatalogEntry entry;
    try {
      entry = decode_entry(in);
      in.finish();
    } catch (const FrameError& e) {
      return reply_error(ctx, std::string("FT._APPLY: bad entry: ") + e.what());
    }
    adopt(ctx, entry, false);
    // Chained replicas and this node's AOF get the change as it came.
    rm::ReplicateVerbatim(ctx);
    return rm::ReplyWithSimpleString(ctx, "OK");
  });
}

void on_catalog_message(rm::Ctx* ctx, std::string_view sender, Message& message) {
  rm::SelectDb(ctx, 0);
  try {
    switch (message.kind) {
      case MessageKind::kCatalogDigest: {
        const CatalogDigestMsg digest = decode_catalog_digest(message.body);
        // Replicas follow their primary through replication; primaries repair each other.
        if (!is_primary(ctx) || digest.digest == node_catalog().digest()) return;
        const long long now = now_ms();
        auto [it, inserted] = last_get().try_emplace(std::string(sender), 0);
        if (!inserted && now - it->second < 150) return;  // one repair at a time per peer
        it->second = now;
        ++cluster().counters.catalog_repairs;
        bus().send(ctx, sender, MessageKind::kCatalogGet, cluster().nonce(), 0, "");
        return;
      }
      case MessageKind::kCatalogGet: {
        if (!message.body.empty()) throw FrameError("CATALOG_GET has a body");
        CatalogPutMsg put;
        for (const auto& [name, e] : node_catalog().entries()) put.entries.push_back(e);
        bus().send(ctx, sender, MessageKind::kCatalogPut, message.nonce, 0, encode(put));
        return;
      }
      case MessageKind::kCatalogPut: {
        const CatalogPutMsg put = decode_catalog_put(message.body);
        CatalogAckMsg ack;
        const bool primary = is_primary(ctx);
        for (const CatalogEntry& e : put.entries) {
          CatalogAckItem item;
          item.name = e.name;
          try {
            const MergeOutcome outcome = adopt(ctx, e, primary);
            item.result = outcome == MergeOutcome::kApplied   ? AckResult::kApplied
                          : outcome == MergeOutcome::kAlready ? AckResult::kAlready
                                                              : AckResult::kNewerHere;
            if (item.result == AckResult::kNewerHere) item.ours = *node_catalog().find(e.name);
          } catch (const std::exception& ex) {
            rm::Log(ctx, "warning", "vindex: catalog: entry '%s' from %.40s refused: %s", e.name.c_str(),
                    std::string(sender).c_str(), ex.what());
            continue;
          }
          ack.items.push_back(std::move(item));
        }
        if (put.wants_ack)
          bus().send(ctx, sender, MessageKind::kCatalogAck, message.nonce, message.request_id, encode(ack));
        return;
      }
      default: return;
    }
  } catch (const FrameError& e) {
    ++cluster().counters.undecodable;
    rm::Log(ctx, "warning", "vindex: undecodable %s from %.40s: %s", std::string(to_string(message.kind)).c_str(),
            std::string(sender).c_str(), e.what());
  }
}

void broadcast_digest(rm::Ctx* ctx) {
  if (!is_primary(ctx)) return;
  const Catalog& c = node_catalog();
  CatalogDigestMsg digest{c.digest(), static_cast<std::uint32_t>(c.entries().size()), c.max_version(), true};
  bus().broadcast(ctx, MessageKind::kCatalogDigest, cluster().nonce(), 0, encode(digest));
}

void reconcile_catalog(rm::Ctx* ctx) {
  Catalog& catalog = node_catalog();
  for (auto& [name, index] : registry().all()) {
    const CatalogEntry* e = catalog.find(name);
    const std::uint64_t fp = fingerprint_of(index.spec);
    if (e && !e->tombstone && e->fingerprint == fp) continue;
    catalog.put({name, e ? e->version + 1 : 1, fp, e ? cluster().my_id() : std::string(), false, index.spec.arguments});
  }
  std::vector<CatalogEntry> missing;
  for (const auto& [name, e] : catalog.entries())
    if (!e.tombstone && !registry().find(name)) missing.push_back(e);
  for (const CatalogEntry& e : missing) {
    try {
      apply_to_registry(ctx, e);
    } catch (const std::exception& ex) {
      rm::Log(ctx, "warning", "vindex: catalog entry '%s' could not be applied: %s", e.name.c_str(), ex.what());
    }
  }
}

}  // namespace vindex_redis
