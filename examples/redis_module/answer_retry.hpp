// examples/redis_module/answer_retry.hpp — answers to other nodes that the bus could not take yet.
//
// A shard answers a coordinator's request (a search, an FT.INFO) over the cluster bus. When the
// link to the coordinator is down at that moment (links reset on failovers, restarts and timeouts,
// and a node reconnects within a cluster-cron tick or two), the send fails. Before, that answer was
// lost: the coordinator waited out its whole timeout and replied "did not answer". `AnswerRetry`
// keeps such an answer and sends it again on each timer tick until it goes or its request's
// deadline passes (the coordinator has stopped waiting then, and would drop it as late).
//
// Bounded, because a coordinator that stays unreachable must not make a shard hold memory: at most
// kMaxAnswers answers and kMaxBytes bytes; past either, the oldest answer is dropped (counted).
// Pure (sends through a Transport), main thread only. Next: cluster_search.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "cluster_frame.hpp"
#include "cluster_transport.hpp"

namespace vindex_redis {

/// Answers waiting for a link to come back (see the header comment).
class AnswerRetry {
 public:
  static constexpr std::size_t kMaxAnswers = 64;
  static constexpr std::size_t kMaxBytes = std::size_t{32} << 20;

  /// What it did since the module loaded.
  struct Counters {
    std::uint64_t held = 0;     ///< answers whose first send failed and were kept
    std::uint64_t resent = 0;   ///< held answers a later send delivered to the bus
    std::uint64_t expired = 0;  ///< held answers dropped at their request's deadline
    std::uint64_t dropped = 0;  ///< held answers dropped to stay within the bounds
  };

  /// Sends an answer to `node`; when the transport cannot take it now, keeps it to send again
  /// until `until_ms` (on the clock of `now_ms`). Returns whether it went now.
  bool send_or_hold(rm::Ctx* ctx, Transport& transport, std::string_view node, MessageKind kind,
                    std::uint64_t nonce, std::uint64_t request_id, std::string body, long long now_ms,
                    long long until_ms);

  /// Sends every held answer again, in the order they were held; drops those whose deadline is
  /// `now_ms` or earlier. An answer that still cannot go stays held.
  void retry(rm::Ctx* ctx, Transport& transport, long long now_ms);

  /// Answers held now.
  std::size_t size() const noexcept { return answers_.size(); }
  /// Bytes of the answers held now.
  std::size_t bytes() const noexcept { return bytes_; }
  const Counters& counters() const noexcept { return counters_; }

 private:
  struct Held {
    std::string node;
    MessageKind kind;
    std::uint64_t nonce;
    std::uint64_t request_id;
    std::string body;
    long long until_ms;
  };
  std::deque<Held> answers_;
  std::size_t bytes_ = 0;
  Counters counters_;
};

/// The module's answers waiting for a link.
AnswerRetry& answer_retry();

}  // namespace vindex_redis
