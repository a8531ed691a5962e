// vindex/persist/memory_stream.hpp — snapshot streams over a byte buffer in memory.
//
// `MemorySerializer` appends to a growing buffer a host can move out (`take()`) and hand to its
// own persistence in one piece; `MemoryDeserializer` reads from a buffer the caller keeps alive.
// Not synchronised: one thread per stream. Next: persist/file_stream.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/persist/serializer.hpp"

namespace vindex {

/// A Serializer that collects the bytes in memory.
class MemorySerializer final : public Serializer {
 public:
  /// An empty buffer.
  MemorySerializer() = default;
  /// Writes into `buffer`'s storage (its content is discarded, its capacity reused), so a host that
  /// saves periodically can hand back the previous snapshot's buffer instead of faulting in a new one.
  explicit MemorySerializer(std::vector<std::byte> buffer) noexcept : bytes_(std::move(buffer)) { bytes_.clear(); }

  /// Appends `bytes` to the buffer.
  void write(std::span<const std::byte> bytes) override {
    if (bytes.empty()) return;
    // resize + memcpy rather than insert(): GCC 12 warns falsely (-Wstringop-overflow) on the latter.
    const std::size_t old_size = bytes_.size();
    if (bytes_.capacity() < old_size + bytes.size()) bytes_.reserve(std::max(2 * bytes_.capacity(), old_size + bytes.size()));
    bytes_.resize(old_size + bytes.size());
    std::memcpy(bytes_.data() + old_size, bytes.data(), bytes.size());
  }

  /// Reserves room for `total_bytes` more bytes, so a save grows the buffer only once.
  void expect_bytes(std::uint64_t total_bytes) override {
    if (total_bytes <= SIZE_MAX - bytes_.size()) bytes_.reserve(bytes_.size() + static_cast<std::size_t>(total_bytes));
  }

  /// The bytes written so far.
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  /// Moves the buffer out, leaving the serializer empty.
  std::vector<std::byte> take() noexcept { return std::exchange(bytes_, {}); }

 private:
  std::vector<std::byte> bytes_;
};

/// A Deserializer over a caller-owned byte buffer, which must outlive it.
class MemoryDeserializer final : public Deserializer {
 public:
  /// Reads from `bytes`.
  explicit MemoryDeserializer(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  /// Reads from the bytes of `text` (a host's string buffer).
  explicit MemoryDeserializer(std::string_view text) noexcept
      : bytes_(std::as_bytes(std::span<const char>(text.data(), text.size()))) {}
  /// Refused: the deserializer keeps a view, so a temporary buffer would dangle at once.
  explicit MemoryDeserializer(std::vector<std::byte>&&) = delete;
  /// Refused: the deserializer keeps a view, so a temporary string would dangle at once.
  explicit MemoryDeserializer(std::string&&) = delete;

  /// Copies the next out.size() bytes; throws kCorruptData (consuming nothing) when fewer remain.
  void read(std::span<std::byte> out) override {
    if (out.size() > bytes_.size() - position_)
      throw Error(ErrorCode::kCorruptData,
                  "stream ends at byte " + std::to_string(bytes_.size()) + ": needed " +
                      std::to_string(out.size()) + " bytes at byte " + std::to_string(position_));
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + position_, out.size());
    position_ += out.size();
  }

  /// Bytes not read yet.
  std::optional<std::uint64_t> remaining() const override { return bytes_.size() - position_; }
  /// Bytes read so far.
  std::size_t position() const noexcept { return position_; }

 private:
  std::span<const std::byte> bytes_;
  std::size_t position_ = 0;
};

}  // namespace vindex
