// vindex/core/error.hpp — the one error type of the library.
//
// Every function that can fail on caller input throws `vindex::Error`, whose code says what kind of
// mistake it was and whose message names the offending key, field, size or offset. Nothing throws
// from a destructor. Next: core/limits.hpp.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vindex {

/// What went wrong, as a stable code a host can map to its own replies.
enum class ErrorCode : std::uint8_t {
  kInvalidArgument = 1,  ///< a parameter outside its documented range (k, ef, dim, M, radius…)
  kSchemaMismatch = 2,   ///< a vector or blob that does not fit the index's schema
  kInvalidVector = 3,    ///< NaN/Inf, or a zero vector under COSINE
  kNotFound = 4,         ///< a key the index does not hold, where one was required
  kCorruptData = 5,      ///< a snapshot or stream that fails validation
  kIo = 6,               ///< the host's storage or stream failed
  kSourceFailure = 7,    ///< the host's KeyValueSource threw
  kCancelled = 8,        ///< work stopped because the caller asked it to
  kTimeout = 9,          ///< work stopped at the caller's deadline (see core/deadline.hpp)
  kLimit = 10,           ///< a configured bound (memory, work, nesting, size) would be exceeded
};

/// Short stable name of an error code ("invalid argument", …).
constexpr std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kSchemaMismatch: return "schema mismatch";
    case ErrorCode::kInvalidVector: return "invalid vector";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kCorruptData: return "corrupt data";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kSourceFailure: return "source failure";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kLimit: return "limit exceeded";
  }
  return "unknown error";
}

/// The exception every vindex function throws; `what()` is "vindex: <code>: <detail>".
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& detail)
      : std::runtime_error("vindex: " + std::string(to_string(code)) + ": " + detail), code_(code) {}

  /// The kind of failure.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

/// Renders a binary-safe key for an error message: printable bytes as-is, others as \xNN, cut at
/// 64 bytes so a huge key cannot flood a log.
inline std::string printable_key(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  std::size_t shown = 0;
  for (unsigned char c : key) {
    if (shown++ == 64) {
      out += "…";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "'";
}

}  // namespace vindex
