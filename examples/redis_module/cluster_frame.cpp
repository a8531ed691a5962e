// examples/redis_module/cluster_frame.cpp — frame encoding, checking and reassembly.
#include "cluster_frame.hpp"

#include <bit>
#include <cstring>
#include <span>

#include "vindex/persist/crc32c.hpp"

namespace vindex_redis {
namespace {

std::uint32_t checksum(std::string_view bytes) { return vindex::crc32c(bytes); }

std::uint64_t read_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

void write_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

}  // namespace

bool is_known_kind(std::uint8_t kind) noexcept { return kind >= 1 && kind <= 8; }

std::string_view to_string(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::kSearchRequest: return "SEARCH_REQ";
    case MessageKind::kSearchResponse: return "SEARCH_RESP";
    case MessageKind::kInfoRequest: return "INFO_REQ";
    case MessageKind::kInfoResponse: return "INFO_RESP";
    case MessageKind::kCatalogDigest: return "CATALOG_DIGEST";
    case MessageKind::kCatalogGet: return "CATALOG_GET";
    case MessageKind::kCatalogPut: return "CATALOG_PUT";
    case MessageKind::kCatalogAck: return "CATALOG_ACK";
  }
  return "?";
}

std::vector<std::string> encode_frames(MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
                                       std::string_view body, std::size_t max_frame_bytes) {
  if (max_frame_bytes <= kFrameOverheadBytes) throw FrameError("frame size limit leaves no room for a body");
  const std::size_t per_frame = max_frame_bytes - kFrameOverheadBytes;
  std::vector<std::string> frames;
  std::size_t pos = 0;
  std::uint32_t chunk = 0;
  do {
    const std::size_t n = std::min(per_frame, body.size() - pos);
    const bool last = pos + n == body.size();
    std::string f;
    f.reserve(kFrameOverheadBytes + n);
    write_le(f, kFrameMagic, 4);
    f.push_back(static_cast<char>(kFrameVersion));
    f.push_back(static_cast<char>(kind));
    f.push_back(static_cast<char>(last ? 1 : 0));
    f.push_back(0);
    write_le(f, chunk, 4);
    write_le(f, nonce, 8);
    write_le(f, request_id, 8);
    write_le(f, n, 4);
    f.append(body.substr(pos, n));
    write_le(f, checksum(f), 4);
    frames.push_back(std::move(f));
    pos += n;
    ++chunk;
  } while (pos < body.size());
  return frames;
}

