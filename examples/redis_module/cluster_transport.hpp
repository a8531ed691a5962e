// examples/redis_module/cluster_transport.hpp — how messages reach other nodes.
//
// `Transport` is the small interface the cluster code sends through: a message (kind, nonce,
// request id, body) to one node, or to every other node. `BusTransport` implements it over the Redis
// Cluster bus (RedisModule_SendClusterMessage): no extra port, no credentials, no thread; frames of
// at most 256 KiB (cluster_frame.hpp) under one bus message type, received on the main thread by
// the registered receiver, joined by an `Inbox`, and handed to the handler as whole messages.
// Another transport (hiredis connections, say) would implement the same two calls and feed the
// same handler. The bus delivers in order per link but gives no acknowledgement and drops what was
// queued when a link resets, so every request has a deadline and every answer is matched by
// request id and sender (cluster_ops.hpp). Main thread only. Next: cluster_ops.hpp.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster_frame.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// Sends messages to other nodes.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends a message to node `node_id`; false when it cannot go now (unknown node, no link).
  virtual bool send(rm::Ctx* ctx, std::string_view node_id, MessageKind kind, std::uint64_t nonce,
                    std::uint64_t request_id, std::string_view body) = 0;
  /// Sends a message to every other node the transport can reach.
  virtual void broadcast(rm::Ctx* ctx, MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
                         std::string_view body) = 0;
};

/// What receives whole messages: (context of the receiving callback, sender's 40-character id, message).
using MessageHandler = void (*)(rm::Ctx* ctx, std::string_view sender, Message& message);

/// The Redis Cluster bus as a Transport.
class BusTransport final : public Transport {
 public:
  /// Bus message type of every vindex frame. Modules whose name is not 9 characters long share
  /// module id 0 on the bus, so frames also carry a magic; 0xB0 keeps clear of type 0, which
  /// valkey-search uses.
  static constexpr std::uint8_t kBusType = 0xB0;

  /// Registers the bus receiver that feeds `handler`.
  void start(rm::Ctx* ctx, MessageHandler handler);
  bool send(rm::Ctx* ctx, std::string_view node_id, MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
            std::string_view body) override;
  void broadcast(rm::Ctx* ctx, MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
                 std::string_view body) override;
  /// Drops partial messages that stalled.
  void expire(long long now_ms) { inbox_.expire(static_cast<std::uint64_t>(now_ms)); }
  const Inbox& inbox() const noexcept { return inbox_; }

 private:
  static void receive(rm::Ctx* ctx, const char* sender, std::uint8_t type, const unsigned char* payload,
                      std::uint32_t length);
  Inbox inbox_;
  MessageHandler handler_ = nullptr;
};

/// The module's transport.
BusTransport& bus();

/// A peer's cluster bus address.
struct BusPeer {
  std::string ip;
  int port = 0;
  friend auto operator<=>(const BusPeer&, const BusPeer&) = default;
};

/// Sets TCP_NODELAY on this process's TCP connections to `peers` that lack it; returns how many it
/// changed. Redis 7.0 sets it on the cluster bus connections a node accepts but not on the ones it
/// opens, which are the ones it sends on: with Nagle's algorithm on, a small message sent while the
/// previous one waits for a delayed ACK waits too (measured: 3.7 % of fan-outs took 38-45 ms).
/// Scans /proc/self/fd; touches nothing but sockets connected to a listed bus address.
std::size_t enable_bus_nodelay(const std::vector<BusPeer>& peers);

}  // namespace vindex_redis
