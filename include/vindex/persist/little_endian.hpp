// vindex/persist/little_endian.hpp — fixed-width little-endian encoding of snapshot fields.
//
// Every multi-byte field of a snapshot is little-endian whatever the machine; these helpers are the
// only place that knows. Floats travel as the bits of IEEE-754 binary32. Pure functions;
// thread-safe. Next: persist/payload.hpp.
#pragma once

#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace vindex::le {

/// Writes `value` as sizeof(U) little-endian bytes at `out`.
template <std::unsigned_integral U>
inline void store(std::byte* out, U value) noexcept {
  for (std::size_t i = 0; i < sizeof(U); ++i) out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xffu);
}

/// Reads sizeof(U) little-endian bytes at `in`.
template <std::unsigned_integral U>
inline U load(const std::byte* in) noexcept {
  U value = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) value |= static_cast<U>(std::to_integer<U>(in[i]) << (8 * i));
  return value;
}

/// Writes the floats of `values` as consecutive little-endian binary32 values at `out`.
inline void store_floats(std::byte* out, std::span<const float> values) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    if (!values.empty()) std::memcpy(out, values.data(), values.size_bytes());
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) store(out + 4 * i, std::bit_cast<std::uint32_t>(values[i]));
  }
}

/// Reads out.size() consecutive little-endian binary32 values at `in`.
inline void load_floats(const std::byte* in, std::span<float> out) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    if (!out.empty()) std::memcpy(out.data(), in, out.size_bytes());
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<float>(load<std::uint32_t>(in + 4 * i));
  }
}

}  // namespace vindex::le
