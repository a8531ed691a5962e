// examples/redis_module/answer_retry.cpp — answers to other nodes that the bus could not take yet.
#include "answer_retry.hpp"

#include <utility>

namespace vindex_redis {

bool AnswerRetry::send_or_hold(rm::Ctx* ctx, Transport& transport, std::string_view node, MessageKind kind,
                               std::uint64_t nonce, std::uint64_t request_id, std::string body, long long now_ms,
                               long long until_ms) {
  if (transport.send(ctx, node, kind, nonce, request_id, body)) return true;
  if (until_ms <= now_ms) {
    ++counters_.expired;
    return false;
  }
  if (body.size() > kMaxBytes) {
    ++counters_.dropped;
    return false;
  }
  while (!answers_.empty() && (answers_.size() >= kMaxAnswers || bytes_ + body.size() > kMaxBytes)) {
    bytes_ -= answers_.front().body.size();
    answers_.pop_front();
    ++counters_.dropped;
  }
  bytes_ += body.size();
  answers_.push_back({std::string(node), kind, nonce, request_id, std::move(body), until_ms});
  ++counters_.held;
  return false;
}

void AnswerRetry::retry(rm::Ctx* ctx, Transport& transport, long long now_ms) {
  if (answers_.empty()) return;  // the common case, on every timer tick
  std::deque<Held> kept;
  std::size_t kept_bytes = 0;
  for (Held& a : answers_) {
    if (a.until_ms <= now_ms) {
      ++counters_.expired;
    } else if (transport.send(ctx, a.node, a.kind, a.nonce, a.request_id, a.body)) {
      ++counters_.resent;
    } else {
      kept_bytes += a.body.size();
      kept.push_back(std::move(a));
    }
  }
  answers_ = std::move(kept);
  bytes_ = kept_bytes;
}

AnswerRetry& answer_retry() {
  static AnswerRetry retry;
  return retry;
}

}  // namespace vindex_redis
