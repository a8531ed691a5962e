// vindex/persist/serializer.hpp — the two byte-stream interfaces a host maps onto its persistence.
//
// A snapshot is written through a `Serializer` (append bytes) and read through a `Deserializer`
// (read exactly n bytes, or fail). They are deliberately tiny so that a host can map them onto
// whatever moves bytes for it: a Redis module onto its RDB aux save/load of string buffers, an
// embedded store onto a file or a blob column. Ready-made adapters: persist/memory_stream.hpp,
// persist/file_stream.hpp, persist/chunked_stream.hpp.
//
// Thread-safety: one stream is used by one thread at a time. Errors: implementations throw
// `vindex::Error` — kIo when the underlying storage fails, kCorruptData when a read runs past the
// end of the data. Next: persist/memory_stream.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vindex/core/error.hpp"

namespace vindex {

/// Sink of snapshot bytes.
class Serializer {
 public:
  virtual ~Serializer() = default;

  /// Appends `bytes` to the stream. Throws Error(kIo) when the storage behind it fails.
  virtual void write(std::span<const std::byte> bytes) = 0;

  /// A hint, given once before the first write: the snapshot will have `total_bytes` bytes. An
  /// adapter may preallocate; ignoring it is fine.
  virtual void expect_bytes(std::uint64_t total_bytes) { (void)total_bytes; }
};

/// Source of snapshot bytes.
class Deserializer {
 public:
  virtual ~Deserializer() = default;

  /// Fills all of `out` with the next bytes of the stream. Throws Error(kCorruptData) when the
  /// stream ends first (a truncated snapshot) and Error(kIo) when the storage behind it fails.
  virtual void read(std::span<std::byte> out) = 0;

  /// Bytes left in the stream when the source knows (memory, file), nullopt when it cannot tell
  /// (a host handing over chunks one at a time). Loaders use it to reject impossible sizes early.
  virtual std::optional<std::uint64_t> remaining() const { return std::nullopt; }
};

}  // namespace vindex
