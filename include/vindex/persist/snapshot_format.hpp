// vindex/persist/snapshot_format.hpp — the container format of every snapshot: header and sections.
//
// A snapshot is a 20-byte header {magic, format version, flags, CRC-32C of the header} followed by
// sections {u32 tag, u32 flags, u64 payload length, payload, u32 CRC-32C of tag..payload} and closed
// by an END section that counts the sections before it. Sections a reader does not know are skipped
// when their flags say they may be. `SnapshotWriter` writes this framing; `SnapshotReader` reads it,
// checks every size against the limits and the bytes actually left before allocating, and verifies
// each checksum before handing a payload to a parser. The byte-level specification is
// docs/snapshot-format.md; the tags below are frozen.
//
// Not synchronised: one thread per writer/reader. Errors: Error(kCorruptData) naming the section
// and stream offset; Error(kIo) from the stream. Next: persist/index_sections.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/persist/crc32c.hpp"
#include "vindex/persist/little_endian.hpp"
#include "vindex/persist/payload.hpp"
#include "vindex/persist/serializer.hpp"

namespace vindex::snapshot {

/// The first 8 bytes of every snapshot: 0x89 'V' 'D' 'X' CR LF 0x1A LF (a high byte and line ends
/// catch 7-bit and text-mode mangling, as in PNG).
inline constexpr std::array<std::byte, 8> kMagic = {std::byte{0x89}, std::byte{'V'},  std::byte{'D'},  std::byte{'X'},
                                                    std::byte{'\r'}, std::byte{'\n'}, std::byte{0x1a}, std::byte{'\n'}};
/// The format version this library writes, and the newest it reads (independent of the library version).
inline constexpr std::uint32_t kFormatVersion = 1;
/// The oldest format version this library reads.
inline constexpr std::uint32_t kOldestReadableVersion = 1;
/// Bytes of the header: magic, version, flags, CRC-32C.
inline constexpr std::size_t kHeaderBytes = 20;
/// Bytes before a section payload: tag, flags, length.
inline constexpr std::size_t kSectionHeaderBytes = 16;
/// Bytes after a section payload: its CRC-32C.
inline constexpr std::size_t kSectionTrailerBytes = 4;
/// Largest payload a section may have (64 MiB); writers split larger data over several sections.
inline constexpr std::uint64_t kMaxSectionBytes = std::uint64_t{64} << 20;

/// A section tag from its four ASCII characters, stored so that the characters appear in order in
/// the file ("INDX" is the bytes 'I' 'N' 'D' 'X').
constexpr std::uint32_t fourcc(const char (&s)[5]) noexcept {
  return std::uint32_t{static_cast<unsigned char>(s[0])} | std::uint32_t{static_cast<unsigned char>(s[1])} << 8 |
         std::uint32_t{static_cast<unsigned char>(s[2])} << 16 | std::uint32_t{static_cast<unsigned char>(s[3])} << 24;
}

/// Section tags. Frozen: a tag, once released, keeps its meaning and payload layout.
namespace tag {
inline constexpr std::uint32_t kIndex = fourcc("INDX");       ///< index kind, schema, counts (first)
inline constexpr std::uint32_t kFlatParams = fourcc("FPRM");  ///< FLAT parameters
inline constexpr std::uint32_t kEntries = fourcc("ENTR");     ///< keys, magnitudes, vectors (repeatable)
inline constexpr std::uint32_t kEnd = fourcc("END.");         ///< section count; the last section
inline constexpr std::uint32_t kHnswParams = fourcc("HPRM");  ///< HNSW parameters, entry point, level generator
inline constexpr std::uint32_t kHnswLinks = fourcc("HLNK");   ///< HNSW neighbour lists (repeatable)
inline constexpr std::uint32_t kDefinition = fourcc("KDEF");  ///< keyspace index: its definition (after the index)
inline constexpr std::uint32_t kAttributes = fourcc("ATTR");  ///< keyspace index: attribute rows (repeatable)
inline constexpr std::uint32_t kFailures = fourcc("FAIL");    ///< keyspace index: failing keys (repeatable)
inline constexpr std::uint32_t kBackfill = fourcc("BKFL");    ///< keyspace index: failure counters, scan checkpoint, queued writes
inline constexpr std::uint32_t kFailureEvents = fourcc("FEVX");  ///< failure event counters of codes >= 6
                                                                 ///< (skippable; only when non-zero)
inline constexpr std::uint32_t kQuantizer = fourcc("SQ8Q");  ///< HNSW SQ8: the quantizer's ranges (skippable)
/// Whether this version of the format knows `t` (a reader skips other tags only when skippable).
constexpr bool is_known(std::uint32_t t) noexcept {
  return t == kIndex || t == kFlatParams || t == kEntries || t == kEnd || t == kHnswParams || t == kHnswLinks ||
         t == kDefinition || t == kAttributes || t == kFailures || t == kBackfill || t == kFailureEvents ||
         t == kQuantizer;
}
}  // namespace tag

/// Section flag bits. Bits not defined here are written as 0 and ignored by readers.
namespace section_flag {
inline constexpr std::uint32_t kSkippable = 1;  ///< a reader that does not know the tag may skip it
}

/// Writes a snapshot's header, sections and END section to a Serializer.
class SnapshotWriter {
 public:
  /// Writes the header to `out`, which must outlive the writer.
  explicit SnapshotWriter(Serializer& out) : out_(out) {
    std::array<std::byte, kHeaderBytes> header{};
    for (std::size_t i = 0; i < kMagic.size(); ++i) header[i] = kMagic[i];
    le::store(header.data() + 8, kFormatVersion);
    le::store(header.data() + 12, std::uint32_t{0});
    le::store(header.data() + 16, crc32c(0, std::span<const std::byte>(header.data(), 16)));
    put(header);
  }

