// examples/redis_module/cluster_ops.cpp — request ids, blocked clients, deadlines.
#include "cluster_ops.hpp"

#include <algorithm>
#include <exception>

#include "cluster_state.hpp"

namespace vindex_redis {

std::uint64_t Operations::add(std::shared_ptr<Operation> op) {
  op->id = next_id_++;
  by_id_[op->id] = std::move(op);
  return next_id_ - 1;
}

bool Operations::block(rm::Ctx* ctx, const std::shared_ptr<Operation>& op) {
  if (rm::GetContextFlags(ctx) & rm::kCtxDenyBlocking) return false;
  const long long timeout = std::max(1LL, op->deadline_ms - now_ms());
  op->client = rm::BlockClient(ctx, &Operations::on_reply, &Operations::on_timeout, &Operations::on_free, timeout);
  if (!op->client) return false;
  rm::SetDisconnectCallback(op->client, &Operations::on_disconnect);
  return true;
}

void Operations::deliver(rm::Ctx* ctx, std::string_view sender, Message& message) {
  auto it = by_id_.find(message.request_id);
  if (message.nonce != cluster().nonce() || it == by_id_.end()) {
    ++cluster().counters.answers_late;
    return;
  }
  std::shared_ptr<Operation> op = it->second;
  if (message.kind != op->answer_kind() || !op->on_answer(ctx, sender, message)) {
    ++cluster().counters.answers_unexpected;
    return;
  }
  if (op->complete()) finish(op);
}

void Operations::finish(const std::shared_ptr<Operation>& op) {
  by_id_.erase(op->id);
  if (op->client) {
    rm::BlockedClient* client = op->client;
    op->client = nullptr;
    rm::UnblockClient(client, new std::shared_ptr<Operation>(op));
  }
}

void Operations::sweep(long long now) {
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    std::shared_ptr<Operation> op = it->second;
    if (now > op->deadline_ms + 5000) {
      // Also an operation whose command failed before blocking its client: forget it.
      it = by_id_.erase(it);
      if (rm::BlockedClient* client = op->client) {
        op->client = nullptr;
        rm::UnblockClient(client, nullptr);
      }
    } else {
      ++it;
    }
  }
}

std::shared_ptr<Operation> Operations::take_by_client(rm::BlockedClient* client) {
  for (auto it = by_id_.begin(); it != by_id_.end(); ++it) {
    if (it->second->client == client) {
      std::shared_ptr<Operation> op = it->second;
      by_id_.erase(it);
      op->client = nullptr;
      return op;
    }
  }
  return nullptr;
}

int Operations::on_reply(rm::Ctx* ctx, rm::String**, int) {
  auto* holder = static_cast<std::shared_ptr<Operation>*>(rm::GetBlockedClientPrivateData(ctx));
  if (!holder || !*holder) return rm::kOk;  // ended by the backstop sweep: the client got nothing to read
  try {
    return (*holder)->reply(ctx);
  } catch (const std::exception& e) {
    return rm::ReplyWithError(ctx, (std::string("ERR vindex: ") + e.what()).c_str());
  }
}

int Operations::on_timeout(rm::Ctx* ctx, rm::String**, int) {
  rm::BlockedClient* client = rm::GetBlockedClientHandle(ctx);
  std::shared_ptr<Operation> op = operations().take_by_client(client);
  // Not found: it finished (or was swept) and UnblockClient was called already; the server does not
  // time out such a client, so this is only a guard.
  if (!op) return rm::ReplyWithError(ctx, "ERR vindex: the request timed out");
  int result = rm::kOk;
  try {
    result = op->reply_timeout(ctx);
  } catch (const std::exception& e) {
    result = rm::ReplyWithError(ctx, (std::string("ERR vindex: ") + e.what()).c_str());
  }
  // A client blocked without keys is freed only by UnblockClient, also after its timeout.
  rm::UnblockClient(client, nullptr);
  return result;
}

void Operations::on_free(rm::Ctx*, void* privdata) { delete static_cast<std::shared_ptr<Operation>*>(privdata); }

void Operations::on_disconnect(rm::Ctx*, rm::BlockedClient* client) {
  if (operations().take_by_client(client)) rm::UnblockClient(client, nullptr);
}

Operations& operations() {
  static Operations ops;
  return ops;
}

}  // namespace vindex_redis
