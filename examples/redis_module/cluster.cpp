// examples/redis_module/cluster.cpp — wiring of cluster mode: dispatcher, timer, configs, INFO.
#include "cluster.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "answer_retry.hpp"
#include "cluster_catalog.hpp"
#include "cluster_info.hpp"
#include "cluster_ops.hpp"
#include "cluster_search.hpp"
#include "cluster_state.hpp"
#include "cluster_transport.hpp"
#include "index_registry.hpp"
#include "module_config.hpp"
#include "module_memory.hpp"

namespace vindex_redis {
namespace {

constexpr long long kTimerMs = 100;
// After the cluster's node count changes (a node added, a handshake), digests go out every
// kFastDigestMs for kFastDigestForMs, so a new node learns the catalog within a fraction of a second
// of its links coming up instead of after the next regular digest.
constexpr long long kFastDigestMs = 200;
constexpr long long kFastDigestForMs = 4000;
long long next_digest_ms = 0;
long long next_nodelay_ms = 0;
long long fast_until_ms = 0;
std::size_t known_nodes = 0;
SlotSet served_before;  // what this node's shard served at the last look
bool served_known = false;

void dispatch(rm::Ctx* ctx, std::string_view sender, Message& message) {
  switch (message.kind) {
    case MessageKind::kSearchRequest: serve_search(ctx, sender, message); return;
    case MessageKind::kInfoRequest: serve_info(ctx, sender, message); return;
    case MessageKind::kSearchResponse:
    case MessageKind::kInfoResponse:
    case MessageKind::kCatalogAck: operations().deliver(ctx, sender, message); return;
    case MessageKind::kCatalogDigest:
    case MessageKind::kCatalogGet:
    case MessageKind::kCatalogPut: on_catalog_message(ctx, sender, message); return;
  }
}

// Draws the next digest time: the interval ± 20 %, so nodes do not send in lockstep.
long long digest_delay() {
  const long long interval = config().cluster_digest_interval_ms;
  unsigned char r = 0;
  rm::GetRandomBytes(&r, 1);
  return interval * 8 / 10 + interval * 4 / 10 * r / 255;
}

// Bus addresses (ip, cluster port) of the other nodes, from CLUSTER NODES ("id ip:port@cport ...").
std::vector<BusPeer> bus_peers(rm::Ctx* ctx) {
  std::vector<BusPeer> out;
  rm::ReplyPtr reply(rm::Call(ctx, "CLUSTER", "c", "NODES"));
  if (!reply || rm::CallReplyType(reply.get()) != rm::kReplyString) return out;
  std::size_t length = 0;
  const char* p = rm::CallReplyStringPtr(reply.get(), &length);
  const std::string_view text(p, length);
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    const std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    const std::size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    std::string_view address = line.substr(a + 1, line.find(' ', a + 1) - a - 1);  // ip:port@cport[,host]
    address = address.substr(0, address.find(','));
    const std::size_t colon = address.rfind(':', address.find('@'));
    const std::size_t at = address.find('@');
    if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) continue;
    const int cport = std::atoi(std::string(address.substr(at + 1)).c_str());
    if (cport > 0) out.push_back({std::string(address.substr(0, colon)), cport});
  }
  return out;
}

void on_timer(rm::Ctx* ctx, void*) {
  const long long now = now_ms();
  try {
    // Links to peers come and go (a node restarts, a link times out): look every second.
    if (now >= next_nodelay_ms) {
      next_nodelay_ms = now + 1000;
      cluster().counters.bus_sockets_nodelay += enable_bus_nodelay(bus_peers(ctx));
    }
    bus().expire(now);
    answer_retry().retry(ctx, bus(), now);
    operations().sweep(now);
    if (const SelfView view = cluster().self_view(ctx); view.valid) served_slots_seen(ctx, view);
    const std::size_t nodes = rm::GetClusterSize();
    if (nodes != known_nodes) {
      known_nodes = nodes;
      fast_until_ms = now + kFastDigestForMs;
      next_digest_ms = std::min(next_digest_ms, now);
    }
    if (now >= next_digest_ms) {
      next_digest_ms = now + (now < fast_until_ms ? kFastDigestMs : digest_delay());
      broadcast_digest(ctx);
    }
  } catch (const std::exception& e) {
    rm::Log(ctx, "warning", "vindex: cluster timer: %s", e.what());
  }
  rm::CreateTimer(ctx, kTimerMs, on_timer, nullptr);
}

