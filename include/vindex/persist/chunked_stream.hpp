// vindex/persist/chunked_stream.hpp — snapshot streams that move bytes in bounded-size chunks.
//
// For hosts that persist in pieces (a Redis module saving one RDB string per chunk, a KV store
// with a value-size limit): `ChunkedSerializer` hands every `chunk_bytes` bytes to a host callback,
// and `finish()` hands over the last, shorter chunk; `ChunkedDeserializer` asks a host callback for
// the next chunk whenever it needs more bytes. The snapshot format ends with its own END section,
// so the reader never needs to know the number of chunks; a host that stores a count may use
// `chunks_emitted()`.
//
// Not synchronised: one thread per stream. A host callback that throws is reported as Error(kIo)
// (a vindex::Error from it passes unchanged). Next: persist/crc32c.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vindex/core/error.hpp"
#include "vindex/persist/serializer.hpp"

namespace vindex {

/// A Serializer that emits fixed-size chunks through a host callback.
class ChunkedSerializer final : public Serializer {
 public:
  /// Host callback receiving one chunk; the span is valid only during the call.
  using Sink = std::function<void(std::span<const std::byte> chunk)>;

  /// Emits chunks of exactly `chunk_bytes` (>= 1) bytes, except the last. Throws kInvalidArgument
  /// for a zero chunk size.
  ChunkedSerializer(std::size_t chunk_bytes, Sink sink) : chunk_bytes_(chunk_bytes), sink_(std::move(sink)) {
    if (chunk_bytes_ == 0) throw Error(ErrorCode::kInvalidArgument, "chunk size must be >= 1 byte");
  }

  /// Buffers `bytes`, emitting every chunk that fills up.
  void write(std::span<const std::byte> bytes) override {
    while (!bytes.empty()) {
      if (pending_.empty() && bytes.size() >= chunk_bytes_) {  // a whole chunk straight from input
        emit(bytes.first(chunk_bytes_));
        bytes = bytes.subspan(chunk_bytes_);
        continue;
      }
      const std::size_t n = std::min(bytes.size(), chunk_bytes_ - pending_.size());
      pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      bytes = bytes.subspan(n);
      if (pending_.size() == chunk_bytes_) {
        emit(pending_);
        pending_.clear();
      }
    }
  }

  /// Emits the buffered remainder as a last, shorter chunk (nothing when no bytes are pending).
  void finish() {
    if (pending_.empty()) return;
    emit(pending_);
    pending_.clear();
  }

  /// Chunks handed to the sink so far.
  std::uint64_t chunks_emitted() const noexcept { return chunks_; }

 private:
  void emit(std::span<const std::byte> chunk) {
    try {
      sink_(chunk);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kIo, std::string("chunk sink failed at chunk ") + std::to_string(chunks_) + ": " + e.what());
    }
    ++chunks_;
  }

  std::size_t chunk_bytes_;
  Sink sink_;
  std::vector<std::byte> pending_;
  std::uint64_t chunks_ = 0;
};

/// A Deserializer that pulls chunks from a host callback as it needs bytes.
class ChunkedDeserializer final : public Deserializer {
 public:
  /// Host callback returning the next chunk (valid until the next call), or an empty span when
  /// there are no more chunks.
  using Source = std::function<std::span<const std::byte>()>;

  /// Reads from the chunks `source` returns.
  explicit ChunkedDeserializer(Source source) : source_(std::move(source)) {}

  /// Fills `out`, pulling chunks as needed. Throws kCorruptData when the chunks run out first.
  void read(std::span<std::byte> out) override {
    while (!out.empty()) {
      if (current_.empty()) {
        current_ = next_chunk();
        if (current_.empty())
          throw Error(ErrorCode::kCorruptData, "chunked stream ends after " + std::to_string(chunks_) +
                                                   " chunks (" + std::to_string(consumed_) + " bytes): " +
                                                   std::to_string(out.size()) + " more bytes needed");
      }
      const std::size_t n = std::min(out.size(), current_.size());
      std::memcpy(out.data(), current_.data(), n);
      current_ = current_.subspan(n);
      out = out.subspan(n);
      consumed_ += n;
    }
  }

 private:
  std::span<const std::byte> next_chunk() {
    try {
      auto chunk = source_();
      if (!chunk.empty()) ++chunks_;
      return chunk;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kIo, std::string("chunk source failed after chunk ") + std::to_string(chunks_) + ": " + e.what());
    }
  }

  Source source_;
  std::span<const std::byte> current_;
  std::uint64_t chunks_ = 0;
  std::uint64_t consumed_ = 0;
};

}  // namespace vindex