  /// Writes one section. Throws kInvalidArgument when the payload exceeds kMaxSectionBytes.
  void section(std::uint32_t tag, std::span<const std::byte> payload, std::uint32_t flags = 0) {
    if (payload.size() > kMaxSectionBytes)
      throw Error(ErrorCode::kInvalidArgument, "section " + section_tag_name(tag) + " payload of " +
                                                   std::to_string(payload.size()) + " bytes exceeds the 64 MiB limit");
    std::array<std::byte, kSectionHeaderBytes> head{};
    le::store(head.data(), tag);
    le::store(head.data() + 4, flags);
    le::store(head.data() + 8, std::uint64_t{payload.size()});
    std::array<std::byte, kSectionTrailerBytes> tail{};
    le::store(tail.data(), crc32c(crc32c(0, head), payload));
    put(head);
    put(payload);
    put(tail);
    ++sections_;
  }

  /// Writes the END section. The snapshot is complete once this returns.
  void finish() {
    std::array<std::byte, 8> count{};
    le::store(count.data(), sections_);
    section(tag::kEnd, count);
  }

  /// Bytes written so far.
  std::uint64_t bytes_written() const noexcept { return bytes_; }

 private:
  void put(std::span<const std::byte> bytes) {
    if (bytes.empty()) return;
    out_.write(bytes);
    bytes_ += bytes.size();
  }

  Serializer& out_;
  std::uint64_t sections_ = 0;
  std::uint64_t bytes_ = 0;
};

/// One section as read, with a verified checksum. `payload` is valid until the next `next()`.
struct Section {
  std::uint32_t tag = 0;                ///< section tag
  std::uint32_t flags = 0;              ///< section flags
  std::uint64_t index = 0;              ///< 0-based position among the sections
  std::uint64_t offset = 0;             ///< stream offset of the section header
  std::span<const std::byte> payload;   ///< the payload bytes

  /// True when a reader that does not know the tag may skip it.
  bool skippable() const noexcept { return (flags & section_flag::kSkippable) != 0; }
  /// A bounds-checked cursor over the payload.
  PayloadCursor cursor() const noexcept {
    return PayloadCursor(payload, {tag, index, offset + kSectionHeaderBytes});
  }
  /// Location prefix for error messages.
  std::string where() const {
    return "snapshot section " + section_tag_name(tag) + " #" + std::to_string(index) + " at stream offset " +
           std::to_string(offset);
  }
};

/// Reads a snapshot's header and sections from a Deserializer, verifying sizes and checksums.
class SnapshotReader {
 public:
  /// Reads and checks the header of the snapshot in `in` (which must outlive the reader). Throws
  /// kCorruptData for a wrong magic, a bad header checksum, a format version this library cannot
  /// read, or unknown header flags.
  explicit SnapshotReader(Deserializer& in) : in_(in) {
    std::array<std::byte, kHeaderBytes> header{};
    read_exact(header, "the snapshot header");
    for (std::size_t i = 0; i < kMagic.size(); ++i)
      if (header[i] != kMagic[i]) throw corrupt("not a vindex snapshot: wrong magic bytes at offset 0");
    const std::uint32_t stored = le::load<std::uint32_t>(header.data() + 16);
    const std::uint32_t computed = crc32c(0, std::span<const std::byte>(header.data(), 16));
    if (stored != computed) throw corrupt("snapshot header checksum mismatch" + crc_detail(stored, computed));
    version_ = le::load<std::uint32_t>(header.data() + 8);
    if (version_ > kFormatVersion)
      throw corrupt("snapshot format version " + std::to_string(version_) + " is newer than this reader (" +
                    std::to_string(kFormatVersion) + ") at offset 8");
    if (version_ < kOldestReadableVersion)
      throw corrupt("snapshot format version " + std::to_string(version_) + " is not a valid version (offset 8)");
    if (const std::uint32_t flags = le::load<std::uint32_t>(header.data() + 12); flags != 0)
      throw corrupt("snapshot header has unknown flags " + std::to_string(flags) + " at offset 12");
  }