Frame decode_frame(std::string_view bytes, std::size_t max_frame_bytes) {
  if (bytes.size() < kFrameOverheadBytes)
    throw FrameError("frame of " + std::to_string(bytes.size()) + " bytes is shorter than a header");
  if (bytes.size() > max_frame_bytes)
    throw FrameError("frame of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                     std::to_string(max_frame_bytes));
  const char* p = bytes.data();
  if (read_le(p, 4) != kFrameMagic) throw FrameError("bad magic");
  if (static_cast<std::uint8_t>(p[4]) != kFrameVersion)
    throw FrameError("frame version " + std::to_string(static_cast<unsigned char>(p[4])) + ", expected " +
                     std::to_string(kFrameVersion));
  const auto kind = static_cast<std::uint8_t>(p[5]);
  const auto flags = static_cast<std::uint8_t>(p[6]);
  if (!is_known_kind(kind)) throw FrameError("unknown message kind " + std::to_string(kind));
  if ((flags & ~1u) != 0 || p[7] != 0) throw FrameError("reserved bits set");
  const std::uint64_t length = read_le(p + 28, 4);
  if (length != bytes.size() - kFrameOverheadBytes) throw FrameError("body length does not match the frame size");
  const std::size_t crc_at = bytes.size() - 4;
  if (read_le(p + crc_at, 4) != checksum(bytes.substr(0, crc_at))) throw FrameError("checksum mismatch");
  Frame f;
  f.kind = static_cast<MessageKind>(kind);
  f.last = (flags & 1u) != 0;
  f.chunk = static_cast<std::uint32_t>(read_le(p + 8, 4));
  f.nonce = read_le(p + 12, 8);
  f.request_id = read_le(p + 20, 8);
  f.body = bytes.substr(kFrameHeaderBytes, length);
  return f;
}

std::optional<Message> Inbox::accept(std::string_view sender, std::string_view bytes, std::uint64_t now_ms) {
  ++counters_.frames;
  Frame f;
  try {
    f = decode_frame(bytes, limits_.max_frame_bytes);
  } catch (const FrameError&) {
    // Tell an honest peer of another format version from garbage: magic right, version wrong.
    if (bytes.size() >= 5 && read_le(bytes.data(), 4) == kFrameMagic &&
        static_cast<std::uint8_t>(bytes[4]) != kFrameVersion) {
      ++counters_.wrong_version;
    } else {
      ++counters_.malformed;
    }
    return std::nullopt;
  }
  PartialKey key{std::string(sender), f.nonce, f.request_id, static_cast<std::uint8_t>(f.kind)};
  if (f.chunk == 0 && f.last) {
    ++counters_.messages;
    return Message{f.kind, f.nonce, f.request_id, std::string(f.body)};
  }
  auto it = partials_.find(key);
  if (f.chunk == 0) {
    if (it != partials_.end()) {  // a message started twice: keep the first, drop this chunk
      ++counters_.duplicate;
      return std::nullopt;
    }
    if (f.body.size() > limits_.max_message_bytes) {
      ++counters_.oversized;
      return std::nullopt;
    }
    if (partials_.size() >= limits_.max_partials) {
      // Make room by dropping the stalest partial message.
      auto oldest = partials_.begin();
      for (auto p = partials_.begin(); p != partials_.end(); ++p)
        if (p->second.touched_ms < oldest->second.touched_ms) oldest = p;
      partials_.erase(oldest);
      ++counters_.expired;
    }
    Partial partial;
    partial.body.assign(f.body);
    partial.next_chunk = 1;
    partial.touched_ms = now_ms;
    partials_.emplace(std::move(key), std::move(partial));
    return std::nullopt;
  }
  if (it == partials_.end()) {  // its start was dropped, expired or never sent
    ++counters_.orphaned;
    return std::nullopt;
  }
  Partial& partial = it->second;
  if (f.chunk < partial.next_chunk) {
    ++counters_.duplicate;
    return std::nullopt;
  }
  if (f.chunk > partial.next_chunk) {
    ++counters_.out_of_order;
    partials_.erase(it);
    return std::nullopt;
  }
  if (partial.body.size() + f.body.size() > limits_.max_message_bytes) {
    ++counters_.oversized;
    partials_.erase(it);
    return std::nullopt;
  }
  partial.body.append(f.body);
  partial.next_chunk = f.chunk + 1;
  partial.touched_ms = now_ms;
  if (!f.last) return std::nullopt;
  Message m{f.kind, f.nonce, f.request_id, std::move(partial.body)};
  partials_.erase(it);
  ++counters_.messages;
  return m;
}

void Inbox::expire(std::uint64_t now_ms) {
  for (auto it = partials_.begin(); it != partials_.end();) {
    if (now_ms >= it->second.touched_ms && now_ms - it->second.touched_ms > limits_.partial_ttl_ms) {
      ++counters_.expired;
      it = partials_.erase(it);
    } else {
      ++it;
    }
  }
}

void BodyWriter::f32(float v) { u32(std::bit_cast<std::uint32_t>(v)); }
void BodyWriter::f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
void BodyWriter::str(std::string_view s) {
  if (s.size() > 0xffffffffu) throw FrameError("string too long for a frame body");
  u32(static_cast<std::uint32_t>(s.size()));
  out_.append(s);
}

void BodyReader::need(std::size_t n) const {
  if (n > remaining())
    throw FrameError("body truncated: " + std::to_string(n) + " bytes needed at offset " + std::to_string(pos_) +
                     ", " + std::to_string(remaining()) + " left");
}

std::uint64_t BodyReader::get(int bytes) {
  need(static_cast<std::size_t>(bytes));
  const std::uint64_t v = read_le(in_.data() + pos_, bytes);
  pos_ += static_cast<std::size_t>(bytes);
  return v;
}

std::uint8_t BodyReader::u8() { return static_cast<std::uint8_t>(get(1)); }
float BodyReader::f32() { return std::bit_cast<float>(u32()); }
double BodyReader::f64() { return std::bit_cast<double>(u64()); }

bool BodyReader::boolean() {
  const std::uint8_t v = u8();
  if (v > 1) throw FrameError("boolean byte " + std::to_string(v));
  return v == 1;
}

std::string_view BodyReader::str_view() {
  const std::uint32_t n = u32();
  need(n);
  const std::string_view s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}

std::uint32_t BodyReader::count(std::size_t min_element_bytes) {
  const std::uint32_t n = u32();
  if (min_element_bytes > 0 && n > remaining() / min_element_bytes)
    throw FrameError("count " + std::to_string(n) + " cannot fit in the " + std::to_string(remaining()) +
                     " bytes left");
  return n;
}

void BodyReader::finish() const {
  if (remaining() != 0) throw FrameError(std::to_string(remaining()) + " unread bytes after the body");
}

}  // namespace vindex_redis
