// examples/redis_module/cluster_frame.hpp — the frames cluster messages travel in, and reassembly.
//
// Every message between nodes (a search request, a shard's answer, a catalog change) is cut into
// frames of at most `max_frame_bytes` (256 KiB by default, so a big answer never holds up the
// cluster bus's gossip for long). A frame is
//
//     magic u32 "VXCF" | version u8 | kind u8 | flags u8 (bit 0: last chunk) | reserved u8 (0)
//     chunk u32 | nonce u64 | request id u64 | body length u32 | body | CRC-32C u32 of all before it
//
// little-endian. `nonce` is the requesting node's random boot number (answers echo it, so an answer
// meant for an earlier run of a restarted node is recognised), `request id` pairs answers with
// requests. A frame from another node is hostile input: `decode_frame` checks every field and the
// checksum before anything else reads the body, and `Inbox` joins the chunks of one message
// (in order, within a size limit), dropping and counting truncated, corrupt, oversized, wrong-magic,
// wrong-version, duplicate, out-of-order and orphaned frames. Pure code (no Redis calls), fuzzed by
// tests/fuzz/fuzz_cluster_frame.cpp. Main thread only. Next: cluster_messages.hpp (the bodies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace vindex_redis {

/// What a frame's bytes say is wrong (decoding bodies throws it too).
class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Message kinds (the frame's `kind` byte). Numbers are part of the wire format.
enum class MessageKind : std::uint8_t {
  kSearchRequest = 1,
  kSearchResponse = 2,
  kInfoRequest = 3,
  kInfoResponse = 4,
  kCatalogDigest = 5,
  kCatalogGet = 6,
  kCatalogPut = 7,
  kCatalogAck = 8,
};
/// Whether `kind` is a known message kind.
bool is_known_kind(std::uint8_t kind) noexcept;
/// Name of a kind, for logs.
std::string_view to_string(MessageKind kind) noexcept;

/// Wire constants.
inline constexpr std::uint32_t kFrameMagic = 0x46435856u;  // "VXCF" little-endian
// 2: search requests carry a tag and the fallback flag, answers their slot routes (issue #18).
inline constexpr std::uint8_t kFrameVersion = 2;
inline constexpr std::size_t kFrameHeaderBytes = 32;
inline constexpr std::size_t kFrameOverheadBytes = kFrameHeaderBytes + 4;
inline constexpr std::size_t kDefaultMaxFrameBytes = 256 * 1024;
inline constexpr std::size_t kDefaultMaxMessageBytes = 64u * 1024 * 1024;

/// One frame, decoded.
struct Frame {
  MessageKind kind{};
  bool last = true;            ///< the last chunk of its message
  std::uint32_t chunk = 0;     ///< position of this chunk in its message
  std::uint64_t nonce = 0;     ///< the requesting node's boot nonce
  std::uint64_t request_id = 0;
  std::string_view body;       ///< points into the bytes given to decode_frame
};

/// A whole message (every chunk joined).
struct Message {
  MessageKind kind{};
  std::uint64_t nonce = 0;
  std::uint64_t request_id = 0;
  std::string body;
};

/// Cuts a message into frames of at most `max_frame_bytes` each (at least one frame, even for an
/// empty body). Throws FrameError when `max_frame_bytes` leaves no room for a body byte.
std::vector<std::string> encode_frames(MessageKind kind, std::uint64_t nonce, std::uint64_t request_id,
                                       std::string_view body, std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

/// Checks and decodes one frame (magic, version, reserved byte, kind, length, checksum, size limit).
/// Throws FrameError naming the first problem.
Frame decode_frame(std::string_view bytes, std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

/// Counters of what an Inbox received and dropped.
struct InboxCounters {
  std::uint64_t frames = 0;         ///< frames given to accept()
  std::uint64_t messages = 0;       ///< complete messages returned
  std::uint64_t malformed = 0;      ///< failed decode_frame (bad magic, checksum, length, kind ...)
  std::uint64_t wrong_version = 0;  ///< a frame of another format version (counted apart: upgrades)
  std::uint64_t oversized = 0;      ///< a message past max_message_bytes (all its chunks dropped)
  std::uint64_t duplicate = 0;      ///< a chunk already received
  std::uint64_t out_of_order = 0;   ///< a chunk after a gap (the partial message is dropped)
  std::uint64_t orphaned = 0;       ///< a later chunk of a message whose start is unknown or expired
  std::uint64_t expired = 0;        ///< partial messages dropped for age or to make room
};

/// Limits of an Inbox.
struct InboxLimits {
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;
  std::size_t max_partials = 256;          ///< messages being joined at once
  std::uint64_t partial_ttl_ms = 60'000;   ///< a message whose next chunk takes longer is dropped
};

/// Joins frames from other nodes into messages. Chunks of one message arrive in order on one link
/// (the bus is TCP), so anything else is dropped and counted.
class Inbox {
 public:
  explicit Inbox(InboxLimits limits = {}) : limits_(limits) {}

  /// Takes one frame from node `sender`, received at `now_ms`; returns the message it completes.
  /// Never throws for bad input (it is counted); may throw std::bad_alloc.
  std::optional<Message> accept(std::string_view sender, std::string_view bytes, std::uint64_t now_ms);
  /// Drops partial messages older than the TTL.
  void expire(std::uint64_t now_ms);
  /// What was received and dropped.
  const InboxCounters& counters() const noexcept { return counters_; }
  /// Partial messages being joined.
  std::size_t partials() const noexcept { return partials_.size(); }

 private:
  using PartialKey = std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint8_t>;
  struct Partial {
    std::string body;
    std::uint32_t next_chunk = 0;
    std::uint64_t touched_ms = 0;
  };
  InboxLimits limits_;
  InboxCounters counters_;
  std::map<PartialKey, Partial> partials_;
};

/// Little-endian writer of message bodies.
class BodyWriter {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void f32(float v);
  void f64(double v);
  /// u32 length, then the bytes.
  void str(std::string_view s);
  std::string take() { return std::move(out_); }
  std::size_t size() const noexcept { return out_.size(); }

 private:
  void put(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  }
  std::string out_;
};

/// Little-endian reader of message bodies; every read checks the bytes left and throws FrameError.
class BodyReader {
 public:
  explicit BodyReader(std::string_view bytes) : in_(bytes) {}
  std::uint8_t u8();
  std::uint16_t u16() { return static_cast<std::uint16_t>(get(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  float f32();
  double f64();
  bool boolean();
  std::string str() { return std::string(str_view()); }
  std::string_view str_view();
  /// A count of elements that each take at least `min_element_bytes`: refused when the bytes left
  /// cannot hold that many (so a hostile count never drives an allocation).
  std::uint32_t count(std::size_t min_element_bytes);
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  /// Throws unless every byte was read.
  void finish() const;

 private:
  std::uint64_t get(int bytes);
  void need(std::size_t n) const;
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace vindex_redis
