// examples/redis_module/cluster_transport.cpp — frames over the cluster bus.
#include "cluster_transport.hpp"

#include <exception>
#include <string>

#include "cluster_state.hpp"

namespace vindex_redis {

void BusTransport::start(rm::Ctx* ctx, MessageHandler handler) {
  handler_ = handler;
  rm::RegisterClusterMessageReceiver(ctx, kBusType, &BusTransport::receive);
}

bool BusTransport::send(rm::Ctx* ctx, std::string_view node_id, MessageKind kind, std::uint64_t nonce,
                        std::uint64_t request_id, std::string_view body) {
  // The server looks the target up with strlen: pass a NUL-terminated copy of the id.
  const std::string target(node_id);
  for (const std::string& frame : encode_frames(kind, nonce, request_id, body)) {
    if (rm::SendClusterMessage(ctx, target.c_str(), kBusType, frame.data(), static_cast<std::uint32_t>(frame.size())) !=
        rm::kOk) {
      ++cluster().counters.send_failures;
      return false;
    }
    ++cluster().counters.frames_sent;
  }
  return true;
}

void BusTransport::broadcast(rm::Ctx* ctx, MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
                             std::string_view body) {
  for (const std::string& frame : encode_frames(kind, nonce, request_id, body)) {
    if (rm::SendClusterMessage(ctx, nullptr, kBusType, frame.data(), static_cast<std::uint32_t>(frame.size())) ==
        rm::kOk) {
      ++cluster().counters.frames_sent;
    } else {
      ++cluster().counters.send_failures;
    }
  }
}

void BusTransport::receive(rm::Ctx* ctx, const char* sender, std::uint8_t type, const unsigned char* payload,
                           std::uint32_t length) {
  BusTransport& self = bus();
  if (type != kBusType || !self.handler_ || !sender) return;
  // The sender id is 40 bytes, not NUL-terminated.
  const std::string_view from(sender, rm::kNodeIdLength);
  try {
    std::optional<Message> message =
        self.inbox_.accept(from, std::string_view(reinterpret_cast<const char*>(payload), length),
                           static_cast<std::uint64_t>(now_ms()));
    if (message) self.handler_(ctx, from, *message);
  } catch (const std::exception& e) {
    // Nothing may escape into the server; a handler that failed has logged what it could.
    rm::Log(ctx, "warning", "vindex: a cluster message from %.40s was dropped: %s", sender, e.what());
  }
}

BusTransport& bus() {
  static BusTransport transport;
  return transport;
}

}  // namespace vindex_redis
