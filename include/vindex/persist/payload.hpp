// vindex/persist/payload.hpp — building and reading the payload of one snapshot section.
//
// `PayloadWriter` appends fixed-width little-endian fields to an in-memory payload. `PayloadCursor`
// reads them back with every read bounds-checked, and `check_count` proves that `count` items of a
// given size fit in the bytes that are actually left (overflow-checked) before anyone allocates for
// them. Every failure is Error(kCorruptData) naming the section, its position in the stream, the
// byte within the payload and the field. Not synchronised. Next: persist/snapshot_options.hpp.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/persist/little_endian.hpp"

namespace vindex {

/// Printable name of a section tag: its four ASCII characters, or hex when they are not printable.
inline std::string section_tag_name(std::uint32_t tag) {
  std::string name;
  for (int i = 0; i < 4; ++i) {
    const auto c = static_cast<char>((tag >> (8 * i)) & 0xffu);
    if (c < 0x20 || c > 0x7e) {
      static constexpr char kHex[] = "0123456789abcdef";
      std::string hex = "0x";
      for (int s = 28; s >= 0; s -= 4) hex += kHex[(tag >> s) & 0xfu];
      return hex;
    }
    name += c;
  }
  return "'" + name + "'";
}

/// Appends little-endian fields to a section payload.
class PayloadWriter {
 public:
  /// Appends one byte.
  void u8(std::uint8_t v) { buf_.push_back(static_cast<std::byte>(v)); }
  /// Appends a 32-bit unsigned integer.
  void u32(std::uint32_t v) { put(v); }
  /// Appends a 64-bit unsigned integer.
  void u64(std::uint64_t v) { put(v); }
  /// Appends a binary32 float.
  void f32(float v) { put(std::bit_cast<std::uint32_t>(v)); }
  /// Appends floats as consecutive binary32 values.
  void floats(std::span<const float> v) { le::store_floats(grow(v.size_bytes()), v); }
  /// Appends raw bytes (no length prefix).
  void bytes(std::string_view v) {
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    buf_.insert(buf_.end(), p, p + v.size());
  }

  /// Overwrites the 32-bit integer at byte `at` (a count known only after the items were written).
  void patch_u32(std::size_t at, std::uint32_t v) noexcept { le::store(buf_.data() + at, v); }

  /// Bytes appended so far.
  std::size_t size() const noexcept { return buf_.size(); }
  /// The payload.
  std::span<const std::byte> view() const noexcept { return buf_; }
  /// Empties the payload, keeping its capacity.
  void clear() noexcept { buf_.clear(); }

 private:
  // One integer, appended from a local copy: resize() here made gcc 12 see a memset past the end
  // of a small payload (-Warray-bounds, a false positive) once the call was inlined deeply enough.
  template <class U>
  void put(U v) {
    std::array<std::byte, sizeof(U)> b;
    le::store(b.data(), v);
    buf_.insert(buf_.end(), b.begin(), b.end());
  }
  std::byte* grow(std::size_t n) {
    buf_.resize(buf_.size() + n);
    return buf_.data() + buf_.size() - n;
  }
  std::vector<std::byte> buf_;
};

/// Where a payload sits in its snapshot, for error messages.
struct PayloadOrigin {
  std::uint32_t tag = 0;            ///< section tag
  std::uint64_t section_index = 0;  ///< 0-based position among the snapshot's sections
  std::uint64_t offset = 0;         ///< stream offset of the payload's first byte
};

/// Bounds-checked little-endian reader over one section payload.
class PayloadCursor {
 public:
  /// Reads `payload`, which must outlive the cursor.
  PayloadCursor(std::span<const std::byte> payload, PayloadOrigin origin) noexcept
      : payload_(payload), origin_(origin) {}

  /// Reads one byte.
  std::uint8_t u8(std::string_view field) { return std::to_integer<std::uint8_t>(take(1, field)[0]); }
  /// Reads a 32-bit unsigned integer.
  std::uint32_t u32(std::string_view field) { return le::load<std::uint32_t>(take(4, field)); }
  /// Reads a 64-bit unsigned integer.
  std::uint64_t u64(std::string_view field) { return le::load<std::uint64_t>(take(8, field)); }
  /// Reads a binary32 float.
  float f32(std::string_view field) { return std::bit_cast<float>(u32(field)); }
  /// Fills `out` with consecutive binary32 values.
  void floats(std::span<float> out, std::string_view field) {
    le::load_floats(take(out.size_bytes(), field), out);
  }
  /// The next `n` bytes as a view into the payload.
  std::string_view bytes(std::uint64_t n, std::string_view field) {
    const std::size_t size = check_count(n, 1, field);
    return {reinterpret_cast<const char*>(take(size, field)), size};
  }

  /// Proves that `count` items of `item_bytes` each fit in the remaining bytes (overflow-checked)
  /// and returns `count`; throws kCorruptData otherwise. Call it before allocating for `count`.
  std::size_t check_count(std::uint64_t count, std::size_t item_bytes, std::string_view what) const {
    const std::size_t left = remaining();
    if (item_bytes == 0 ? count > left : count > left / item_bytes)
      fail(std::string(what) + " claims " + std::to_string(count) + " × " + std::to_string(item_bytes) +
           " bytes but only " + std::to_string(left) + " bytes remain in the section");
    return static_cast<std::size_t>(count);
  }

  /// Bytes not read yet.
  std::size_t remaining() const noexcept { return payload_.size() - position_; }
  /// Bytes read so far.
  std::size_t position() const noexcept { return position_; }
  /// Throws kCorruptData unless every byte of the payload was read.
  void expect_end() const {
    if (remaining() != 0) fail(std::to_string(remaining()) + " unexpected bytes at the end of the section");
  }

  /// The location prefix of error messages: "snapshot section 'ENTR' #3 at byte 1234 (+56)".
  std::string where() const {
    return "snapshot section " + section_tag_name(origin_.tag) + " #" + std::to_string(origin_.section_index) +
           ", payload byte " + std::to_string(position_) + " (stream offset " +
           std::to_string(origin_.offset + position_) + ")";
  }
  /// An Error with `code` whose message starts with `where()`.
  Error error(ErrorCode code, const std::string& detail) const { return Error(code, where() + ": " + detail); }
  /// Throws kCorruptData with `where()` and `detail`.
  [[noreturn]] void fail(const std::string& detail) const { throw error(ErrorCode::kCorruptData, detail); }

 private:
  const std::byte* take(std::size_t n, std::string_view field) {
    if (n > remaining())
      fail(std::string(field) + " needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
           " remain in the section");
    const std::byte* p = payload_.data() + position_;
    position_ += n;
    return p;
  }

  std::span<const std::byte> payload_;
  PayloadOrigin origin_;
  std::size_t position_ = 0;
};

}  // namespace vindex