void info(rm::InfoCtx* ctx, int) {
  add_memory_info(ctx);
  rm::InfoAddSection(ctx, "cluster");
  rm::InfoAddFieldLongLong(ctx, "cluster_enabled", cluster().enabled() ? 1 : 0);
  if (!cluster().enabled()) return;
  const ClusterCounters& c = cluster().counters;
  const InboxCounters& in = bus().inbox().counters();
  const std::pair<const char*, std::uint64_t> fields[] = {
      {"searches_fanned_out", c.searches_fanned_out},
      {"searches_by_hash_tag", c.searches_by_hash_tag},
      {"searches_served", c.searches_served},
      {"search_errors", c.search_errors},
      {"shard_timeouts", c.shard_timeouts},
      {"partial_replies", c.partial_replies},
      {"infos_fanned_out", c.infos_fanned_out},
      {"answers_late", c.answers_late},
      {"answers_unexpected", c.answers_unexpected},
      {"messages_undecodable", c.undecodable},
      {"frames_sent", c.frames_sent},
      {"send_failures", c.send_failures},
      {"answers_held_now", answer_retry().size()},
      {"answers_held_bytes", answer_retry().bytes()},
      {"answers_held", answer_retry().counters().held},
      {"answers_resent", answer_retry().counters().resent},
      {"answers_expired_unsent", answer_retry().counters().expired},
      {"answers_dropped_unsent", answer_retry().counters().dropped},
      {"frames_received", in.frames},
      {"messages_received", in.messages},
      {"frames_malformed", in.malformed},
      {"frames_wrong_version", in.wrong_version},
      {"frames_oversized", in.oversized},
      {"frames_duplicate", in.duplicate},
      {"frames_out_of_order", in.out_of_order},
      {"frames_orphaned", in.orphaned},
      {"partial_messages_expired", in.expired},
      {"operations_in_flight", operations().size()},
      {"catalog_entries", node_catalog().entries().size()},
      {"catalog_digest", node_catalog().digest()},
      {"catalog_changes_sent", c.catalog_changes_sent},
      {"catalog_entries_applied", c.catalog_entries_applied},
      {"catalog_repairs", c.catalog_repairs},
      {"topology_refreshes", c.topology_refreshes},
      {"follow_ups_importing", c.follow_ups_importing},
      {"follow_ups_moved", c.follow_ups_moved},
      {"keys_deduplicated", c.keys_deduplicated},
      {"slots_lost", c.slots_lost},
      {"slot_loss_entries_removed", c.slot_loss_entries_removed},
      {"bus_sockets_nodelay", c.bus_sockets_nodelay},
  };
  for (const auto& [name, value] : fields) rm::InfoAddFieldLongLong(ctx, name, static_cast<long long>(value));
}

}  // namespace

bool register_cluster(rm::Ctx* ctx) {
  cluster().init(ctx);
  if (rm::RegisterInfoFunc(ctx, info) != rm::kOk) return false;
  if (!cluster().enabled()) return true;
  if (rm::CreateCommand(ctx, "FT._APPLY", ft_apply, "write deny-oom", 0, 0, 0) != rm::kOk) return false;
  bus().start(ctx, dispatch);
  rm::CreateTimer(ctx, kTimerMs, on_timer, nullptr);
  rm::Log(ctx, "notice", "vindex: cluster mode: FT.* commands cover the whole cluster");
  return true;
}

bool cluster_mode() noexcept { return cluster().enabled(); }

void served_slots_seen(rm::Ctx* ctx, const SelfView& view) {
  if (!view.valid || registry().loading()) return;
  const SlotSet lost = served_before.without(view.served);
  const bool first = !served_known;
  served_before = view.served;
  served_known = true;
  if (first || lost.empty()) return;
  cluster().counters.slots_lost += lost.count();
  const std::size_t removed = registry().reconcile_keys(ctx, [&lost](std::string_view key) { return lost.contains_key(key); });
  cluster().counters.slot_loss_entries_removed += removed;
  if (removed > 0)
    rm::Log(ctx, "notice", "vindex: this shard stopped serving slots %s; %zu index entries of keys deleted there "
            "without notification were removed", to_string(lost.ranges()).c_str(), removed);
}

void cluster_loading_ended(rm::Ctx* ctx) {
  if (cluster().enabled()) reconcile_catalog(ctx);
}

}  // namespace vindex_redis