  /// The snapshot's format version.
  std::uint32_t format_version() const noexcept { return version_; }
  /// Stream offset of the next unread byte.
  std::uint64_t offset() const noexcept { return offset_; }
  /// The section `next()` returned last (valid until the next call of `next()`).
  const Section& current() const noexcept { return current_; }
  /// True once the END section has been read.
  bool finished() const noexcept { return finished_; }

  /// Reads the next section and verifies its checksum. The END section is returned like any other
  /// (tag::kEnd) after its section count was checked; nothing may be read after it.
  const Section& next() {
    if (finished_) throw corrupt("read past the END section at offset " + std::to_string(offset_));
    Section& s = current_;
    s.index = sections_;
    s.offset = offset_;
    std::array<std::byte, kSectionHeaderBytes> head{};
    read_exact(head, "the header of section #" + std::to_string(s.index) + " (no END section yet)");
    s.tag = le::load<std::uint32_t>(head.data());
    s.flags = le::load<std::uint32_t>(head.data() + 4);
    const std::uint64_t length = le::load<std::uint64_t>(head.data() + 8);
    if (length > kMaxSectionBytes)
      throw corrupt(s.where() + ": payload length " + std::to_string(length) + " exceeds the 64 MiB limit");
    if (const auto left = in_.remaining(); left && length + kSectionTrailerBytes > *left)
      throw corrupt(s.where() + ": payload length " + std::to_string(length) + " but only " + std::to_string(*left) +
                    " bytes remain in the stream");
    read_payload(static_cast<std::size_t>(length), s);
    std::array<std::byte, kSectionTrailerBytes> tail{};
    read_exact(tail, s.where() + ": the checksum");
    const std::uint32_t stored = le::load<std::uint32_t>(tail.data());
    const std::uint32_t computed = crc32c(crc32c(0, head), s.payload);
    if (stored != computed) throw corrupt(s.where() + ": checksum mismatch" + crc_detail(stored, computed));
    ++sections_;
    if (s.tag == tag::kEnd) {
      PayloadCursor c = s.cursor();
      const std::uint64_t count = c.u64("END section count");
      c.expect_end();
      if (count != s.index)
        throw corrupt(s.where() + ": END says " + std::to_string(count) + " sections precede it, but " +
                      std::to_string(s.index) + " did");
      finished_ = true;
    }
    return s;
  }

  /// For a section whose tag the caller does not know: returns when it is skippable, throws
  /// kCorruptData ("needs a newer reader") otherwise.
  static void skip_unknown(const Section& s) {
    if (!s.skippable())
      throw corrupt(s.where() + ": unknown section that is not skippable (written by a newer version?)");
  }

 private:
  static Error corrupt(const std::string& detail) { return Error(ErrorCode::kCorruptData, detail); }

  static std::string crc_detail(std::uint32_t stored, std::uint32_t computed) {
    static constexpr char kHex[] = "0123456789abcdef";
    auto hex = [](std::uint32_t v) {
      std::string s = "0x";
      for (int sh = 28; sh >= 0; sh -= 4) s += kHex[(v >> sh) & 0xfu];
      return s;
    };
    return " (stored " + hex(stored) + ", computed " + hex(computed) + ")";
  }

  // Reads exactly out.size() bytes, adding what was being read to a truncation error.
  void read_exact(std::span<std::byte> out, const std::string& what) {
    try {
      in_.read(out);
    } catch (const Error& e) {
      std::string inner = e.what();
      const std::string prefix = "vindex: " + std::string(to_string(e.code())) + ": ";
      if (inner.compare(0, prefix.size(), prefix) == 0) inner.erase(0, prefix.size());
      throw Error(e.code(), "snapshot truncated or unreadable while reading " + what + " at offset " +
                                std::to_string(offset_) + ": " + inner);
    }
    offset_ += out.size();
  }

  // Reads a payload into the reusable buffer. When the stream cannot tell how much remains, the
  // buffer grows only as bytes actually arrive, so a lying length costs at most what is there.
  void read_payload(std::size_t length, Section& s) {
    static constexpr std::size_t kStep = std::size_t{1} << 20;
    const bool known = in_.remaining().has_value();
    std::size_t done = 0;
    buffer_.clear();
    while (done < length) {
      const std::size_t n = known ? length - done : std::min(kStep, length - done);
      buffer_.resize(done + n);
      read_exact(std::span<std::byte>(buffer_.data() + done, n), s.where() + ": the payload");
      done += n;
    }
    s.payload = std::span<const std::byte>(buffer_.data(), length);
  }

  Deserializer& in_;
  std::uint32_t version_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t sections_ = 0;
  bool finished_ = false;
  Section current_;
  std::vector<std::byte> buffer_;
};

}  // namespace vindex::snapshot
