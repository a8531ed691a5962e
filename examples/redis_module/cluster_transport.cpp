// examples/redis_module/cluster_transport.cpp — frames over the cluster bus.
#include "cluster_transport.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
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

std::size_t enable_bus_nodelay(const std::vector<BusPeer>& peers) {
  if (peers.empty()) return 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  std::size_t changed = 0;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;
    char ip[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (peer.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
      port = ntohs(a->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
      port = ntohs(a->sin6_port);
    } else {
      continue;
    }
    if (std::find(peers.begin(), peers.end(), BusPeer{ip, port}) == peers.end()) continue;
    int on = 0;
    socklen_t size = sizeof on;
    if (getsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &on, &size) != 0 || on) continue;
    on = 1;
    if (setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0) ++changed;
  }
  closedir(dir);
  return changed;
}

BusTransport& bus() {
  static BusTransport transport;
  return transport;
}

}  // namespace vindex_redis
