// examples/redis_module/command_util.hpp — small helpers the cluster commands share: argument text,
// one-line error replies, RESP strings, number formatting exactly as the single-node replies do it,
// and a guard that turns any exception into an error reply. Main thread only.
// Next: cluster_search.hpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "module_api.hpp"
#include "vindex/core/error.hpp"

namespace vindex_redis::cmd {

inline std::string text(rm::String* s) {
  std::size_t length = 0;
  const char* data = rm::StringPtrLen(s, &length);
  return std::string(data, length);
}

inline std::vector<std::string> texts(rm::String** argv, int first, int argc) {
  std::vector<std::string> out;
  for (int i = first; i < argc; ++i) out.push_back(text(argv[i]));
  return out;
}

/// "-ERR <message>" on one line.
inline int reply_error(rm::Ctx* ctx, const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return rm::ReplyWithError(ctx, ("ERR " + line).c_str());
}

inline int reply_str(rm::Ctx* ctx, std::string_view s) { return rm::ReplyWithStringBuffer(ctx, s.data(), s.size()); }

/// Shortest text that reads back as the same float (how scores are written).
inline std::string format_float(float x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

inline std::string format_double(double x) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(x);
}

/// Runs a command body; any exception becomes an error reply.
template <class Body>
int guarded(rm::Ctx* ctx, Body&& body) {
  try {
    return body();
  } catch (const vindex::Error& e) {
    return reply_error(ctx, e.what());
  } catch (const std::bad_alloc&) {
    return reply_error(ctx, "vindex: out of memory");
  } catch (const std::exception& e) {
    return reply_error(ctx, std::string("vindex: ") + e.what());
  }
}

}  // namespace vindex_redis::cmd
