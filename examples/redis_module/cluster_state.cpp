// examples/redis_module/cluster_state.cpp — cluster mode, node id, nonce, topology from CLUSTER SHARDS.
#include "cluster_state.hpp"

#include <chrono>
#include <cstring>

#include "vindex/core/error.hpp"

namespace vindex_redis {
namespace {

std::string_view reply_text(rm::CallReply* r) {
  std::size_t length = 0;
  const char* p = r ? rm::CallReplyStringPtr(r, &length) : nullptr;
  return p ? std::string_view(p, length) : std::string_view();
}

// One node of a CLUSTER SHARDS reply: a flat list of (name, value) pairs.
NodeDesc parse_node(rm::CallReply* node) {
  NodeDesc n;
  const std::size_t count = rm::CallReplyLength(node);
  for (std::size_t i = 0; i + 1 < count; i += 2) {
    const std::string_view name = reply_text(rm::CallReplyArrayElement(node, i));
    rm::CallReply* value = rm::CallReplyArrayElement(node, i + 1);
    if (name == "id") n.id = std::string(reply_text(value));
    else if (name == "ip") n.ip = std::string(reply_text(value));
    else if (name == "port" && rm::CallReplyType(value) == rm::kReplyInteger) n.port = rm::CallReplyInteger(value);
    else if (name == "role") n.primary = reply_text(value) == "master";
    else if (name == "health") n.health = std::string(reply_text(value));
  }
  return n;
}

std::vector<ShardDesc> parse_shards(rm::CallReply* reply) {
  std::vector<ShardDesc> out;
  const std::size_t count = rm::CallReplyLength(reply);
  for (std::size_t s = 0; s < count; ++s) {
    rm::CallReply* shard = rm::CallReplyArrayElement(reply, s);
    if (rm::CallReplyType(shard) != rm::kReplyArray) continue;
    ShardDesc d;
    const std::size_t fields = rm::CallReplyLength(shard);
    for (std::size_t i = 0; i + 1 < fields; i += 2) {
      const std::string_view name = reply_text(rm::CallReplyArrayElement(shard, i));
      rm::CallReply* value = rm::CallReplyArrayElement(shard, i + 1);
      if (rm::CallReplyType(value) != rm::kReplyArray) continue;
      const std::size_t n = rm::CallReplyLength(value);
      if (name == "slots") {
        for (std::size_t j = 0; j + 1 < n; j += 2) {
          const long long first = rm::CallReplyInteger(rm::CallReplyArrayElement(value, j));
          const long long last = rm::CallReplyInteger(rm::CallReplyArrayElement(value, j + 1));
          if (first >= 0 && last >= first && last < kSlotCount)
            d.slots.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)});
        }
      } else if (name == "nodes") {
        for (std::size_t j = 0; j < n; ++j) {
          rm::CallReply* node = rm::CallReplyArrayElement(value, j);
          if (rm::CallReplyType(node) == rm::kReplyArray) d.nodes.push_back(parse_node(node));
        }
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ClusterState::init(rm::Ctx* ctx) {
  enabled_ = (rm::GetContextFlags(ctx) & rm::kCtxCluster) != 0;
  unsigned char bytes[8];
  rm::GetRandomBytes(bytes, sizeof bytes);
  std::memcpy(&nonce_, bytes, sizeof nonce_);
}

const std::string& ClusterState::my_id() {
  if (my_id_.empty() && enabled_) {
    const char* id = rm::GetMyClusterID();
    if (id) my_id_.assign(id, rm::kNodeIdLength);
  }
  return my_id_;
}

const Topology& ClusterState::topology(rm::Ctx* ctx, bool force) {
  const long long now = now_ms();
  if (!force && topology_at_ms_ >= 0 && now - topology_at_ms_ < kTopologyMaxAgeMs) return topology_;
  rm::ReplyPtr reply(rm::Call(ctx, "CLUSTER", "c", "SHARDS"));
  if (!reply || rm::CallReplyType(reply.get()) != rm::kReplyArray)
    throw vindex::Error(vindex::ErrorCode::kSourceFailure, "CLUSTER SHARDS failed");
  topology_ = Topology::build(parse_shards(reply.get()), my_id());
  topology_at_ms_ = now;
  ++counters.topology_refreshes;
  return topology_;
}

bool ClusterState::usable(rm::Ctx* ctx, const NodeDesc& node) const {
  if (node.health == "failed") return false;
  char ip[64] = {};
  char master[rm::kNodeIdLength + 1] = {};
  int port = 0, flags = 0;
  const std::string id = node.id;  // NUL-terminated: the server looks the id up with strlen
  if (rm::GetClusterNodeInfo(ctx, id.c_str(), ip, master, &port, &flags) != rm::kOk) return false;
  return (flags & (rm::kNodePfail | rm::kNodeFail)) == 0;
}

SelfView ClusterState::self_view(rm::Ctx* ctx) {
  rm::ReplyPtr reply(rm::Call(ctx, "CLUSTER", "c", "NODES"));
  if (!reply || rm::CallReplyType(reply.get()) != rm::kReplyString) return {};
  return parse_cluster_nodes(reply_text(reply.get()));
}

ClusterState& cluster() {
  static ClusterState state;
  return state;
}

}  // namespace vindex_redis
