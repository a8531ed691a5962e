// libFuzzer target for the cluster messages a node receives from other nodes (examples/redis_module/
// cluster_frame.* and cluster_messages.*): a frame from another node is hostile input. The first byte
// picks the mode: 0..6 decodes the rest as one message body of that kind (bodies are reached without
// a valid checksum that way), anything else feeds the rest to an Inbox as a stream of frames from a
// few senders ([sender u8][length u16][bytes] records). Either way nothing may crash, hang or
// allocate without bound; a body that decodes must encode back to exactly the same bytes (the
// decoders accept one spelling only), and a message the Inbox completes must decode or be refused
// with FrameError.
// Build: CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
// Run:   build-fuzz/tests/fuzz/fuzz_cluster_frame -max_total_time=30 tests/fuzz/cluster_corpus
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster_frame.hpp"
#include "cluster_messages.hpp"

namespace {

using namespace vindex_redis;

[[noreturn]] void bug() { std::abort(); }

template <class Decode>
void round_trip(std::string_view body, Decode decode) {
  try {
    const auto message = decode(body);
    if (encode(message) != body) bug();
  } catch (const FrameError&) {
  }
}

void decode_body(std::uint8_t kind, std::string_view body) {
  switch (kind) {
    case 0: round_trip(body, decode_search_request); break;
    case 1: round_trip(body, decode_search_response); break;
    case 2: round_trip(body, decode_info_request); break;
    case 3: round_trip(body, decode_info_response); break;
    case 4: round_trip(body, decode_catalog_digest); break;
    case 5: round_trip(body, decode_catalog_put); break;
    case 6: round_trip(body, decode_catalog_ack); break;
    default: break;
  }
}

std::uint8_t body_mode(MessageKind kind) {
  switch (kind) {
    case MessageKind::kSearchRequest: return 0;
    case MessageKind::kSearchResponse: return 1;
    case MessageKind::kInfoRequest: return 2;
    case MessageKind::kInfoResponse: return 3;
    case MessageKind::kCatalogDigest: return 4;
    case MessageKind::kCatalogPut: return 5;
    case MessageKind::kCatalogAck: return 6;
    case MessageKind::kCatalogGet: return 7;
  }
  return 7;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] < 7) {
    decode_body(data[0], rest);
    return 0;
  }
  // Small limits so chunking, eviction and expiry paths are reached by small inputs.
  Inbox inbox({.max_frame_bytes = 512, .max_message_bytes = 4096, .max_partials = 3, .partial_ttl_ms = 5});
  std::size_t pos = 0;
  std::uint64_t now = 0;
  while (pos + 3 <= rest.size()) {
    const std::string sender(40, static_cast<char>('a' + static_cast<unsigned char>(rest[pos]) % 4));
    const std::size_t length = static_cast<unsigned char>(rest[pos + 1]) | (static_cast<unsigned char>(rest[pos + 2]) << 8);
    pos += 3;
    const std::string_view frame = rest.substr(pos, std::min(length, rest.size() - pos));
    pos += frame.size();
    if (auto message = inbox.accept(sender, frame, now++)) {
      if (message->body.size() > 4096) bug();
      decode_body(body_mode(message->kind), message->body);
    }
    inbox.expire(now);
    if (inbox.partials() > 3) bug();
  }
  return 0;
}
