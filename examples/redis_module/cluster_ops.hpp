// examples/redis_module/cluster_ops.hpp — requests waiting for other nodes, and their clients.
//
// An `Operation` is one command that asked other nodes something (a search, an FT.INFO, a catalog
// change) and waits for their answers while its client is blocked. `Operations` gives each a
// request id, finds it again when an answer arrives (answers for an id that has finished, or from a
// node the operation is not waiting for, are dropped and counted), and owns the blocked-client
// plumbing: the client is blocked with the operation's deadline as timeout; when the operation is
// complete it is unblocked from the bus callback and replies from the reply callback; at the
// deadline the timeout callback replies (an error naming who did not answer, or what arrived) and
// forgets the operation, so late answers are dropped; a client that disconnects frees it too.
// Main thread only. Next: cluster_search.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "cluster_frame.hpp"
#include "module_api_cluster.hpp"

namespace vindex_redis {

/// A command waiting for answers from other nodes.
class Operation {
 public:
  virtual ~Operation() = default;
  /// The kind of message that answers this operation's requests.
  virtual MessageKind answer_kind() const = 0;
  /// An answer arrived from `sender` (already matched by request id and nonce). Returns false when
  /// the operation was not waiting for that node (the answer is then counted and dropped).
  virtual bool on_answer(rm::Ctx* ctx, std::string_view sender, Message& message) = 0;
  /// True once nothing more is awaited.
  virtual bool complete() const = 0;
  /// Replies to the client once complete.
  virtual int reply(rm::Ctx* ctx) = 0;
  /// Replies to the client at the deadline, with some answers missing.
  virtual int reply_timeout(rm::Ctx* ctx) = 0;

  std::uint64_t id = 0;                 ///< request id (set by Operations::add)
  rm::BlockedClient* client = nullptr;  ///< the blocked client (set by Operations::block)
  long long deadline_ms = 0;            ///< now_ms() at which the operation gives up
};

/// Operations in flight.
class Operations {
 public:
  /// Gives `op` a request id and keeps it until it finishes.
  std::uint64_t add(std::shared_ptr<Operation> op);
  /// Blocks the client of `ctx` until `op` completes or its deadline passes. False when the client
  /// cannot block (MULTI, Lua): the caller replies itself.
  bool block(rm::Ctx* ctx, const std::shared_ptr<Operation>& op);
  /// Routes an answer to its operation; finishes the operation when it is complete.
  void deliver(rm::Ctx* ctx, std::string_view sender, Message& message);
  /// Forgets `op` without replying (the caller replied directly, never blocked).
  void forget(std::uint64_t id) { by_id_.erase(id); }
  /// Unblocks operations whose deadline passed long ago (a backstop: the blocked-client timeout
  /// normally ends them first).
  void sweep(long long now);
  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  void finish(const std::shared_ptr<Operation>& op);
  static int on_reply(rm::Ctx* ctx, rm::String**, int);
  static int on_timeout(rm::Ctx* ctx, rm::String**, int);
  static void on_free(rm::Ctx* ctx, void* privdata);
  static void on_disconnect(rm::Ctx* ctx, rm::BlockedClient* client);
  std::shared_ptr<Operation> take_by_client(rm::BlockedClient* client);

  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Operation>> by_id_;
};

/// The module's operations.
Operations& operations();

}  // namespace vindex_redis
